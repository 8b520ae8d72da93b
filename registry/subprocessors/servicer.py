"""gRPC servicer for SubprocessorService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from dpa.registry.v1 import subprocessors_pb2 as pb
from dpa.registry.v1 import subprocessors_pb2_grpc as pb_grpc
from registry import auth, ledger, names, paging, rpc, wire
from registry.errors import InvalidArgument, Violations
from registry.subprocessors import annex, changes, core, notices, values, withdrawals
from registry.subprocessors.types import (
    ChangeKind,
    DpfStatus,
    Resolution,
    Scope,
    ServiceCategory,
)

M = TypeVar("M", bound=Message)


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def _date(field: str, value: str, errors: Violations) -> date | None:
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
        create_time=_ts(s.create_time),
        update_time=_ts(s.update_time),
        etag=s.etag,
    )


def _details(msg: pb.Subprocessor) -> values.Details:
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
            signed_date=_date(
                "subprocessor.agreement.signed_date", msg.agreement.signed_date, errors
            ),
            reference=msg.agreement.reference,
            document_digest=msg.agreement.document_digest,
            flow_down_confirmed=msg.agreement.flow_down_confirmed,
        ),
        certifications=tuple(msg.certifications),
        dpf_status=None if dpf_name == "UNSPECIFIED" else DpfStatus(dpf_name),
        dpf_checked_date=_date("subprocessor.dpf.checked_date", msg.dpf.checked_date, errors),
        scope=Scope.PLATFORM if scope_name == "UNSPECIFIED" else Scope(scope_name),
    )
    errors.raise_if_any()
    return details


_MASK_FIELDS = {
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
        effective_time=_ts(n.effective_time),
        reason=n.reason,
        state=pb.ChangeNoticeState.Value(f"CHANGE_NOTICE_STATE_{n.state.value}"),
        recipient_count=n.recipients,
        create_time=_ts(n.create_time),
    )


def change_to_proto(c: notices.ControllerChange) -> pb.ControllerChange:
    n = c.notice
    return pb.ControllerChange(
        change_notice=n.name,
        controller_id=c.controller_id,
        kind=pb.ChangeKind.Value(f"CHANGE_KIND_{n.kind.value}"),
        subprocessor=names.make(core.COLLECTION, n.subprocessor_id),
        replaced_subprocessor=names.make(core.COLLECTION, n.replaced_id) if n.replaced_id else "",
        effective_time=_ts(n.effective_time),
        authorization_mode=pb.SubprocessorAuthorizationMode.Value(
            f"SUBPROCESSOR_AUTHORIZATION_MODE_{c.mode.value}"
        ),
        notified_time=_ts(c.notified_time),
        objection_deadline=_ts(c.objection_deadline),
        decision=pb.ControllerDecision.Value(f"CONTROLLER_DECISION_{c.decision.value}"),
        reason=c.reason,
        decided_time=_ts(c.decided_time),
        resolution=pb.ObjectionResolution.Value(f"OBJECTION_RESOLUTION_{c.resolution.value}"),
        resolution_note=c.resolution_note,
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


def _mutate(
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


class SubprocessorService(pb_grpc.SubprocessorServiceServicer):
    def CreateSubprocessor(
        self, request: pb.CreateSubprocessorRequest, context: grpc.ServicerContext
    ) -> pb.Subprocessor:
        details = _details(request.subprocessor)
        sp_id = request.subprocessor.subprocessor_id
        return _mutate(
            context,
            "CreateSubprocessor",
            request,
            request.request_id,
            pb.Subprocessor,
            lambda m: to_proto(core.create(m, sp_id, details)),
        )

    def GetSubprocessor(
        self, request: pb.GetSubprocessorRequest, context: grpc.ServicerContext
    ) -> pb.Subprocessor:
        sp_id = names.parse(request.name, core.COLLECTION)
        return to_proto(core.get(auth.current_caller(), sp_id))

    def ListSubprocessors(
        self, request: pb.ListSubprocessorsRequest, context: grpc.ServicerContext
    ) -> pb.ListSubprocessorsResponse:
        page = paging.page(request.page_size, request.page_token, "subprocessors")
        items = core.list_page(page)
        return pb.ListSubprocessorsResponse(
            subprocessors=[to_proto(s) for s in items],
            next_page_token=page.next_token([s.subprocessor_id for s in items], "subprocessors"),
        )

    def UpdateSubprocessor(
        self, request: pb.UpdateSubprocessorRequest, context: grpc.ServicerContext
    ) -> pb.Subprocessor:
        sp_id = names.parse(request.subprocessor.name, core.COLLECTION, "subprocessor.name")
        fields: set[str] = set()
        for i, path in enumerate(request.update_mask.paths):
            if path not in _MASK_FIELDS:
                raise InvalidArgument.one(f"update_mask.paths[{i}]", f"unknown field {path!r}")
            fields |= _MASK_FIELDS[path]
        proposed = _details(request.subprocessor)
        chosen = frozenset(fields or values.UPDATABLE)
        return _mutate(
            context,
            "UpdateSubprocessor",
            request,
            request.request_id,
            pb.Subprocessor,
            lambda m: to_proto(core.update(m, sp_id, request.subprocessor.etag, proposed, chosen)),
        )

    def ProposeSubprocessorChange(
        self, request: pb.ProposeSubprocessorChangeRequest, context: grpc.ServicerContext
    ) -> pb.ChangeNotice:
        msg = request.change_notice
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
        proposal = notices.Proposal(
            kind=ChangeKind(kind_name),
            subprocessor_id=sp_id,
            replaced_id=replaced,
            effective_time=wire.timestamp("change_notice.effective_time", msg.effective_time),
            reason=msg.reason,
            controller_ids=tuple(request.controller_ids),
        )
        return _mutate(
            context,
            "ProposeSubprocessorChange",
            request,
            request.request_id,
            pb.ChangeNotice,
            lambda m: notice_to_proto(changes.propose(m, proposal)),
        )

    def GetChangeNotice(
        self, request: pb.GetChangeNoticeRequest, context: grpc.ServicerContext
    ) -> pb.ChangeNotice:
        return notice_to_proto(notices.get(names.parse(request.name, notices.COLLECTION)))

    def ListChangeNotices(
        self, request: pb.ListChangeNoticesRequest, context: grpc.ServicerContext
    ) -> pb.ListChangeNoticesResponse:
        page = paging.page(request.page_size, request.page_token, "changeNotices")
        items = notices.list_page(page)
        return pb.ListChangeNoticesResponse(
            change_notices=[notice_to_proto(n) for n in items],
            next_page_token=page.next_token([n.notice_id for n in items], "changeNotices"),
        )

    def ApproveSubprocessorChange(
        self, request: pb.ApproveSubprocessorChangeRequest, context: grpc.ServicerContext
    ) -> pb.ControllerChange:
        notice_id = names.parse(request.change_notice, notices.COLLECTION, "change_notice")
        return _mutate(
            context,
            "ApproveSubprocessorChange",
            request,
            request.request_id,
            pb.ControllerChange,
            lambda m: change_to_proto(changes.approve(m, notice_id)),
        )

    def ObjectSubprocessorChange(
        self, request: pb.ObjectSubprocessorChangeRequest, context: grpc.ServicerContext
    ) -> pb.ControllerChange:
        notice_id = names.parse(request.change_notice, notices.COLLECTION, "change_notice")
        return _mutate(
            context,
            "ObjectSubprocessorChange",
            request,
            request.request_id,
            pb.ControllerChange,
            lambda m: change_to_proto(changes.object_to(m, notice_id, request.reason)),
        )

    def ListObjections(
        self, request: pb.ListObjectionsRequest, context: grpc.ServicerContext
    ) -> pb.ListObjectionsResponse:
        scope = f"objections:{int(request.unresolved_only)}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = notices.objections(page, unresolved_only=request.unresolved_only)
        keys = notices.objection_keys(page, unresolved_only=request.unresolved_only)
        return pb.ListObjectionsResponse(
            objections=[change_to_proto(c) for c in items],
            next_page_token=page.next_token(keys, scope),
        )

    def ResolveObjection(
        self, request: pb.ResolveObjectionRequest, context: grpc.ServicerContext
    ) -> pb.ControllerChange:
        notice_id = names.parse(request.change_notice, notices.COLLECTION, "change_notice")
        name = wire.enum_name(
            "resolution", request.resolution, pb.ObjectionResolution, "OBJECTION_RESOLUTION_"
        )
        resolution = Resolution.UNRESOLVED if name == "UNSPECIFIED" else Resolution(name)
        controller_id = request.controller_id
        return _mutate(
            context,
            "ResolveObjection",
            request,
            request.request_id,
            pb.ControllerChange,
            lambda m: change_to_proto(
                changes.resolve(m, notice_id, controller_id, resolution, request.note)
            ),
        )

    def WithdrawSubprocessorAuthorization(
        self, request: pb.WithdrawSubprocessorAuthorizationRequest, context: grpc.ServicerContext
    ) -> pb.SubprocessorListEntry:
        controller_id = names.parse(request.parent, "controllers", "parent")
        subprocessor_id = names.parse(request.subprocessor, core.COLLECTION, "subprocessor")
        return _mutate(
            context,
            "WithdrawSubprocessorAuthorization",
            request,
            request.request_id,
            pb.SubprocessorListEntry,
            lambda m: entry_to_proto(
                withdrawals.withdraw(m, controller_id, subprocessor_id, request.reason)
            ),
        )

    def ListWithdrawals(
        self, request: pb.ListWithdrawalsRequest, context: grpc.ServicerContext
    ) -> pb.ListWithdrawalsResponse:
        page = paging.page(request.page_size, request.page_token, "withdrawals")
        items = withdrawals.list_page(page)
        return pb.ListWithdrawalsResponse(
            withdrawals=[
                pb.Withdrawal(
                    controller_id=w.controller_id,
                    subprocessor=names.make(core.COLLECTION, w.subprocessor_id),
                    reason=w.reason,
                    withdraw_time=_ts(w.withdraw_time),
                )
                for w in items
            ],
            next_page_token=page.next_token(withdrawals.page_keys(page), "withdrawals"),
        )

    def GetSubprocessorList(
        self, request: pb.GetSubprocessorListRequest, context: grpc.ServicerContext
    ) -> pb.SubprocessorList:
        caller = auth.current_caller()
        controller_id = names.parse(request.parent, "controllers", "parent")
        caller.require(controller_id, f"controllers/{controller_id}")
        entries = annex.subprocessor_list(controller_id)
        return pb.SubprocessorList(
            controller=f"controllers/{controller_id}",
            entries=[entry_to_proto(e) for e in entries],
            pending_changes=[change_to_proto(c) for c in notices.pending_changes(controller_id)],
        )
