"""Assistance tasks (Art. 28(3)(e), (g)): data-subject requests and the return
or deletion of data at the end of the contract."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from dpa_client._base import BaseClient, new_request_id
from dpa_client.types.tasks import OverdueTaskPart, Task
from dpa_registry_api.v1 import tasks_pb2 as pb
from dpa_registry_api.v1 import tasks_pb2_grpc as pb_grpc

REQUEST_TYPES = ("ACCESS", "RECTIFICATION", "ERASURE", "RESTRICTION", "PORTABILITY", "OBJECTION")
PART_STATES = ("PENDING", "IN_PROGRESS", "DONE", "FAILED")


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


class TasksMixin(BaseClient):
    @property
    def _tasks(self) -> pb_grpc.TaskServiceStub:
        return pb_grpc.TaskServiceStub(self.channel)

    def file_data_subject_request(
        self,
        controller_id: str,
        *,
        type: str,
        controller_request_id: str,
        received: datetime,
        subject_references: Sequence[str],
        data_categories: Sequence[str] = (),
        due: datetime | None = None,
        request_id: str | None = None,
    ) -> Task:
        """Controller: files a data-subject request. ``type`` is one of
        ``REQUEST_TYPES``; ``subject_references`` are salted digests
        (``sha256:<hex>``) or opaque references, never e-mail addresses or
        phone numbers. ``due`` defaults to one month after ``received``."""
        if type.upper() not in REQUEST_TYPES:
            raise ValueError(f"type must be one of {', '.join(REQUEST_TYPES)}")
        msg = pb.DataSubjectRequest(
            type=pb.DataSubjectRequestType.Value(f"DATA_SUBJECT_REQUEST_TYPE_{type.upper()}"),
            controller_request_id=controller_request_id,
            receive_time=_ts(received),
            subject_references=list(subject_references),
            data_categories=list(data_categories),
        )
        if due is not None:
            msg.due_time.CopyFrom(_ts(due))
        request = pb.FileDataSubjectRequestRequest(
            parent=f"controllers/{controller_id}",
            request=msg,
            request_id=request_id or new_request_id(),
        )
        return Task.from_proto(
            self._call(self._tasks.FileDataSubjectRequest, request, idempotent=True)
        )

    def extend_data_subject_request(
        self, name: str, *, due: datetime, reason: str, request_id: str | None = None
    ) -> Task:
        """Controller: records an extension of its deadline (Art. 12(3))."""
        request = pb.ExtendDataSubjectRequestRequest(
            name=name, due_time=_ts(due), reason=reason, request_id=request_id or new_request_id()
        )
        return Task.from_proto(
            self._call(self._tasks.ExtendDataSubjectRequest, request, idempotent=True)
        )

    def start_end_of_contract(self, controller_id: str, *, request_id: str | None = None) -> Task:
        """Staff: starts the return or deletion after the DPA's termination."""
        request = pb.StartEndOfContractRequest(
            parent=f"controllers/{controller_id}", request_id=request_id or new_request_id()
        )
        return Task.from_proto(self._call(self._tasks.StartEndOfContract, request, idempotent=True))

    def get_task(self, name: str) -> Task:
        return Task.from_proto(
            self._call(self._tasks.GetTask, pb.GetTaskRequest(name=name), idempotent=True)
        )

    def list_tasks(self, controller_id: str, *, page_size: int = 100) -> Iterator[Task]:
        """A controller's tasks, newest first, fetched page by page."""
        token = ""
        while True:
            response: pb.ListTasksResponse = self._call(
                self._tasks.ListTasks,
                pb.ListTasksRequest(
                    parent=f"controllers/{controller_id}", page_size=page_size, page_token=token
                ),
                idempotent=True,
            )
            yield from (Task.from_proto(t) for t in response.tasks)
            token = response.next_page_token
            if not token:
                return

    def update_task_part(
        self,
        name: str,
        state: str,
        *,
        reference: str = "",
        attachment_digest: str = "",
        failure_reason: str = "",
        export_ready: bool = False,
        expire: datetime | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> Task:
        """Staff: a part's progress (``state`` one of ``PART_STATES``), its
        evidence or its failure. With ``etag`` a concurrent change is ABORTED
        (``errors.Conflict``)."""
        if state.upper() not in PART_STATES:
            raise ValueError(f"state must be one of {', '.join(PART_STATES)}")
        request = pb.UpdateTaskPartRequest(
            name=name,
            state=pb.TaskPartState.Value(f"TASK_PART_STATE_{state.upper()}"),
            etag=etag,
            reference=reference,
            attachment_digest=attachment_digest,
            failure_reason=failure_reason,
            export_ready=export_ready,
            request_id=request_id or new_request_id(),
        )
        if expire is not None:
            request.expire_time.CopyFrom(_ts(expire))
        return Task.from_proto(self._call(self._tasks.UpdateTaskPart, request, idempotent=True))

    def add_legal_hold(
        self,
        name: str,
        *,
        data_category: str,
        legal_basis: str,
        until: datetime,
        request_id: str | None = None,
    ) -> Task:
        """Staff: keeps one data category on a legal basis until ``until``."""
        request = pb.AddLegalHoldRequest(
            name=name,
            hold=pb.LegalHold(
                data_category=data_category, legal_basis=legal_basis, end_time=_ts(until)
            ),
            request_id=request_id or new_request_id(),
        )
        return Task.from_proto(self._call(self._tasks.AddLegalHold, request, idempotent=True))

    def list_overdue_task_parts(self, *, page_size: int = 100) -> Iterator[OverdueTaskPart]:
        """Staff: parts past their due time, most overdue first."""
        token = ""
        while True:
            response: pb.ListOverdueTaskPartsResponse = self._call(
                self._tasks.ListOverdueTaskParts,
                pb.ListOverdueTaskPartsRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (OverdueTaskPart.from_proto(p) for p in response.parts)
            token = response.next_page_token
            if not token:
                return
