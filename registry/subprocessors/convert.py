"""Translation between the sub-processor domain's values and its protobuf
messages: the edge, and nothing else converts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from dpa_registry_api.v1 import subprocessors_pb2 as pb
from registry import auth, ledger, names, rpc, wire
from registry.errors import Violations
from registry.subprocessors import annex, core, notices, values
from registry.subprocessors.types import (
    ChangeKind,
    DpfStatus,
    Scope,
    ServiceCategory,
)

M = TypeVar("M", bound=Message)


ts = wire.timestamp_of


def date_of(field: str, value: str, errors: Violations) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.add(field, f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)")
        return None


def to_proto(s: values.Subprocessor) -> pb.Subprocessor:
    d = s.details
    a = d.agreement
    return pb.Subprocessor(
        name=s.name,
        subprocessor_id=s.subprocessor_id,
        display_name=d.display_name,
        legal_name=d.legal_name,
        address=d.address,
        country=d.country,
        contact_email=d.contact_email,
        service_category=pb.ServiceCategory.Value(f"SERVICE_CATEGORY_{d.service_category.value}")
        if d.service_category
        else pb.SERVICE_CATEGORY_UNSPECIFIED,
        locations=list(d.locations),
        data_categories=list(d.data_categories),
        purpose=d.purpose,
        agreement=pb.SubprocessorAgreement(
            signed_date=a.signed_date.isoformat() if a.signed_date else "",
            reference=a.reference,
            document_digest=a.document_digest,
            flow_down_confirmed=a.flow_down_confirmed,
        ),
        certifications=list(d.certifications),
        dpf=pb.DpfCertification(
            status=pb.DpfStatus.Value(
                f"DPF_STATUS_{(d.dpf_status or DpfStatus.NOT_APPLICABLE).value}"
            ),
            checked_date=d.dpf_checked_date.isoformat() if d.dpf_checked_date else "",
        ),
        status=pb.SubprocessorStatus.Value(f"SUBPROCESSOR_STATUS_{s.status.value}"),
        scope=pb.EngagementScope.Value(f"ENGAGEMENT_SCOPE_{d.scope.value}"),
        create_time=ts(s.create_time),
        update_time=ts(s.update_time),
        etag=s.etag,
    )


def details_from(msg: pb.Subprocessor) -> values.Details:
    errors = Violations()
    category_name = wire.enum_name(
        "subprocessor.service_category",
        msg.service_category,
        pb.ServiceCategory,
        "SERVICE_CATEGORY_",
    )
    category = None if category_name == "UNSPECIFIED" else ServiceCategory(category_name)
    dpf_name = wire.enum_name(
        "subprocessor.dpf.status", msg.dpf.status, pb.DpfStatus, "DPF_STATUS_"
    )
    scope_name = wire.enum_name(
        "subprocessor.scope", msg.scope, pb.EngagementScope, "ENGAGEMENT_SCOPE_"
    )
    details = values.Details(
        display_name=msg.display_name,
        legal_name=msg.legal_name,
        address=msg.address,
        country=msg.country,
        contact_email=msg.contact_email,
        service_category=category,
        locations=tuple(msg.locations),
        data_categories=tuple(msg.data_categories),
        purpose=msg.purpose,
        agreement=values.Agreement(
            signed_date=date_of(
                "subprocessor.agreement.signed_date", msg.agreement.signed_date, errors
            ),
            reference=msg.agreement.reference,
            document_digest=msg.agreement.document_digest,
            flow_down_confirmed=msg.agreement.flow_down_confirmed,
        ),
        certifications=tuple(msg.certifications),
        dpf_status=None if dpf_name == "UNSPECIFIED" else DpfStatus(dpf_name),
        dpf_checked_date=date_of("subprocessor.dpf.checked_date", msg.dpf.checked_date, errors),
        scope=Scope.PLATFORM if scope_name == "UNSPECIFIED" else Scope(scope_name),
    )
    errors.raise_if_any()
    return details


MASK_FIELDS = {
    **{f: {f} for f in values.UPDATABLE if not f.startswith("dpf_")},
    "dpf": {"dpf_status", "dpf_checked_date"},
    "dpf.status": {"dpf_status"},
    "dpf.checked_date": {"dpf_checked_date"},
}


def notice_to_proto(n: notices.Notice) -> pb.ChangeNotice:
    return pb.ChangeNotice(
        name=n.name,
        notice_id=n.notice_id,
        kind=pb.ChangeKind.Value(f"CHANGE_KIND_{n.kind.value}"),
        subprocessor=names.make(core.COLLECTION, n.subprocessor_id),
        replaced_subprocessor=names.make(core.COLLECTION, n.replaced_id) if n.replaced_id else "",
        effective_time=ts(n.effective_time),
        reason=n.reason,
        state=pb.ChangeNoticeState.Value(f"CHANGE_NOTICE_STATE_{n.state.value}"),
        recipient_count=n.recipients,
        create_time=ts(n.create_time),
    )


def change_to_proto(c: notices.ControllerChange) -> pb.ControllerChange:
    n = c.notice
    return pb.ControllerChange(
        change_notice=n.name,
        controller_id=c.controller_id,
        kind=pb.ChangeKind.Value(f"CHANGE_KIND_{n.kind.value}"),
        subprocessor=names.make(core.COLLECTION, n.subprocessor_id),
        replaced_subprocessor=names.make(core.COLLECTION, n.replaced_id) if n.replaced_id else "",
        effective_time=ts(n.effective_time),
        authorization_mode=pb.SubprocessorAuthorizationMode.Value(
            f"SUBPROCESSOR_AUTHORIZATION_MODE_{c.mode.value}"
        ),
        notified_time=ts(c.notified_time),
        objection_deadline=ts(c.objection_deadline),
        decision=pb.ControllerDecision.Value(f"CONTROLLER_DECISION_{c.decision.value}"),
        reason=c.reason,
        decided_time=ts(c.decided_time),
        resolution=pb.ObjectionResolution.Value(f"OBJECTION_RESOLUTION_{c.resolution.value}"),
        resolution_note=c.resolution_note,
        first_delivery_time=ts(c.first_delivery_time),
    )


def entry_to_proto(e: annex.AnnexEntry) -> pb.SubprocessorListEntry:
    return pb.SubprocessorListEntry(
        subprocessor=names.make(core.COLLECTION, e.subprocessor_id),
        display_name=e.name,
        legal_name=e.legal_name,
        address=e.address,
        country=e.country,
        contact_email=e.contact_email,
        locations=list(e.locations),
        purpose=e.purpose,
        service_category=pb.ServiceCategory.Value(f"SERVICE_CATEGORY_{e.service_category.value}"),
        state=pb.SubprocessorAuthorizationState.Value(
            f"SUBPROCESSOR_AUTHORIZATION_STATE_{e.state.value}"
        ),
    )


def mutate(
    context: grpc.ServicerContext,
    method: str,
    request: Message,
    request_id: str,
    response_type: type[M],
    apply: Callable[[ledger.Mutation], M],
) -> M:
    return rpc.mutate(
        context, auth.current_caller(), method, request_id, request, response_type, apply
    )


def proposal_from(msg: pb.ChangeNotice, controller_ids: Iterable[str]) -> notices.Proposal:
    errors = Violations()
    kind_name = wire.enum_name("change_notice.kind", msg.kind, pb.ChangeKind, "CHANGE_KIND_")
    if kind_name == "UNSPECIFIED":
        errors.add("change_notice.kind", "is required")
    sp_id = ""
    if msg.subprocessor:
        sp_id = names.parse(msg.subprocessor, core.COLLECTION, "change_notice.subprocessor")
    else:
        errors.add("change_notice.subprocessor", "is required")
    replaced = ""
    if msg.replaced_subprocessor:
        replaced = names.parse(
            msg.replaced_subprocessor, core.COLLECTION, "change_notice.replaced_subprocessor"
        )
    if not msg.HasField("effective_time"):
        errors.add("change_notice.effective_time", "is required")
    errors.raise_if_any()
    return notices.Proposal(
        kind=ChangeKind(kind_name),
        subprocessor_id=sp_id,
        replaced_id=replaced,
        effective_time=wire.timestamp("change_notice.effective_time", msg.effective_time),
        reason=msg.reason,
        controller_ids=tuple(controller_ids),
    )
