"""The task engine's writes: file a data-subject request, start the return or
deletion at the end of a contract, update parts, add legal holds, issue the
signed result.

The parts are computed, never typed in: the processor's own systems
(``systems``) and every sub-processor that holds the controller's data
(``registry.subprocessors.engagement.holders``). Deadlines come from the DPA
(``registry.agreements.terms.active_terms``) and never pass the controller's.
Part updates lock the task row (PostgreSQL ``FOR UPDATE``; the SQLite write
transaction is exclusive) and change a part only at the revision read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources

import peewee

from registry import db, keys
from registry.agreements import ending, terms
from registry.audit import store
from registry.clock import rfc3339
from registry.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Violations,
)
from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import engagement
from registry.tasks import core, document
from registry.tasks import types as t
from registry.tasks.model import HoldRow, PartRow, TaskRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class System:
    system_id: str
    name: str


@cache
def systems() -> tuple[System, ...]:
    """The processor's own systems that hold controller data (packaged list)."""
    data = json.loads(
        resources.files("registry").joinpath("data/processor-systems.json").read_text("utf-8")
    )
    return tuple(System(s["id"], s["name"]) for s in data["systems"])


def _holding_subprocessors(controller_id: str) -> list[str]:
    """Sub-processors that hold the controller's data: the engagement rule."""
    return sorted({h.subprocessor_id for h in engagement.holdings_of(controller_id)})


def notify(m: Mutation, task: TaskRow, title: str, body: str) -> None:
    notifications.notify(
        m,
        [task.controller_id],
        notifications.Kind.TASK,
        title,
        body,
        core.task_name(task.controller_id, task.task_id),
        {"task": core.task_name(task.controller_id, task.task_id), "state": task.state},
    )


def new_task(
    m: Mutation, controller_id: str, kind: t.TaskKind, key: str, **fields: object
) -> TaskRow:
    if TaskRow.get_or_none((TaskRow.controller_id == controller_id) & (TaskRow.key == key)):
        raise AlreadyExists(f"a task for {key!r} exists already for controllers/{controller_id}")
    try:
        with db.database.atomic():
            made: TaskRow = TaskRow.create(
                task_id="t" + uuid.uuid4().hex[:15],
                controller_id=controller_id,
                kind=kind.value,
                state=t.TaskState.OPEN.value,
                key=key,
                created_by=m.caller.spiffe_id,
                create_time=m.now,
                update_time=m.now,
                **fields,
            )
    except peewee.IntegrityError:
        # Filed at the same moment by another request.
        raise AlreadyExists(
            f"a task for {key!r} exists already for controllers/{controller_id}"
        ) from None
    return made


def add_parts(
    task: TaskRow, parts: list[tuple[str, t.PartKind, str, datetime]], now: datetime
) -> None:
    db.insert_rows(
        PartRow,
        [
            {
                "task": task.id,
                "part_id": pid,
                "kind": kind.value,
                "target": target,
                "state": t.PartState.PENDING.value,
                "due_time": due,
                "update_time": now,
            }
            for pid, kind, target, due in parts
        ],
    )


def fan_out(controller_id: str, due: datetime) -> list[tuple[str, t.PartKind, str, datetime]]:
    parts = [(f"system-{s.system_id}", t.PartKind.SYSTEM, s.system_id, due) for s in systems()]
    parts += [
        (f"subprocessor-{sid}", t.PartKind.SUBPROCESSOR, sid, due)
        for sid in _holding_subprocessors(controller_id)
    ]
    return parts


def locked(caller_row: TaskRow) -> TaskRow:
    query = TaskRow.select().where(TaskRow.id == caller_row.id)
    if db.is_postgres():
        query = query.for_update()
    return query.get()


def cas_task(row: TaskRow, now: datetime, **changes: object) -> None:
    updated = (
        TaskRow.update(**changes, revision=row.revision + 1, update_time=now)
        .where((TaskRow.id == row.id) & (TaskRow.revision == row.revision))
        .execute()
    )
    if updated != 1:
        raise Aborted("the task changed concurrently; re-read and retry")


@dataclass(frozen=True)
class PartUpdate:
    state: t.PartState
    etag: str
    reference: str
    attachment_digest: str
    failure_reason: str
    export_ready: bool
    expire_time: datetime | None


def _check_update(part: PartRow, upd: PartUpdate, parts: list[PartRow], now: datetime) -> None:
    current = t.PartState(part.state)
    kind = t.PartKind(part.kind)
    errors = Violations()
    if current is t.PartState.DONE:
        raise FailedPrecondition("the part is DONE already; its evidence is final")
    if upd.state is not current and upd.state not in t.MOVES[current]:
        raise FailedPrecondition(f"the part is {current.value}; it cannot become {upd.state.value}")
    t.check_digest("attachment_digest", upd.attachment_digest, errors)
    if len(upd.reference) > 500:
        errors.add("reference", "is longer than 500 characters")
    if len(upd.failure_reason) > 2000:
        errors.add("failure_reason", "is longer than 2000 characters")
    if upd.state is t.PartState.FAILED and not upd.failure_reason.strip():
        errors.add("failure_reason", "is required when the part FAILED")
    if upd.state is t.PartState.DONE and not upd.reference.strip():
        errors.add("reference", "is required to confirm a part (evidence)")
    if upd.export_ready and kind is not t.PartKind.EXPORT:
        errors.add("export_ready", "applies to the EXPORT part only")
    if upd.expire_time is not None and kind is not t.PartKind.BACKUPS:
        errors.add("expire_time", "applies to the BACKUPS part only")
    errors.raise_if_any()
    if upd.state is not t.PartState.DONE:
        return
    if kind is t.PartKind.EXPORT and part.ready_time is None and not upd.export_ready:
        raise FailedPrecondition("the export was never made ready for retrieval")
    if kind is t.PartKind.BACKUPS:
        expiry = upd.expire_time or part.expire_time
        if expiry is None:
            raise FailedPrecondition("record when the backups expire (expire_time) first")
        if expiry > now:
            raise FailedPrecondition(f"the backups expire only at {rfc3339(expiry)}")
    export = next((p for p in parts if p.kind == t.PartKind.EXPORT.value), None)
    if kind is not t.PartKind.EXPORT and export is not None and export.state != "DONE":
        raise FailedPrecondition("delete only after the controller retrieved its export")


def update_part(
    m: Mutation, controller_id: str, task_id: str, part_id: str, upd: PartUpdate
) -> core.Task:
    """Staff record a part's progress, evidence or failure (compare-and-set)."""
    if not m.caller.is_staff:
        raise PermissionDenied("only staff update task parts")
    task = locked(core.row(m.caller, controller_id, task_id))
    if task.state != t.TaskState.OPEN.value:
        raise FailedPrecondition(f"the task is {task.state}")
    parts = list(PartRow.select().where(PartRow.task == task.id))
    part = next((p for p in parts if p.part_id == part_id), None)
    name = core.part_name(controller_id, task_id, part_id)
    if part is None:
        raise NotFound(f"{name} not found")
    if upd.etag and upd.etag != f"r{part.revision}":
        raise Aborted(f"etag {upd.etag!r} is stale; current is 'r{part.revision}'")
    _check_update(part, upd, parts, m.now)
    changes: dict[str, object] = {"state": upd.state.value}
    if upd.state is t.PartState.DONE:
        changes |= {
            "confirmed_by": m.caller.spiffe_id,
            "confirm_time": m.now,
            "reference": upd.reference,
            "attachment_digest": upd.attachment_digest,
        }
    elif upd.reference:
        changes["reference"] = upd.reference
    if upd.state is t.PartState.FAILED:
        changes["failure_reason"] = upd.failure_reason
    if upd.export_ready and part.ready_time is None:
        window_end = m.now + t.RETRIEVAL_WINDOW
        changes |= {"ready_time": m.now, "window_end": window_end}
        # The deletions follow the retrieval window.
        PartRow.update(due_time=window_end + timedelta(days=t.DELETION_DAYS)).where(
            (PartRow.task == task.id) & (PartRow.kind != t.PartKind.EXPORT.value)
        ).execute()
    if upd.expire_time is not None:
        changes["expire_time"] = upd.expire_time
    updated = (
        PartRow.update(**changes, revision=part.revision + 1, update_time=m.now)
        .where((PartRow.id == part.id) & (PartRow.revision == part.revision))
        .execute()
    )
    if updated != 1:
        raise Aborted("the part changed concurrently; re-read and retry")
    done = upd.state is t.PartState.DONE and all(
        p.state == t.PartState.DONE.value for p in parts if p.id != part.id
    )
    cas_task(task, m.now)
    m.record(
        "task.part.update",
        name,
        controller_id,
        {
            "state": upd.state.value,
            "reference": upd.reference,
            "attachment_digest": upd.attachment_digest,
            "failure_reason": upd.failure_reason,
            "export_ready": upd.export_ready,
            "expire_at": rfc3339(upd.expire_time) if upd.expire_time else None,
        },
    )
    if upd.state is t.PartState.FAILED:
        notify(m, task, "A task part failed", f"{name}: {upd.failure_reason}")
    if done:
        _issue(m, controller_id, task_id)
    return core.get(m.caller, controller_id, task_id)


def _steps(m: Mutation, resources: list[str]) -> list[tuple[int, str, str]]:
    """(audit index, action, resource) of every step about ``resources``: the
    committed ones, then this mutation's own. Write transactions are
    serialised (``registry.db.transaction``) and the log head is locked here,
    so this mutation's events land at the indices counted from the head."""
    wanted = set(resources)
    head = store.lock_head()
    pending = [
        (head + i, c.action, c.resource) for i, c in enumerate(m.changes) if c.resource in wanted
    ]
    return store.steps(resources) + pending


def _issue(m: Mutation, controller_id: str, task_id: str) -> None:
    """Signs the receipt or certificate once every part is done, in the same
    step as the last confirmation.

    End of contract: the disposition of the terminated DPA is confirmed with
    the certificate's digest, so the data are no longer held (breach
    notification, CheckTransfer and CheckProcessing follow).
    """
    row = core.row(m.caller, controller_id, task_id)
    task = core.task_of(row)
    name = task.name
    resources_ = [name, *(p.name for p in task.parts)]
    resources_ += [
        core.hold_name(controller_id, task_id, h.id)
        for h in HoldRow.select(HoldRow.id).where(HoldRow.task == row.id)
    ]
    agreement = (
        terms.agreement_name(controller_id, row.agreement_version)
        if row.agreement_version is not None
        else None
    )
    content = document.build(
        task, agreement=agreement, steps=_steps(m, resources_), issued_at=m.now
    )
    data = document.canonical_bytes(content)
    key = keys.active()
    doc_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    cas_task(
        row,
        m.now,
        state=t.TaskState.COMPLETED.value,
        document=data,
        document_digest=doc_digest,
        signature=key.sign(data),
        signing_key=key.vkey,
        issue_time=m.now,
    )
    m.record("task.issue", name, controller_id, {"type": content["type"], "digest": doc_digest})
    end = terms.ended(controller_id)
    if task.kind is t.TaskKind.END_OF_CONTRACT and end is not None and not end.confirmed:
        ending.confirm_disposition(
            m, controller_id, row.agreement_version, f"end-of-contract certificate {doc_digest}"
        )
    row = core.row(m.caller, controller_id, task_id)
    notify(m, row, "Task completed: signed document issued", f"{name}: {doc_digest}")
