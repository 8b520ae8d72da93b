"""gRPC servicer for TaskService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration

from dpa_registry_api.v1 import tasks_pb2 as pb
from dpa_registry_api.v1 import tasks_pb2_grpc as pb_grpc
from registry import auth, clock, paging, rpc, wire
from registry.agreements.terms import agreement_name
from registry.errors import InvalidArgument
from registry.tasks import closing, core, engine, requests
from registry.tasks import types as t

_KIND = {k: pb.TaskKind.Value(f"TASK_KIND_{k.value}") for k in t.TaskKind}
_STATE = {s: pb.TaskState.Value(f"TASK_STATE_{s.value}") for s in t.TaskState}
_PART_KIND = {k: pb.TaskPartKind.Value(f"TASK_PART_KIND_{k.value}") for k in t.PartKind}
_PART_STATE = {s: pb.TaskPartState.Value(f"TASK_PART_STATE_{s.value}") for s in t.PartState}
_TYPE = {
    r: pb.DataSubjectRequestType.Value(f"DATA_SUBJECT_REQUEST_TYPE_{r.value}")
    for r in t.RequestType
}
_TYPE_IN: dict[int, t.RequestType] = {int(v): k for k, v in _TYPE.items()}
_PART_STATE_IN: dict[int, t.PartState] = {int(v): k for k, v in _PART_STATE.items()}
_DISPOSITION = {"RETURN": pb.DISPOSITION_RETURN, "DELETE": pb.DISPOSITION_DELETE}


_ts = wire.timestamp_of


def _part(p: core.Part) -> pb.TaskPart:
    e = p.evidence
    return pb.TaskPart(
        name=p.name,
        part_id=p.part_id,
        kind=_PART_KIND[p.kind],
        target=p.target,
        state=_PART_STATE[p.state],
        due_time=_ts(p.due_time),
        evidence=pb.TaskEvidence(
            confirmed_by=e.confirmed_by,
            confirm_time=_ts(e.confirm_time),
            reference=e.reference,
            attachment_digest=e.attachment_digest,
        ),
        failure_reason=p.failure_reason,
        ready_time=_ts(p.ready_time),
        window_end_time=_ts(p.window_end),
        expire_time=_ts(p.expire_time),
        etag=p.etag,
    )


def to_proto(task: core.Task) -> pb.Task:
    msg = pb.Task(
        name=task.name,
        task_id=task.task_id,
        controller_id=task.controller_id,
        kind=_KIND[task.kind],
        state=_STATE[task.state],
        create_time=_ts(task.create_time),
        parts=[_part(p) for p in task.parts],
        legal_holds=[
            pb.LegalHold(
                data_category=h.data_category,
                legal_basis=h.legal_basis,
                end_time=_ts(h.end_time),
                created_by=h.created_by,
            )
            for h in task.holds
        ],
    )
    if task.request is not None:
        r = task.request
        msg.data_subject_request.CopyFrom(
            pb.DataSubjectRequest(
                type=_TYPE[r.type],
                controller_request_id=r.controller_request_id,
                receive_time=_ts(r.receive_time),
                due_time=_ts(r.due_time),
                subject_references=list(r.subject_references),
                data_categories=list(r.data_categories),
                extension_reason=task.extension_reason,
                extend_time=_ts(task.extend_time),
            )
        )
    if task.agreement_version is not None:
        msg.end_of_contract.CopyFrom(
            pb.EndOfContractTask(
                agreement=agreement_name(task.controller_id, task.agreement_version),
                disposition=_DISPOSITION.get(task.disposition, pb.DISPOSITION_UNSPECIFIED),
            )
        )
    if task.signed is not None:
        s = task.signed
        msg.signed_document.CopyFrom(
            pb.SignedTaskDocument(
                document=s.document,
                digest=s.digest,
                signature=s.signature,
                key=s.key,
                issue_time=_ts(s.issue_time),
            )
        )
    return msg


def _request(msg: pb.DataSubjectRequest) -> core.Request:
    kind = wire.enum_value("request.type", msg.type, pb.DataSubjectRequestType)
    if kind not in _TYPE_IN:
        raise InvalidArgument.one("request.type", "is required")
    if not msg.HasField("receive_time"):
        raise InvalidArgument.one("request.receive_time", "is required")
    return core.Request(
        type=_TYPE_IN[kind],
        controller_request_id=msg.controller_request_id,
        receive_time=wire.timestamp("request.receive_time", msg.receive_time),
        due_time=(
            wire.timestamp("request.due_time", msg.due_time) if msg.HasField("due_time") else None
        ),
        subject_references=tuple(msg.subject_references),
        data_categories=tuple(msg.data_categories),
    )


class TaskService(pb_grpc.TaskServiceServicer):
    def FileDataSubjectRequest(
        self, request: pb.FileDataSubjectRequestRequest, context: grpc.ServicerContext
    ) -> pb.Task:
        controller_id = core.parse_parent(request.parent)
        filed = _request(request.request)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "FileDataSubjectRequest",
            request.request_id,
            request,
            pb.Task,
            lambda m: to_proto(requests.file_request(m, controller_id, filed)),
        )

    def ExtendDataSubjectRequest(
        self, request: pb.ExtendDataSubjectRequestRequest, context: grpc.ServicerContext
    ) -> pb.Task:
        controller_id, task_id = core.parse_task(request.name)
        due = wire.timestamp("due_time", request.due_time)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "ExtendDataSubjectRequest",
            request.request_id,
            request,
            pb.Task,
            lambda m: to_proto(requests.extend(m, controller_id, task_id, due, request.reason)),
        )

    def StartEndOfContract(
        self, request: pb.StartEndOfContractRequest, context: grpc.ServicerContext
    ) -> pb.Task:
        controller_id = core.parse_parent(request.parent)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "StartEndOfContract",
            request.request_id,
            request,
            pb.Task,
            lambda m: to_proto(closing.start_end_of_contract(m, controller_id)),
        )

    def GetTask(self, request: pb.GetTaskRequest, context: grpc.ServicerContext) -> pb.Task:
        controller_id, task_id = core.parse_task(request.name)
        return to_proto(core.get(auth.current_caller(), controller_id, task_id))

    def ListTasks(
        self, request: pb.ListTasksRequest, context: grpc.ServicerContext
    ) -> pb.ListTasksResponse:
        controller_id = core.parse_parent(request.parent)
        scope = f"tasks:{controller_id}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = core.list_page(auth.current_caller(), controller_id, page)
        return pb.ListTasksResponse(
            tasks=[to_proto(x) for x in items],
            next_page_token=page.next_token([core.page_key(x) for x in items], scope),
        )

    def UpdateTaskPart(
        self, request: pb.UpdateTaskPartRequest, context: grpc.ServicerContext
    ) -> pb.Task:
        controller_id, task_id, part_id = core.parse_part(request.name)
        state = wire.enum_value("state", request.state, pb.TaskPartState)
        if state not in _PART_STATE_IN:
            raise InvalidArgument.one("state", "is required")
        update = engine.PartUpdate(
            state=_PART_STATE_IN[state],
            etag=request.etag,
            reference=request.reference,
            attachment_digest=request.attachment_digest,
            failure_reason=request.failure_reason,
            export_ready=request.export_ready,
            expire_time=(
                wire.timestamp("expire_time", request.expire_time)
                if request.HasField("expire_time")
                else None
            ),
        )
        return rpc.mutate(
            context,
            auth.current_caller(),
            "UpdateTaskPart",
            request.request_id,
            request,
            pb.Task,
            lambda m: to_proto(engine.update_part(m, controller_id, task_id, part_id, update)),
        )

    def AddLegalHold(
        self, request: pb.AddLegalHoldRequest, context: grpc.ServicerContext
    ) -> pb.Task:
        controller_id, task_id = core.parse_task(request.name)
        h = request.hold
        hold = core.Hold(
            data_category=h.data_category,
            legal_basis=h.legal_basis,
            end_time=wire.timestamp("hold.end_time", h.end_time),
            created_by="",
        )
        return rpc.mutate(
            context,
            auth.current_caller(),
            "AddLegalHold",
            request.request_id,
            request,
            pb.Task,
            lambda m: to_proto(closing.add_hold(m, controller_id, task_id, hold)),
        )

    def ListOverdueTaskParts(
        self, request: pb.ListOverdueTaskPartsRequest, context: grpc.ServicerContext
    ) -> pb.ListOverdueTaskPartsResponse:
        scope = "overdue-task-parts"
        page = paging.page(request.page_size, request.page_token, scope)
        items = core.overdue(clock.now(), page)
        result = []
        for o in items:
            late = Duration()
            late.FromTimedelta(o.late)
            result.append(
                pb.OverdueTaskPart(
                    part=_part(o.part),
                    controller_id=o.part.controller_id,
                    kind=_KIND[o.kind],
                    late=late,
                )
            )
        return pb.ListOverdueTaskPartsResponse(
            parts=result,
            next_page_token=page.next_token([core.overdue_key(o) for o in items], scope),
        )
