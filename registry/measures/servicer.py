"""gRPC servicer for MeasureService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import measures_pb2 as pb
from dpa_registry_api.v1 import measures_pb2_grpc as pb_grpc
from registry import auth, clock, paging, rpc, wire
from registry.errors import InvalidArgument, Violations
from registry.measures import core
from registry.measures.types import (
    EXPIRY_WARNING_DAYS,
    AppliesTo,
    Category,
    Content,
    Evidence,
    EvidenceStatus,
    Impact,
)

_ts = wire.timestamp_of


def to_proto(v: core.Version) -> pb.Measure:
    today = clock.now().date()
    c = v.content
    return pb.Measure(
        name=v.name,
        measure_id=v.measure_id,
        version=v.version,
        category=pb.MeasureCategory.Value(f"MEASURE_CATEGORY_{c.category.name}"),
        title=c.title,
        description=c.description,
        applies_to=pb.AppliesTo(
            platform=c.applies_to.platform,
            systems=list(c.applies_to.systems),
            subprocessors=list(c.applies_to.subprocessors),
        ),
        evidence=[
            pb.Evidence(
                title=e.title,
                issuer=e.issuer,
                scope=e.scope,
                reference=e.reference,
                valid_from=e.valid_from.isoformat(),
                valid_until=e.valid_until.isoformat(),
                status=pb.EvidenceStatus.Value(f"EVIDENCE_STATUS_{e.status(today).name}"),
                days_left=max(-(2**31), min(2**31 - 1, e.days_left(today))),
            )
            for e in c.evidence
        ],
        impact=pb.MeasureImpact.Value(f"MEASURE_IMPACT_{v.impact.name}"),
        change_reason=v.reason,
        notice_days=v.notice_days,
        effective_time=_ts(v.effective_time),
        retired=v.retired,
        notified_controllers=v.notified,
        change_time=_ts(v.change_time),
        changed_by=v.changed_by,
        expiry_warning_days=EXPIRY_WARNING_DAYS,
        etag=v.etag,
    )


def _content(msg: pb.Measure, prefix: str) -> Content:
    """The measure's content; every bad field named at once."""
    errors = Violations()
    category_name = wire.enum_name(
        f"{prefix}.category", msg.category, pb.MeasureCategory, "MEASURE_CATEGORY_"
    )
    if msg.category == pb.MEASURE_CATEGORY_UNSPECIFIED:
        errors.add(f"{prefix}.category", "is required")
    evidence = []
    for i, e in enumerate(msg.evidence):
        field = f"{prefix}.evidence[{i}]"
        evidence.append(
            Evidence(
                title=e.title,
                issuer=e.issuer,
                scope=e.scope,
                reference=e.reference,
                valid_from=core.parse_day(f"{field}.valid_from", e.valid_from, errors),
                valid_until=core.parse_day(f"{field}.valid_until", e.valid_until, errors),
            )
        )
    errors.raise_if_any()
    return Content(
        category=Category[category_name],
        title=msg.title,
        description=msg.description,
        applies_to=AppliesTo(
            platform=msg.applies_to.platform,
            systems=tuple(msg.applies_to.systems),
            subprocessors=tuple(msg.applies_to.subprocessors),
        ),
        evidence=tuple(evidence),
    )


def _impact(value: int) -> Impact:
    name = wire.enum_name("impact", value, pb.MeasureImpact, "MEASURE_IMPACT_")
    if value == pb.MEASURE_IMPACT_UNSPECIFIED:
        raise InvalidArgument.one("impact", "is required")
    return Impact[name]


class MeasureService(pb_grpc.MeasureServiceServicer):
    def CreateMeasure(
        self, request: pb.CreateMeasureRequest, context: grpc.ServicerContext
    ) -> pb.Measure:
        content = _content(request.measure, "measure")
        return rpc.mutate(
            context,
            auth.current_caller(),
            "CreateMeasure",
            request.request_id,
            request,
            pb.Measure,
            lambda m: to_proto(core.create(m, request.measure.measure_id, content)),
        )

    def UpdateMeasure(
        self, request: pb.UpdateMeasureRequest, context: grpc.ServicerContext
    ) -> pb.Measure:
        measure_id, version = core.parse_name(request.measure.name, "measure.name")
        if version is not None:
            raise InvalidArgument.one("measure.name", "must name the measure, not a version")
        content = _content(request.measure, "measure")
        impact = _impact(request.impact)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "UpdateMeasure",
            request.request_id,
            request,
            pb.Measure,
            lambda m: to_proto(
                core.update(
                    m,
                    measure_id,
                    request.measure.etag,
                    content,
                    impact,
                    request.reason,
                    request.notice_days,
                )
            ),
        )

    def RetireMeasure(
        self, request: pb.RetireMeasureRequest, context: grpc.ServicerContext
    ) -> pb.Measure:
        measure_id, version = core.parse_name(request.name)
        if version is not None:
            raise InvalidArgument.one("name", "must name the measure, not a version")
        return rpc.mutate(
            context,
            auth.current_caller(),
            "RetireMeasure",
            request.request_id,
            request,
            pb.Measure,
            lambda m: to_proto(
                core.retire(m, measure_id, request.etag, request.reason, request.notice_days)
            ),
        )

    def GetMeasure(
        self, request: pb.GetMeasureRequest, context: grpc.ServicerContext
    ) -> pb.Measure:
        measure_id, version = core.parse_name(request.name)
        return to_proto(core.get(measure_id, version))

    def ListMeasures(
        self, request: pb.ListMeasuresRequest, context: grpc.ServicerContext
    ) -> pb.ListMeasuresResponse:
        scope = f"measures:{int(request.include_retired)}:{int(request.expiring_only)}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = core.list_page(page, request.include_retired)
        shown = items
        if request.expiring_only:
            today = clock.now().date()
            late = {EvidenceStatus.EXPIRING, EvidenceStatus.EXPIRED}
            shown = [v for v in items if any(e.status(today) in late for e in v.content.evidence)]
        return pb.ListMeasuresResponse(
            measures=[to_proto(v) for v in shown],
            next_page_token=page.next_token([v.measure_id for v in items], scope),
        )

    def ListMeasureVersions(
        self, request: pb.ListMeasureVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListMeasureVersionsResponse:
        measure_id, version = core.parse_name(request.name)
        if version is not None:
            raise InvalidArgument.one("name", "must name the measure, not a version")
        return pb.ListMeasureVersionsResponse(
            versions=[to_proto(v) for v in core.versions(measure_id)]
        )
