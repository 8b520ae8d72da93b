"""Personal data breaches (GDPR Art. 33): staff report incidents and add
phases; controllers watch, read and acknowledge their breach notices."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from dpa_client._base import BaseClient, new_request_id
from dpa_client._notifications import NotificationsMixin, NotificationWatch
from dpa_client.types._convert import wire
from dpa_client.types.breaches import Breach, BreachNotice, BreachObligation
from dpa_client.types.notifications import Notification, NotificationKind
from dpa_registry_api.v1 import breaches_pb2 as pb
from dpa_registry_api.v1 import breaches_pb2_grpc as pb_grpc


@dataclass(frozen=True)
class BreachDetails:
    """What staff know at a phase (Art. 33(3)); in later phases, only what is new."""

    types: Sequence[str] = ()
    """"CONFIDENTIALITY", "INTEGRITY", "AVAILABILITY"."""
    description: str = ""
    data_categories: Sequence[str] = ()
    data_subject_categories: Sequence[str] = ()
    approx_data_subjects: int = 0
    approx_records: int = 0
    subprocessors: Sequence[str] = ()
    systems: Sequence[str] = ()
    likely_consequences: str = ""
    measures: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""

    def to_proto(self) -> pb.BreachInfo:
        return pb.BreachInfo(
            types=[wire(pb.BreachType, t) for t in self.types],
            description=self.description,
            data_categories=list(self.data_categories),
            data_subject_categories=list(self.data_subject_categories),
            approx_data_subjects=self.approx_data_subjects,
            approx_records=self.approx_records,
            subprocessors=list(self.subprocessors),
            systems=list(self.systems),
            likely_consequences=self.likely_consequences,
            measures=self.measures,
            contact=pb.ContactPoint(
                name=self.contact_name, email=self.contact_email, phone=self.contact_phone
            ),
        )


def _changes(items: Iterable[tuple[str, str]]) -> list[pb.AffectedChange]:
    return [pb.AffectedChange(controller_id=cid, reason=reason) for cid, reason in items]


class BreachNoticeWatch(Iterator[Notification]):
    """The caller's breach notices (inbox notifications of kind BREACH), live.

    Wraps ``NotificationWatch``: reconnects and resumes by itself; ``cursor``
    is the last notification id seen (of any kind); ``cancel()`` ends it.
    """

    def __init__(self, watch: NotificationWatch) -> None:
        self._watch = watch

    @property
    def cursor(self) -> int:
        return self._watch.cursor

    def cancel(self) -> None:
        self._watch.cancel()

    def __iter__(self) -> BreachNoticeWatch:
        return self

    def __next__(self) -> Notification:
        while True:
            n = next(self._watch)
            if n.kind is NotificationKind.BREACH:
                return n


class BreachesMixin(NotificationsMixin, BaseClient):
    @property
    def _breaches(self) -> pb_grpc.BreachServiceStub:
        return pb_grpc.BreachServiceStub(self.channel)

    # -- staff ---------------------------------------------------------------

    def report_breach(
        self,
        details: BreachDetails,
        *,
        awareness_time: datetime,
        detection_time: datetime,
        breach_id: str = "",
        add: Iterable[tuple[str, str]] = (),
        remove: Iterable[tuple[str, str]] = (),
        hold_notices: bool = False,
        request_id: str | None = None,
    ) -> Breach:
        """Staff: records a breach; every affected controller is notified at once
        (unless ``hold_notices``). ``add``/``remove``: (controller id, reason)."""
        request = pb.ReportBreachRequest(
            breach_id=breach_id,
            info=details.to_proto(),
            add=_changes(add),
            remove=_changes(remove),
            hold_notices=hold_notices,
            request_id=request_id or new_request_id(),
        )
        request.awareness_time.FromDatetime(awareness_time)
        request.detection_time.FromDatetime(detection_time)
        return Breach.from_proto(self._call(self._breaches.ReportBreach, request, idempotent=True))

    def add_breach_phase(
        self,
        breach_id: str,
        details: BreachDetails | None = None,
        *,
        status: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> Breach:
        """Staff: adds information (Art. 33(4)) and/or moves the status
        ("OPEN", "CONTAINED", "CLOSED"); notified controllers receive it."""
        request = pb.AddBreachPhaseRequest(
            name=f"breaches/{breach_id}",
            info=(details or BreachDetails()).to_proto(),
            status=wire(pb.BreachStatus, status or "UNSPECIFIED"),
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Breach.from_proto(
            self._call(self._breaches.AddBreachPhase, request, idempotent=True)
        )

    def adjust_affected_controllers(
        self,
        breach_id: str,
        *,
        add: Iterable[tuple[str, str]] = (),
        remove: Iterable[tuple[str, str]] = (),
        etag: str = "",
        request_id: str | None = None,
    ) -> Breach:
        """Staff: adds or removes controllers, each with a reason (kept)."""
        request = pb.AdjustAffectedControllersRequest(
            name=f"breaches/{breach_id}",
            add=_changes(add),
            remove=_changes(remove),
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Breach.from_proto(
            self._call(self._breaches.AdjustAffectedControllers, request, idempotent=True)
        )

    def send_breach_notices(self, breach_id: str, *, request_id: str | None = None) -> Breach:
        """Staff: sends the notices held back at report time."""
        request = pb.SendBreachNoticesRequest(
            name=f"breaches/{breach_id}", request_id=request_id or new_request_id()
        )
        return Breach.from_proto(
            self._call(self._breaches.SendBreachNotices, request, idempotent=True)
        )

    def get_breach(self, breach_id: str) -> Breach:
        return Breach.from_proto(
            self._call(
                self._breaches.GetBreach,
                pb.GetBreachRequest(name=f"breaches/{breach_id}"),
                idempotent=True,
            )
        )

    def list_breaches(self, *, page_size: int = 100) -> Iterator[Breach]:
        token = ""
        while True:
            page: pb.ListBreachesResponse = self._call(
                self._breaches.ListBreaches,
                pb.ListBreachesRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (Breach.from_proto(v) for v in page.breaches)
            token = page.next_page_token
            if not token:
                return

    def breach_obligations(
        self, breach_id: str, *, overdue_only: bool = False, page_size: int = 1000
    ) -> Iterator[BreachObligation]:
        """Staff: every obligation with its state, deadline and overdue time."""
        token = ""
        while True:
            page: pb.ListBreachObligationsResponse = self._call(
                self._breaches.ListBreachObligations,
                pb.ListBreachObligationsRequest(
                    parent=f"breaches/{breach_id}",
                    overdue_only=overdue_only,
                    page_size=page_size,
                    page_token=token,
                ),
                idempotent=True,
            )
            yield from (BreachObligation.from_proto(v) for v in page.obligations)
            token = page.next_page_token
            if not token:
                return

    # -- controllers (staff may read any controller's) --------------------------

    def watch_breach_notices(
        self, *, after: int = 0, stream_timeout: float | None = None, max_backoff: float = 5.0
    ) -> BreachNoticeWatch:
        """Controller: live breach notices; each names its breach in
        ``payload["breach"]``; ``get_breach_notice`` gives the full notice."""
        return BreachNoticeWatch(
            self.watch_notifications(
                after=after, stream_timeout=stream_timeout, max_backoff=max_backoff
            )
        )

    def list_breach_notices(
        self, controller_id: str = "", *, page_size: int = 100
    ) -> Iterator[BreachNotice]:
        token = ""
        parent = f"controllers/{controller_id}" if controller_id else ""
        while True:
            page: pb.ListBreachNoticesResponse = self._call(
                self._breaches.ListBreachNotices,
                pb.ListBreachNoticesRequest(parent=parent, page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (BreachNotice.from_proto(v) for v in page.notices)
            token = page.next_page_token
            if not token:
                return

    def get_breach_notice(self, breach_id: str, controller_id: str = "-") -> BreachNotice:
        """A breach notice; ``breach_id`` may also be "breaches/{id}"."""
        bid = breach_id.removeprefix("breaches/")
        request = pb.GetBreachNoticeRequest(name=f"controllers/{controller_id}/breachNotices/{bid}")
        return BreachNotice.from_proto(
            self._call(self._breaches.GetBreachNotice, request, idempotent=True)
        )

    def acknowledge_breach_notice(
        self, breach_id: str, *, request_id: str | None = None
    ) -> BreachNotice:
        """Controller: confirms it received the notice; marks its inbox items read."""
        bid = breach_id.removeprefix("breaches/")
        request = pb.AcknowledgeBreachNoticeRequest(
            name=f"controllers/-/breachNotices/{bid}", request_id=request_id or new_request_id()
        )
        return BreachNotice.from_proto(
            self._call(self._breaches.AcknowledgeBreachNotice, request, idempotent=True)
        )
