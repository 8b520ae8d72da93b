"""Tasks as values, and the reads: one task, a controller's tasks, overdue parts.

Resource names: ``controllers/{controller_id}/tasks/{task_id}``, its parts
``.../parts/{part_id}`` and legal holds ``.../holds/{n}``. A controller sees
only its own tasks (another tenant's is NOT_FOUND); staff and auditors see all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from registry import changefeed, paging
from registry.auth import Caller
from registry.errors import InvalidArgument, NotFound
from registry.tasks.model import HoldRow, PartRow, TaskRow
from registry.tasks.types import PartKind, PartState, RequestType, TaskKind, TaskState
from registry.validate import RESOURCE_ID

COLLECTION = "controllers"


def task_name(controller_id: str, task_id: str) -> str:
    return f"controllers/{controller_id}/tasks/{task_id}"


def part_name(controller_id: str, task_id: str, part_id: str) -> str:
    return f"{task_name(controller_id, task_id)}/parts/{part_id}"


def hold_name(controller_id: str, task_id: str, hold: int) -> str:
    return f"{task_name(controller_id, task_id)}/holds/{hold}"


def parse_parent(parent: str, field: str = "parent") -> str:
    parts = parent.split("/")
    if len(parts) != 2 or parts[0] != "controllers" or not RESOURCE_ID.fullmatch(parts[1]):
        raise InvalidArgument.one(field, "must look like controllers/{controller_id}")
    return parts[1]


def parse_task(name: str, field: str = "name") -> tuple[str, str]:
    parts = name.split("/")
    if (
        len(parts) != 4
        or (parts[0], parts[2]) != ("controllers", "tasks")
        or not all(RESOURCE_ID.fullmatch(p) for p in (parts[1], parts[3]))
    ):
        raise InvalidArgument.one(field, "must look like controllers/{id}/tasks/{task_id}")
    return parts[1], parts[3]


def parse_part(name: str, field: str = "name") -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 6 or parts[4] != "parts" or not RESOURCE_ID.fullmatch(parts[5]):
        raise InvalidArgument.one(
            field, "must look like controllers/{id}/tasks/{task_id}/parts/{part_id}"
        )
    cid, tid = parse_task("/".join(parts[:4]), field)
    return cid, tid, parts[5]


@dataclass(frozen=True)
class Evidence:
    confirmed_by: str
    confirm_time: datetime | None
    reference: str
    attachment_digest: str


@dataclass(frozen=True)
class Part:
    controller_id: str
    task_id: str
    part_id: str
    kind: PartKind
    target: str
    state: PartState
    due_time: datetime
    evidence: Evidence
    failure_reason: str
    ready_time: datetime | None
    window_end: datetime | None
    expire_time: datetime | None
    revision: int

    @property
    def name(self) -> str:
        return part_name(self.controller_id, self.task_id, self.part_id)

    @property
    def etag(self) -> str:
        return f"r{self.revision}"


@dataclass(frozen=True)
class Hold:
    data_category: str
    legal_basis: str
    end_time: datetime
    created_by: str


@dataclass(frozen=True)
class Request:
    """A data-subject request as the controller files it."""

    type: RequestType
    controller_request_id: str
    receive_time: datetime
    due_time: datetime | None
    subject_references: tuple[str, ...]
    data_categories: tuple[str, ...]


@dataclass(frozen=True)
class Signed:
    document: bytes
    digest: str
    signature: bytes
    key: str
    issue_time: datetime


@dataclass(frozen=True)
class Task:
    controller_id: str
    task_id: str
    kind: TaskKind
    state: TaskState
    create_time: datetime
    request: Request | None
    extension_reason: str
    extend_time: datetime | None
    agreement_version: int | None
    disposition: str
    parts: tuple[Part, ...]
    holds: tuple[Hold, ...]
    signed: Signed | None

    @property
    def name(self) -> str:
        return task_name(self.controller_id, self.task_id)


def part_of(row: PartRow, controller_id: str, task_id: str) -> Part:
    return Part(
        controller_id=controller_id,
        task_id=task_id,
        part_id=row.part_id,
        kind=PartKind(row.kind),
        target=row.target,
        state=PartState(row.state),
        due_time=row.due_time,
        evidence=Evidence(row.confirmed_by, row.confirm_time, row.reference, row.attachment_digest),
        failure_reason=row.failure_reason,
        ready_time=row.ready_time,
        window_end=row.window_end,
        expire_time=row.expire_time,
        revision=row.revision,
    )


def task_of(row: TaskRow) -> Task:
    parts = tuple(
        part_of(p, row.controller_id, row.task_id)
        for p in PartRow.select().where(PartRow.task == row.id).order_by(PartRow.part_id)
    )
    holds = tuple(
        Hold(h.data_category, h.legal_basis, h.end_time, h.created_by)
        for h in HoldRow.select().where(HoldRow.task == row.id).order_by(HoldRow.id)
    )
    request = None
    if row.kind == TaskKind.DATA_SUBJECT_REQUEST.value:
        request = Request(
            type=RequestType(row.request_type),
            controller_request_id=row.key,
            receive_time=row.received_time,
            due_time=row.due_time,
            subject_references=tuple(json.loads(row.subject_references)),
            data_categories=tuple(json.loads(row.data_categories)),
        )
    signed = None
    if row.document is not None:
        signed = Signed(
            bytes(row.document),
            row.document_digest,
            bytes(row.signature or b""),
            row.signing_key,
            row.issue_time,
        )
    return Task(
        controller_id=row.controller_id,
        task_id=row.task_id,
        kind=TaskKind(row.kind),
        state=TaskState(row.state),
        create_time=row.create_time,
        request=request,
        extension_reason=row.extension_reason,
        extend_time=row.extend_time,
        agreement_version=row.agreement_version,
        disposition=row.disposition,
        parts=parts,
        holds=holds,
        signed=signed,
    )


def row(caller: Caller, controller_id: str, task_id: str) -> TaskRow:
    """The task's row; NOT_FOUND if absent or another tenant's."""
    name = task_name(controller_id, task_id)
    caller.require(controller_id, name)
    found = TaskRow.get_or_none(
        (TaskRow.controller_id == controller_id) & (TaskRow.task_id == task_id)
    )
    if found is None:
        raise NotFound(f"{name} not found")
    return found


def get(caller: Caller, controller_id: str, task_id: str) -> Task:
    return task_of(row(caller, controller_id, task_id))


def page_key(task: Task) -> str:
    return f"{task.create_time.isoformat()}|{task.task_id}"


def list_page(caller: Caller, controller_id: str, page: paging.Page) -> list[Task]:
    """Newest first; the page key is (create time, task id)."""
    caller.require(controller_id, f"controllers/{controller_id}")
    t = TaskRow
    query = t.select().where(t.controller_id == controller_id)
    if page.after is not None:
        moment, _, tid = page.after.partition("|")
        after = datetime.fromisoformat(moment)
        query = query.where(
            (t.create_time < after) | ((t.create_time == after) & (t.task_id < tid))
        )
    rows = query.order_by(t.create_time.desc(), t.task_id.desc()).limit(page.size)
    return [task_of(r) for r in rows]


@dataclass(frozen=True)
class Overdue:
    part: Part
    kind: TaskKind
    late: timedelta


def overdue(now: datetime, page: paging.Page) -> list[Overdue]:
    """Parts not done whose due time has passed, most overdue first (page key:
    due time, task id, part id)."""
    p, t = PartRow, TaskRow
    query = (
        p.select(
            p,
            t.controller_id.alias("owner"),
            t.task_id.alias("task_ref"),
            t.kind.alias("task_kind"),
        )
        .join(t, on=(p.task == t.id))
        .where((p.state != PartState.DONE.value) & (p.due_time < now))
    )
    if page.after is not None:
        moment, tid, pid = page.after.split("|")
        after = datetime.fromisoformat(moment)
        query = query.where(
            (p.due_time > after)
            | ((p.due_time == after) & (t.task_id > tid))
            | ((p.due_time == after) & (t.task_id == tid) & (p.part_id > pid))
        )
    result: list[Overdue] = []
    ordered = query.order_by(p.due_time, t.task_id, p.part_id).limit(page.size).objects()
    for r in cast("Iterable[Any]", ordered):
        part = part_of(r, r.owner, r.task_ref)
        result.append(Overdue(part, TaskKind(r.task_kind), now - part.due_time))
    return result


def overdue_key(o: Overdue) -> str:
    return f"{o.part.due_time.isoformat()}|{o.part.task_id}|{o.part.part_id}"


changefeed.publishes("controllers.tasks", "controllers.tasks.parts", "controllers.tasks.holds")(
    changefeed.ignore
)
