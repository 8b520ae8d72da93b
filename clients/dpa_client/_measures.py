"""Technical and organisational measures (Art. 28(3)(c), Art. 32): versioned
records staff maintain; everyone may read them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dpa_client._base import BaseClient, new_request_id
from dpa_client.types._convert import wire
from dpa_client.types.measures import Evidence, EvidenceStatus, Measure
from dpa_registry_api.v1 import measures_pb2 as pb
from dpa_registry_api.v1 import measures_pb2_grpc as pb_grpc


def evidence(
    title: str, issuer: str, scope: str, reference: str, valid_from: str, valid_until: str
) -> Evidence:
    """An evidence reference (dates ``YYYY-MM-DD``) for ``create_measure`` and
    ``update_measure``; the registry fills in its status."""
    return Evidence(
        title=title,
        issuer=issuer,
        scope=scope,
        reference=reference,
        valid_from=valid_from,
        valid_until=valid_until,
        status=EvidenceStatus.UNSPECIFIED,
        days_left=0,
    )


def _measure(
    *,
    measure_id: str = "",
    name: str = "",
    category: str,
    title: str,
    description: str,
    platform: bool,
    systems: Sequence[str],
    subprocessors: Sequence[str],
    evidence: Sequence[Evidence],
    etag: str = "",
) -> pb.Measure:
    return pb.Measure(
        measure_id=measure_id,
        name=name,
        category=wire(pb.MeasureCategory, category),
        title=title,
        description=description,
        applies_to=pb.AppliesTo(
            platform=platform, systems=list(systems), subprocessors=list(subprocessors)
        ),
        evidence=[e.to_proto() for e in evidence],
        etag=etag,
    )


class MeasuresMixin(BaseClient):
    @property
    def _measures(self) -> pb_grpc.MeasureServiceStub:
        return pb_grpc.MeasureServiceStub(self.channel)

    def create_measure(
        self,
        measure_id: str,
        *,
        category: str,
        title: str,
        description: str,
        platform: bool = True,
        systems: Sequence[str] = (),
        subprocessors: Sequence[str] = (),
        evidence: Sequence[Evidence] = (),
        request_id: str | None = None,
    ) -> Measure:
        """Staff: records a measure. ``category`` is a heading
        without its prefix (``PSEUDONYMISATION_ENCRYPTION``, ``ACCESS_CONTROL``, ...)."""
        request = pb.CreateMeasureRequest(
            measure=_measure(
                measure_id=measure_id,
                category=category,
                title=title,
                description=description,
                platform=platform,
                systems=systems,
                subprocessors=subprocessors,
                evidence=evidence,
            ),
            request_id=request_id or new_request_id(),
        )
        return Measure.from_proto(
            self._call(self._measures.CreateMeasure, request, idempotent=True)
        )

    def update_measure(
        self,
        measure_id: str,
        *,
        impact: str,
        reason: str,
        category: str,
        title: str,
        description: str,
        platform: bool = True,
        systems: Sequence[str] = (),
        subprocessors: Sequence[str] = (),
        evidence: Sequence[Evidence] = (),
        notice_days: int = 0,
        etag: str = "",
        request_id: str | None = None,
    ) -> Measure:
        """Staff: a new version. ``impact`` is EQUIVALENT, STRENGTHENED or LOWERED;
        a lowering notifies every controller with an ACTIVE DPA."""
        request = pb.UpdateMeasureRequest(
            measure=_measure(
                name=f"measures/{measure_id}",
                category=category,
                title=title,
                description=description,
                platform=platform,
                systems=systems,
                subprocessors=subprocessors,
                evidence=evidence,
                etag=etag,
            ),
            impact=wire(pb.MeasureImpact, impact),
            reason=reason,
            notice_days=notice_days,
            request_id=request_id or new_request_id(),
        )
        return Measure.from_proto(
            self._call(self._measures.UpdateMeasure, request, idempotent=True)
        )

    def retire_measure(
        self,
        measure_id: str,
        *,
        reason: str,
        notice_days: int = 0,
        etag: str = "",
        request_id: str | None = None,
    ) -> Measure:
        """Staff: removes a measure; every controller with an ACTIVE DPA is told."""
        request = pb.RetireMeasureRequest(
            name=f"measures/{measure_id}",
            reason=reason,
            notice_days=notice_days,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Measure.from_proto(
            self._call(self._measures.RetireMeasure, request, idempotent=True)
        )

    def get_measure(self, measure_id: str, version: int | None = None) -> Measure:
        name = f"measures/{measure_id}" + (f"/versions/{version}" if version else "")
        return Measure.from_proto(
            self._call(self._measures.GetMeasure, pb.GetMeasureRequest(name=name), idempotent=True)
        )

    def list_measures(
        self, *, include_retired: bool = False, expiring_only: bool = False, page_size: int = 100
    ) -> Iterator[Measure]:
        token = ""
        while True:
            page: pb.ListMeasuresResponse = self._call(
                self._measures.ListMeasures,
                pb.ListMeasuresRequest(
                    page_size=page_size,
                    page_token=token,
                    include_retired=include_retired,
                    expiring_only=expiring_only,
                ),
                idempotent=True,
            )
            yield from (Measure.from_proto(v) for v in page.measures)
            token = page.next_page_token
            if not token:
                return

    def list_measure_versions(self, measure_id: str) -> list[Measure]:
        response: pb.ListMeasureVersionsResponse = self._call(
            self._measures.ListMeasureVersions,
            pb.ListMeasureVersionsRequest(name=f"measures/{measure_id}"),
            idempotent=True,
        )
        return [Measure.from_proto(v) for v in response.versions]
