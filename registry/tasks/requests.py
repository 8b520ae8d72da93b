"""Data-subject requests (Art. 28(3)(e), Arts. 15-22): the controller files
one, fanned out to the processor's systems and every sub-processor that holds
its data, each part due within the DPA's assistance days and never after the
controller's own due date; the controller may record an extension (Art. 12(3)).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from registry import taxonomy
from registry.agreements import terms
from registry.clock import rfc3339
from registry.errors import FailedPrecondition, Violations
from registry.ledger import Mutation
from registry.tasks import core
from registry.tasks import types as t
from registry.tasks.engine import add_parts, cas_task, fan_out, new_task, notify
from registry.validate import text


def file_request(m: Mutation, controller_id: str, request: core.Request) -> core.Task:
    """A data-subject request (Art. 28(3)(e)) fanned out to its parts."""
    m.caller.require(controller_id, f"controllers/{controller_id}")
    errors = Violations()
    rid = request.controller_request_id
    if not rid.strip():
        errors.add("request.controller_request_id", "is required")
    elif len(rid) > 128 or t.looks_like_personal_data(rid):
        errors.add(
            "request.controller_request_id", "must be an opaque id of at most 128 characters"
        )
    if not request.subject_references:
        errors.add("request.subject_references", "name at least one (salted digest or reference)")
    for i, ref in enumerate(request.subject_references):
        t.check_subject_reference(f"request.subject_references[{i}]", ref, errors)
    if len(request.subject_references) > 20:
        errors.add("request.subject_references", "at most 20")
    taxonomy.validate(
        taxonomy.Kind.DATA_CATEGORY, "request.data_categories", request.data_categories, errors
    )
    received = request.receive_time
    if received > m.now + timedelta(minutes=5):
        errors.add("request.receive_time", "is in the future")
    limit = t.add_months(received, 1)
    due = request.due_time or limit
    if due > limit:
        errors.add(
            "request.due_time",
            f"is after {rfc3339(limit)}, one month after receipt (Art. 12(3)); extend instead",
        )
    elif due < received:
        errors.add("request.due_time", "is before receive_time")
    errors.raise_if_any()
    agreed = terms.active_terms([controller_id]).get(controller_id)
    if agreed is None:
        raise FailedPrecondition(f"controllers/{controller_id} has no active DPA")
    task = new_task(
        m,
        controller_id,
        t.TaskKind.DATA_SUBJECT_REQUEST,
        rid,
        request_type=request.type.value,
        received_time=received,
        due_time=due,
        subject_references=json.dumps(list(request.subject_references)),
        data_categories=json.dumps(sorted(set(request.data_categories))),
    )
    part_due = t.part_due(m.now, agreed.dsr_assistance_days, due)
    parts = fan_out(controller_id, part_due)
    add_parts(task, parts, m.now)
    name = core.task_name(controller_id, task.task_id)
    m.record(
        "task.file",
        name,
        controller_id,
        {
            "kind": t.TaskKind.DATA_SUBJECT_REQUEST.value,
            "type": request.type.value,
            "controller_request_id": rid,
            "received_at": rfc3339(received),
            "due_at": rfc3339(due),
            "data_categories": sorted(set(request.data_categories)),
            # Never the references themselves: their digest only.
            "subject_references": len(request.subject_references),
            "parts": [{"part": p[0], "due_at": rfc3339(p[3])} for p in parts],
        },
    )
    notify(m, task, "Data-subject request received", f"{name} ({request.type.value}) received")
    return core.task_of(task)


def extend(m: Mutation, controller_id: str, task_id: str, due: datetime, reason: str) -> core.Task:
    """Art. 12(3): the controller's deadline extended, the reason kept."""
    row = core.row(m.caller, controller_id, task_id)
    if row.kind != t.TaskKind.DATA_SUBJECT_REQUEST.value:
        raise FailedPrecondition("only a data-subject request can be extended")
    if row.state != t.TaskState.OPEN.value:
        raise FailedPrecondition(f"the task is {row.state}")
    if row.extend_time is not None:
        raise FailedPrecondition("the deadline was extended already (Art. 12(3): once)")
    errors = Violations()
    if not reason.strip():
        errors.add("reason", "is required (Art. 12(3))")
    else:
        text("reason", reason, errors, max_len=2000)
    limit = t.add_months(row.received_time, 1 + t.EXTENSION_MONTHS)
    if due > limit:
        errors.add("due_time", f"is after {rfc3339(limit)}, three months after receipt")
    elif due <= row.due_time:
        errors.add("due_time", "must be later than the current due time")
    errors.raise_if_any()
    cas_task(row, m.now, due_time=due, extension_reason=reason, extend_time=m.now)
    name = core.task_name(controller_id, task_id)
    m.record("task.extend", name, controller_id, {"due_at": rfc3339(due), "reason": reason})
    return core.get(m.caller, controller_id, task_id)
