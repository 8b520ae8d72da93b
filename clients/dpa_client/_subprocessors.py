"""Sub-processors (GDPR Art. 28(2), 28(4)): the registry (staff), change
notices, controller decisions, and the controller's own sub-processor list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

from google.protobuf import field_mask_pb2, timestamp_pb2

from dpa_client._base import BaseClient, new_request_id
from dpa_client.types.subprocessors import (
    ChangeNotice,
    ControllerChange,
    NoticePeriodConflict,
    Subprocessor,
    SubprocessorList,
    SubprocessorListEntry,
    Withdrawal,
)
from dpa_registry_api.v1 import subprocessors_pb2 as pb
from dpa_registry_api.v1 import subprocessors_pb2_grpc as pb_grpc

_KINDS = {
    "ADDITION": pb.CHANGE_KIND_ADDITION,
    "REPLACEMENT": pb.CHANGE_KIND_REPLACEMENT,
    "REMOVAL": pb.CHANGE_KIND_REMOVAL,
}
_RESOLUTIONS = {
    "ALTERNATIVE_ARRANGEMENT": pb.OBJECTION_RESOLUTION_ALTERNATIVE_ARRANGEMENT,
    "TERMINATION": pb.OBJECTION_RESOLUTION_TERMINATION,
}


def _name(subprocessor_id: str) -> str:
    return subprocessor_id if "/" in subprocessor_id else f"subprocessors/{subprocessor_id}"


def _notice_name(notice: str) -> str:
    return notice if "/" in notice else f"changeNotices/{notice}"


def _date(value: date | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


class SubprocessorsMixin(BaseClient):
    @property
    def _subprocessors(self) -> pb_grpc.SubprocessorServiceStub:
        return pb_grpc.SubprocessorServiceStub(self.channel)

    def create_subprocessor(
        self,
        subprocessor_id: str,
        *,
        display_name: str,
        legal_name: str,
        address: str,
        country: str,
        contact_email: str,
        service_category: str,
        locations: Sequence[str],
        data_categories: Sequence[str],
        purpose: str,
        agreement_signed: date | str | None = None,
        agreement_reference: str = "",
        agreement_digest: str = "",
        flow_down_confirmed: bool = False,
        certifications: Sequence[str] = (),
        dpf_status: str = "",
        dpf_checked: date | str | None = None,
        named_controllers_only: bool = False,
        request_id: str | None = None,
    ) -> Subprocessor:
        """Staff: registers a sub-processor (status PROPOSED).

        ``service_category`` is e.g. "HOSTING" or "AI_MODEL_PROVIDER";
        ``dpf_status`` "CERTIFIED" / "NOT_CERTIFIED" for US entities.
        """
        msg = pb.Subprocessor(
            subprocessor_id=subprocessor_id,
            display_name=display_name,
            legal_name=legal_name,
            address=address,
            country=country,
            contact_email=contact_email,
            service_category=pb.ServiceCategory.Value(f"SERVICE_CATEGORY_{service_category}"),
            locations=list(locations),
            data_categories=list(data_categories),
            purpose=purpose,
            agreement=pb.SubprocessorAgreement(
                signed_date=_date(agreement_signed),
                reference=agreement_reference,
                document_digest=agreement_digest,
                flow_down_confirmed=flow_down_confirmed,
            ),
            certifications=list(certifications),
            dpf=pb.DpfCertification(
                status=pb.DpfStatus.Value(f"DPF_STATUS_{dpf_status}")
                if dpf_status
                else pb.DPF_STATUS_UNSPECIFIED,
                checked_date=_date(dpf_checked),
            ),
            scope=pb.ENGAGEMENT_SCOPE_NAMED_CONTROLLERS
            if named_controllers_only
            else pb.ENGAGEMENT_SCOPE_PLATFORM,
        )
        request = pb.CreateSubprocessorRequest(
            subprocessor=msg, request_id=request_id or new_request_id()
        )
        return Subprocessor.from_proto(
            self._call(self._subprocessors.CreateSubprocessor, request, idempotent=True)
        )

    def get_subprocessor(self, subprocessor_id: str) -> Subprocessor:
        return Subprocessor.from_proto(
            self._call(
                self._subprocessors.GetSubprocessor,
                pb.GetSubprocessorRequest(name=_name(subprocessor_id)),
                idempotent=True,
            )
        )

    def list_subprocessors(self, *, page_size: int = 100) -> Iterator[Subprocessor]:
        token = ""
        while True:
            page: pb.ListSubprocessorsResponse = self._call(
                self._subprocessors.ListSubprocessors,
                pb.ListSubprocessorsRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (Subprocessor.from_proto(v) for v in page.subprocessors)
            token = page.next_page_token
            if not token:
                return

    def update_subprocessor(
        self,
        subprocessor: Subprocessor,
        *,
        fields: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Subprocessor:
        """Staff: sends back an edited copy (``dataclasses.replace(sp, purpose=...)``);
        ``fields`` limits what changes.

        The copy's etag is checked: a stale one raises Conflict.
        """
        request = pb.UpdateSubprocessorRequest(
            subprocessor=subprocessor.to_proto(),
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
            request_id=request_id or new_request_id(),
        )
        return Subprocessor.from_proto(
            self._call(self._subprocessors.UpdateSubprocessor, request, idempotent=True)
        )

    def notice_period_conflicts(
        self,
        kind: str,
        subprocessor_id: str,
        *,
        effective: datetime,
        replaces: str = "",
        controller_ids: Sequence[str] = (),
        page_size: int = 500,
    ) -> Iterator[NoticePeriodConflict]:
        """Staff: every controller whose advance-notice period the change would
        violate (the full list behind a refused proposal); changes nothing."""
        when = timestamp_pb2.Timestamp()
        when.FromDatetime(effective if effective.tzinfo else effective.replace(tzinfo=UTC))
        token = ""
        while True:
            page: pb.ListNoticePeriodConflictsResponse = self._call(
                self._subprocessors.ListNoticePeriodConflicts,
                pb.ListNoticePeriodConflictsRequest(
                    change_notice=pb.ChangeNotice(
                        kind=_KINDS[kind],
                        subprocessor=_name(subprocessor_id),
                        replaced_subprocessor=_name(replaces) if replaces else "",
                        effective_time=when,
                    ),
                    controller_ids=list(controller_ids),
                    page_size=page_size,
                    page_token=token,
                ),
                idempotent=True,
            )
            yield from (NoticePeriodConflict.from_proto(v) for v in page.conflicts)
            token = page.next_page_token
            if not token:
                return

    def propose_subprocessor_change(
        self,
        kind: str,
        subprocessor_id: str,
        *,
        effective: datetime,
        replaces: str = "",
        reason: str = "",
        controller_ids: Sequence[str] = (),
        request_id: str | None = None,
    ) -> ChangeNotice:
        """Staff: ``kind`` is "ADDITION", "REPLACEMENT" or "REMOVAL".

        Every affected controller is notified. An effective time too early for
        some controller's advance-notice period raises InvalidArgument whose
        violations name those controllers.
        """
        when = timestamp_pb2.Timestamp()
        when.FromDatetime(effective if effective.tzinfo else effective.replace(tzinfo=UTC))
        request = pb.ProposeSubprocessorChangeRequest(
            change_notice=pb.ChangeNotice(
                kind=_KINDS[kind],
                subprocessor=_name(subprocessor_id),
                replaced_subprocessor=_name(replaces) if replaces else "",
                effective_time=when,
                reason=reason,
            ),
            controller_ids=list(controller_ids),
            request_id=request_id or new_request_id(),
        )
        return ChangeNotice.from_proto(
            self._call(self._subprocessors.ProposeSubprocessorChange, request, idempotent=True)
        )

    def get_change_notice(self, notice: str) -> ChangeNotice:
        return ChangeNotice.from_proto(
            self._call(
                self._subprocessors.GetChangeNotice,
                pb.GetChangeNoticeRequest(name=_notice_name(notice)),
                idempotent=True,
            )
        )

    def list_change_notices(self, *, page_size: int = 100) -> Iterator[ChangeNotice]:
        token = ""
        while True:
            page: pb.ListChangeNoticesResponse = self._call(
                self._subprocessors.ListChangeNotices,
                pb.ListChangeNoticesRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (ChangeNotice.from_proto(v) for v in page.change_notices)
            token = page.next_page_token
            if not token:
                return

    def approve_subprocessor_change(
        self, notice: str, *, request_id: str | None = None
    ) -> ControllerChange:
        """Controller: authorises the change (needed under SPECIFIC authorisation)."""
        request = pb.ApproveSubprocessorChangeRequest(
            change_notice=_notice_name(notice), request_id=request_id or new_request_id()
        )
        return ControllerChange.from_proto(
            self._call(self._subprocessors.ApproveSubprocessorChange, request, idempotent=True)
        )

    def object_to_subprocessor_change(
        self, notice: str, *, reason: str, request_id: str | None = None
    ) -> ControllerChange:
        """Controller: objects before its objection window closes."""
        request = pb.ObjectSubprocessorChangeRequest(
            change_notice=_notice_name(notice),
            reason=reason,
            request_id=request_id or new_request_id(),
        )
        return ControllerChange.from_proto(
            self._call(self._subprocessors.ObjectSubprocessorChange, request, idempotent=True)
        )

    def list_objections(
        self, *, unresolved_only: bool = False, page_size: int = 100
    ) -> Iterator[ControllerChange]:
        """Staff: the objection queue."""
        token = ""
        while True:
            page: pb.ListObjectionsResponse = self._call(
                self._subprocessors.ListObjections,
                pb.ListObjectionsRequest(
                    page_size=page_size, page_token=token, unresolved_only=unresolved_only
                ),
                idempotent=True,
            )
            yield from (ControllerChange.from_proto(v) for v in page.objections)
            token = page.next_page_token
            if not token:
                return

    def withdraw_subprocessor_authorization(
        self,
        controller_id: str,
        subprocessor_id: str,
        *,
        reason: str,
        request_id: str | None = None,
    ) -> SubprocessorListEntry:
        """Controller: withdraws an authorisation it gave (Art. 28(2)); from
        then on none of its data goes to the sub-processor."""
        request = pb.WithdrawSubprocessorAuthorizationRequest(
            parent=f"controllers/{controller_id}",
            subprocessor=f"subprocessors/{subprocessor_id.removeprefix('subprocessors/')}",
            reason=reason,
            request_id=request_id or new_request_id(),
        )
        return SubprocessorListEntry.from_proto(
            self._call(
                self._subprocessors.WithdrawSubprocessorAuthorization, request, idempotent=True
            )
        )

    def list_withdrawals(self, *, page_size: int = 100) -> Iterator[Withdrawal]:
        """Staff: withdrawn authorisations, newest first."""
        token = ""
        while True:
            page: pb.ListWithdrawalsResponse = self._call(
                self._subprocessors.ListWithdrawals,
                pb.ListWithdrawalsRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (Withdrawal.from_proto(v) for v in page.withdrawals)
            token = page.next_page_token
            if not token:
                return

    def resolve_objection(
        self,
        notice: str,
        controller_id: str,
        *,
        resolution: str,
        note: str = "",
        request_id: str | None = None,
    ) -> ControllerChange:
        """Staff: ``resolution`` is "ALTERNATIVE_ARRANGEMENT" or "TERMINATION"."""
        request = pb.ResolveObjectionRequest(
            change_notice=_notice_name(notice),
            controller_id=controller_id,
            resolution=_RESOLUTIONS[resolution],
            note=note,
            request_id=request_id or new_request_id(),
        )
        return ControllerChange.from_proto(
            self._call(self._subprocessors.ResolveObjection, request, idempotent=True)
        )

    def get_subprocessor_list(
        self, controller_id: str, *, page_size: int = 500
    ) -> SubprocessorList:
        """The controller's current sub-processor annex with pending changes:
        every page, gathered into one message."""
        result = pb.SubprocessorList()
        token = ""
        while True:
            page: pb.SubprocessorList = self._call(
                self._subprocessors.GetSubprocessorList,
                pb.GetSubprocessorListRequest(
                    parent=f"controllers/{controller_id}", page_size=page_size, page_token=token
                ),
                idempotent=True,
            )
            if not token:
                result.controller = page.controller
                result.pending_changes.extend(page.pending_changes)
            result.entries.extend(page.entries)
            token = page.next_page_token
            if not token:
                return SubprocessorList.from_proto(result)
