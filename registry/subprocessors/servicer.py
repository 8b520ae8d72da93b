"""gRPC servicer for SubprocessorService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import subprocessors_pb2 as pb
from dpa_registry_api.v1 import subprocessors_pb2_grpc as pb_grpc
from registry import auth, clock, names, paging, wire
from registry.errors import InvalidArgument
from registry.subprocessors import annex, changes, core, notices, values, withdrawals
from registry.subprocessors.convert import (
    MASK_FIELDS,
    change_to_proto,
    details_from,
    entry_to_proto,
    mutate,
    notice_to_proto,
    proposal_from,
    to_proto,
    ts,
)
from registry.subprocessors.types import (
    Resolution,
)


class SubprocessorService(pb_grpc.SubprocessorServiceServicer):
    def CreateSubprocessor(
        self, request: pb.CreateSubprocessorRequest, context: grpc.ServicerContext
    ) -> pb.Subprocessor:
        details = details_from(request.subprocessor)
        sp_id = request.subprocessor.subprocessor_id
        return mutate(
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
            if path not in MASK_FIELDS:
                raise InvalidArgument.one(f"update_mask.paths[{i}]", f"unknown field {path!r}")
            fields |= MASK_FIELDS[path]
        proposed = details_from(request.subprocessor)
        chosen = frozenset(fields or values.UPDATABLE)
        return mutate(
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
        proposal = proposal_from(request.change_notice, request.controller_ids)
        return mutate(
            context,
            "ProposeSubprocessorChange",
            request,
            request.request_id,
            pb.ChangeNotice,
            lambda m: notice_to_proto(changes.propose(m, proposal)),
        )

    def ListNoticePeriodConflicts(
        self, request: pb.ListNoticePeriodConflictsRequest, context: grpc.ServicerContext
    ) -> pb.ListNoticePeriodConflictsResponse:
        proposal = proposal_from(request.change_notice, request.controller_ids)
        page = paging.page(request.page_size, request.page_token, "noticeConflicts")
        now = clock.now()
        conflicts = changes.notice_period_conflicts(proposal, now)
        if page.after is not None:
            conflicts = [t for t in conflicts if t.controller_id > page.after]
        shown = conflicts[: page.size]
        return pb.ListNoticePeriodConflictsResponse(
            conflicts=[
                pb.NoticePeriodConflict(
                    controller_id=t.controller_id,
                    notice_days=t.notice_days,
                    earliest_effective_time=ts(notices.earliest_effective(now, t)),
                )
                for t in shown
            ],
            next_page_token=page.next_token([t.controller_id for t in shown], "noticeConflicts"),
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
        return mutate(
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
        return mutate(
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
        return mutate(
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
        return mutate(
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
                    withdraw_time=ts(w.withdraw_time),
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
        scope = f"subprocessorList:{controller_id}"
        page = paging.page(request.page_size, request.page_token, scope)
        entries = annex.subprocessor_list_page(controller_id, page)
        pending = notices.pending_changes(controller_id) if page.after is None else []
        return pb.SubprocessorList(
            controller=f"controllers/{controller_id}",
            entries=[entry_to_proto(e) for e in entries],
            pending_changes=[change_to_proto(c) for c in pending],
            next_page_token=page.next_token([e.subprocessor_id for e in entries], scope),
        )
