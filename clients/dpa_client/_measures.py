"""Technical and organisational measures (Art. 28(3)(c), Art. 32): versioned
records staff maintain; everyone may read them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dpa_client._base import BaseClient, new_request_id
from dpa_registry_api.v1 import measures_pb2 as pb
from dpa_registry_api.v1 import measures_pb2_grpc as pb_grpc

Measure = pb.Measure


def evidence(
    title: str, issuer: str, scope: str, reference: str, valid_from: str, valid_until: str
) -> pb.Evidence:
    """An evidence reference (dates ``YYYY-MM-DD``)."""
    return pb.Evidence(
        title=title,
        issuer=issuer,
        scope=scope,
        reference=reference,
        valid_from=valid_from,
        valid_until=valid_until,
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
    evidence: Sequence[pb.Evidence],
    etag: str = "",
) -> pb.Measure:
    return pb.Measure(
        measure_id=measure_id,
        name=name,
        category=pb.MeasureCategory.Value(f"MEASURE_CATEGORY_{category}"),
        title=title,
        description=description,
        applies_to=pb.AppliesTo(
            platform=platform, systems=list(systems), subprocessors=list(subprocessors)
        ),
        evidence=list(evidence),
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
        evidence: Sequence[pb.Evidence] = (),
        request_id: str | None = None,
    ) -> pb.Measure:
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
        result: pb.Measure = self._call(self._measures.CreateMeasure, request, idempotent=True)
        return result

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
        evidence: Sequence[pb.Evidence] = (),
        notice_days: int = 0,
        etag: str = "",
        request_id: str | None = None,
    ) -> pb.Measure:
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
            impact=pb.MeasureImpact.Value(f"MEASURE_IMPACT_{impact}"),
            reason=reason,
            notice_days=notice_days,
            request_id=request_id or new_request_id(),
        )
        result: pb.Measure = self._call(self._measures.UpdateMeasure, request, idempotent=True)
        return result

    def retire_measure(
        self,
        measure_id: str,
        *,
        reason: str,
        notice_days: int = 0,
        etag: str = "",
        request_id: str | None = None,
    ) -> pb.Measure:
        """Staff: removes a measure; every controller with an ACTIVE DPA is told."""
        request = pb.RetireMeasureRequest(
            name=f"measures/{measure_id}",
            reason=reason,
            notice_days=notice_days,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        result: pb.Measure = self._call(self._measures.RetireMeasure, request, idempotent=True)
        return result

    def get_measure(self, measure_id: str, version: int | None = None) -> pb.Measure:
        name = f"measures/{measure_id}" + (f"/versions/{version}" if version else "")
        result: pb.Measure = self._call(
            self._measures.GetMeasure, pb.GetMeasureRequest(name=name), idempotent=True
        )
        return result

    def list_measures(
        self, *, include_retired: bool = False, expiring_only: bool = False, page_size: int = 100
    ) -> Iterator[pb.Measure]:
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
            yield from page.measures
            token = page.next_page_token
            if not token:
                return

    def list_measure_versions(self, measure_id: str) -> list[pb.Measure]:
        response: pb.ListMeasureVersionsResponse = self._call(
            self._measures.ListMeasureVersions,
            pb.ListMeasureVersionsRequest(name=f"measures/{measure_id}"),
            idempotent=True,
        )
        return list(response.versions)
