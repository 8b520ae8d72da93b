"""The end of the contract (Art. 28(3)(g)): after termination the task follows
the controller's choice, RETURN (export ready, a retrieval window of at least
30 days, retrieved) then deletion, or DELETE alone, at every system and
sub-processor and in the backups; legal holds keep a data category on a
stated legal basis until an end date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from registry import taxonomy
from registry.agreements import terms
from registry.agreements.types import EndOfContract
from registry.clock import rfc3339
from registry.errors import AlreadyExists, FailedPrecondition, Violations
from registry.ledger import Mutation
from registry.tasks import core
from registry.tasks import types as t
from registry.tasks.engine import add_parts, cas_task, fan_out, locked, new_task, notify
from registry.tasks.model import HoldRow
from registry.validate import text


def start_end_of_contract(m: Mutation, controller_id: str) -> core.Task:
    """Return or deletion after termination (Art. 28(3)(g)), per the controller's choice."""
    m.caller.require(controller_id, f"controllers/{controller_id}")
    end = terms.ended(controller_id)
    if end is None:
        raise FailedPrecondition(f"controllers/{controller_id} has no terminated DPA")
    if end.confirmed:
        raise FailedPrecondition(f"the disposition of {end.agreement} is already confirmed")
    task = new_task(
        m,
        controller_id,
        t.TaskKind.END_OF_CONTRACT,
        f"end-of-contract-v{end.version}",
        agreement_version=end.version,
        disposition=end.disposition.value,
    )
    parts: list[tuple[str, t.PartKind, str, datetime]] = []
    start = m.now
    if end.disposition is EndOfContract.RETURN:
        parts.append(("export", t.PartKind.EXPORT, "", m.now + timedelta(days=t.DELETION_DAYS)))
        start = m.now + timedelta(days=t.DELETION_DAYS) + t.RETRIEVAL_WINDOW
    due = start + timedelta(days=t.DELETION_DAYS)
    parts += fan_out(controller_id, due)
    parts.append(("backups", t.PartKind.BACKUPS, "", due))
    add_parts(task, parts, m.now)
    name = core.task_name(controller_id, task.task_id)
    m.record(
        "task.start",
        name,
        controller_id,
        {
            "kind": t.TaskKind.END_OF_CONTRACT.value,
            "agreement": end.agreement,
            "disposition": end.disposition.value,
            "parts": [{"part": p[0], "due_at": rfc3339(p[3])} for p in parts],
        },
    )
    notify(m, task, "Return or deletion started", f"{name}: {end.disposition.value}")
    return core.task_of(task)


def add_hold(m: Mutation, controller_id: str, task_id: str, hold: core.Hold) -> core.Task:
    """A legal hold on one data category (end of contract only)."""
    task = locked(core.row(m.caller, controller_id, task_id))
    if task.kind != t.TaskKind.END_OF_CONTRACT.value:
        raise FailedPrecondition("legal holds apply to end-of-contract tasks")
    if task.state == t.TaskState.COMPLETED.value:
        raise FailedPrecondition("the certificate is issued already")
    errors = Violations()
    taxonomy.validate(
        taxonomy.Kind.DATA_CATEGORY, "hold.data_category", [hold.data_category], errors
    )
    if not hold.legal_basis.strip():
        errors.add("hold.legal_basis", "is required (the law that requires storage)")
    else:
        text("hold.legal_basis", hold.legal_basis, errors, max_len=1000)
    if hold.end_time <= m.now:
        errors.add("hold.end_time", "must be in the future")
    errors.raise_if_any()
    held = HoldRow.select().where(
        (HoldRow.task == task.id) & (HoldRow.data_category == hold.data_category)
    )
    if held.exists():
        raise AlreadyExists(f"{hold.data_category} is held already")
    made = HoldRow.create(
        task=task.id,
        data_category=hold.data_category,
        legal_basis=hold.legal_basis,
        end_time=hold.end_time,
        created_by=m.caller.spiffe_id,
        create_time=m.now,
    )
    cas_task(task, m.now)
    m.record(
        "task.hold.add",
        core.hold_name(controller_id, task_id, made.id),
        controller_id,
        {
            "data_category": hold.data_category,
            "legal_basis": hold.legal_basis,
            "until": rfc3339(hold.end_time),
        },
    )
    return core.get(m.caller, controller_id, task_id)
