"""Breach incidents, affected controllers and notification obligations.

Staff report a breach (Art. 33(2)); its later information comes as new
phases (Art. 33(4)). After every change the affected set is recomputed from
the sub-processor registry plus staff adjustments, obligations are created
for newly affected controllers (deadline = awareness + the hours of the
controller's ACTIVE DPA), and every obligation not yet told the newest phase
gets one notice through the notification inbox, in the same transaction.

Audit (Art. 33(5)): the report, phases and adjustments are processor-wide
entries (tenant None, invisible to controllers, so no controller learns who
else is affected); each notice sent, withdrawn or acknowledged is an entry
under the tenant of that controller, which it can verify in its own view.
"""

from __future__ import annotations

import gc
import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from registry import changefeed, clock, db, names, paging, validate
from registry.breaches import rules
from registry.breaches.affected import check_adjustments, check_subprocessors, reconcile
from registry.breaches.model import AdjustmentRow, BreachRow, ObligationRow, PhaseRow
from registry.breaches.notices import (
    breach_row,
    notice_of,
    obligation_of,
    phases_of,
    send,
    visible_obligation,
)
from registry.breaches.values import (
    CLOCK_SKEW,
    COLLECTION,
    AdjustmentRecord,
    Breach,
    Counts,
    Notice,
    notice_name,
)
from registry.errors import Aborted, AlreadyExists, InvalidArgument, Violations
from registry.ledger import Mutation
from registry.notifications import core as notifications

# -- reads ---------------------------------------------------------------------


def _adjustments(breach_id: str) -> list[AdjustmentRecord]:
    query = (
        AdjustmentRow.select()
        .where(AdjustmentRow.breach_id == breach_id)
        .order_by(AdjustmentRow.id)
    )
    return [
        AdjustmentRecord(r.controller_id, r.added, r.reason, r.create_time, r.author) for r in query
    ]


def counts(breach_id: str, now: datetime) -> Counts:
    o = ObligationRow
    open_ = o.ack_time.is_null() & (o.withdrawn == False)  # noqa: E712 - peewee expression
    row = (
        o.select(
            peewee.fn.COUNT(o.id),
            peewee.fn.SUM(peewee.Case(None, [(open_ & o.notify_time.is_null(), 1)], 0)),
            peewee.fn.SUM(peewee.Case(None, [(open_ & o.notify_time.is_null(False), 1)], 0)),
            peewee.fn.SUM(
                peewee.Case(None, [(o.ack_time.is_null(False) & (o.withdrawn == False), 1)], 0)  # noqa: E712
            ),
            peewee.fn.SUM(peewee.Case(None, [(o.withdrawn == True, 1)], 0)),  # noqa: E712
            peewee.fn.SUM(peewee.Case(None, [(open_ & (o.deadline < now), 1)], 0)),
        )
        .where(o.breach_id == breach_id)
        .tuples()
        .first()
    )
    total, pending, sent, acked, withdrawn, overdue = (int(v or 0) for v in row or ())
    return Counts(total - withdrawn, pending, sent, acked, withdrawn, overdue)


def get(breach_id: str, now: datetime | None = None) -> Breach:
    row = breach_row(breach_id)
    return Breach(
        breach_id=row.breach_id,
        status=rules.Status(row.status),
        awareness_time=row.awareness_time,
        detection_time=row.detection_time,
        phases=tuple(phases_of(breach_id)),
        adjustments=tuple(_adjustments(breach_id)),
        counts=counts(breach_id, now or clock.now()),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def list_page(page: paging.Page) -> list[Breach]:
    query = BreachRow.select(BreachRow.breach_id).order_by(BreachRow.breach_id.desc())
    if page.after is not None:
        query = query.where(BreachRow.breach_id < page.after)
    now = clock.now()
    return [get(r.breach_id, now) for r in query.limit(page.size)]


# -- mutations -----------------------------------------------------------------

_pause_lock = threading.Lock()
_pausing = 0
_resume = False


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while a breach change builds its
    rows: for thousands of controllers that is hundreds of thousands of
    acyclic objects (rows, notices, audit changes), freed by reference
    counting, which the collector would otherwise rescan several times
    (about a tenth of the work). Process-wide; the last one out resumes it."""
    global _pausing, _resume  # noqa: PLW0603
    with _pause_lock:
        if _pausing == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _resume:
                gc.enable()


@dataclass(frozen=True)
class Report:
    breach_id: str
    awareness_time: datetime | None
    detection_time: datetime | None
    info: rules.Info
    add: tuple[rules.Adjustment, ...] = ()
    remove: tuple[rules.Adjustment, ...] = ()
    hold_notices: bool = False


def _check_times(r: Report, now: datetime, errors: Violations) -> None:
    if r.awareness_time is None:
        errors.add("awareness_time", "is required (the deadlines count from it)")
    elif r.awareness_time > now + CLOCK_SKEW:
        errors.add("awareness_time", "is in the future")
    if r.detection_time is None:
        errors.add("detection_time", "is required")
    elif r.detection_time > now + CLOCK_SKEW:
        errors.add("detection_time", "is in the future")
    elif r.awareness_time is not None and r.detection_time > r.awareness_time:
        errors.add("detection_time", "is after the time of awareness")


def _add_adjustments(m: Mutation, breach_id: str, items: Iterable[rules.Adjustment]) -> None:
    rows = [
        {
            "breach_id": breach_id,
            "controller_id": a.controller_id,
            "added": a.added,
            "reason": a.reason,
            "author": m.caller.spiffe_id,
            "create_time": m.now,
        }
        for a in items
    ]
    db.insert_rows(AdjustmentRow, rows)


def _adjustment_change(items: Iterable[rules.Adjustment]) -> list[dict[str, Any]]:
    return [{"controller": a.controller_id, "added": a.added, "reason": a.reason} for a in items]


@_collector_paused()
def report(m: Mutation, r: Report) -> Breach:
    errors = r.info.validate("info", initial=True)
    _check_times(r, m.now, errors)
    breach_id = r.breach_id or f"br-{m.now:%Y%m%d}-{secrets.token_hex(4)}"
    if r.breach_id:
        validate.resource_id("breach_id", r.breach_id, errors)
    errors.raise_if_any()
    check_subprocessors(r.info, "info")
    check_adjustments(r.add, r.remove, "")
    if BreachRow.get_or_none(BreachRow.breach_id == breach_id) is not None:
        raise AlreadyExists(f"{COLLECTION}/{breach_id} already exists")
    assert r.awareness_time is not None and r.detection_time is not None
    row = BreachRow.create(
        breach_id=breach_id,
        status=rules.Status.OPEN.value,
        awareness_time=r.awareness_time,
        detection_time=r.detection_time,
        hold_notices=r.hold_notices,
        phases=1,
        revision=1,
        create_time=m.now,
        update_time=m.now,
    )
    PhaseRow.create(
        breach_id=breach_id,
        number=1,
        status=rules.Status.OPEN.value,
        info=json.dumps(r.info.to_json(), sort_keys=True),
        author=m.caller.spiffe_id,
        create_time=m.now,
    )
    adjustments = (*r.add, *r.remove)
    _add_adjustments(m, breach_id, adjustments)
    # Sent below, unless held: the new obligations are written as told.
    fresh = reconcile(m, row, r.info, told_phase=None if r.hold_notices else 1)
    m.record(
        "breach.report",
        names.make(COLLECTION, breach_id),
        None,
        {
            "awareness_time": clock.rfc3339(r.awareness_time),
            "detection_time": clock.rfc3339(r.detection_time),
            "info": r.info.to_json(),
            "adjustments": _adjustment_change(adjustments),
            "hold_notices": r.hold_notices,
            "affected": counts(breach_id, m.now).affected,
        },
    )
    send(m, row, fresh)
    return get(breach_id, m.now)


def _bump(breach: BreachRow, etag: str, now: datetime, **fields: Any) -> BreachRow:
    if etag and etag != f"r{breach.revision}":
        raise Aborted(f"etag {etag!r} is stale; current is 'r{breach.revision}'")
    updated = (
        BreachRow.update(revision=breach.revision + 1, update_time=now, **fields)
        .where((BreachRow.breach_id == breach.breach_id) & (BreachRow.revision == breach.revision))
        .execute()
    )
    if updated != 1:
        raise Aborted("the breach changed concurrently; re-read and retry")
    return breach_row(breach.breach_id)


@_collector_paused()
def add_phase(
    m: Mutation, breach_id: str, info: rules.Info, status: rules.Status | None, etag: str
) -> Breach:
    breach = breach_row(breach_id)
    current = rules.Status(breach.status)
    new_status = status or current
    rules.check_transition(current, new_status)
    info.validate("info", initial=False).raise_if_any()
    if info.is_empty() and new_status is current:
        raise InvalidArgument.one("info", "the phase adds no information and no status change")
    check_subprocessors(info, "info")
    number = breach.phases + 1
    breach = _bump(breach, etag, m.now, phases=number, status=new_status.value)
    PhaseRow.create(
        breach_id=breach_id,
        number=number,
        status=new_status.value,
        info=json.dumps(info.to_json(), sort_keys=True),
        author=m.caller.spiffe_id,
        create_time=m.now,
    )
    m.record(
        "breach.phase",
        names.make(COLLECTION, breach_id),
        None,
        {"phase": number, "status": new_status.value, "info": info.to_json()},
    )
    reconcile(m, breach, rules.merge([p.info for p in phases_of(breach_id)]))
    send(m, breach)
    return get(breach_id, m.now)


@_collector_paused()
def adjust(
    m: Mutation,
    breach_id: str,
    add: Sequence[rules.Adjustment],
    remove: Sequence[rules.Adjustment],
    etag: str,
) -> Breach:
    breach = breach_row(breach_id)
    rules.check_transition(rules.Status(breach.status), rules.Status(breach.status))
    if not add and not remove:
        raise InvalidArgument.one("add", "name a controller to add or remove")
    check_adjustments(add, remove, "")
    breach = _bump(breach, etag, m.now)
    _add_adjustments(m, breach_id, (*add, *remove))
    m.record(
        "breach.adjust",
        names.make(COLLECTION, breach_id),
        None,
        {"adjustments": _adjustment_change((*add, *remove))},
    )
    reconcile(m, breach, rules.merge([p.info for p in phases_of(breach_id)]))
    send(m, breach)
    return get(breach_id, m.now)


@_collector_paused()
def send_held(m: Mutation, breach_id: str) -> Breach:
    breach = breach_row(breach_id)
    if not breach.hold_notices:
        raise InvalidArgument.one("name", "the breach has no held notices") from None
    breach = _bump(breach, "", m.now, hold_notices=False)
    sent = send(m, breach)
    m.record(
        "breach.notices.release",
        names.make(COLLECTION, breach_id),
        None,
        {"sent": sent},
    )
    return get(breach_id, m.now)


def acknowledge(m: Mutation, controller_id: str, breach_id: str) -> Notice:
    """The controller confirms receipt (idempotent); its inbox items are marked read."""
    ob = visible_obligation(m.caller, controller_id, breach_id)
    first = ob.ack_time is None
    o = ObligationRow
    if first:
        o.update(ack_time=m.now, ack_by=m.caller.spiffe_id).where(
            (o.breach_id == breach_id) & (o.controller_id == controller_id) & o.ack_time.is_null()
        ).execute()
    notice = notice_of(
        obligation_of(o.get((o.breach_id == breach_id) & (o.controller_id == controller_id)))
    )
    for number in notice.unread:
        notifications.acknowledge(m, number)
    m.record(
        "breach.notice.acknowledge",
        notice_name(controller_id, breach_id),
        controller_id,
        {
            "breach": names.make(COLLECTION, breach_id),
            "first": first,
            "late": first and m.now > ob.deadline,
        },
    )
    return notice


changefeed.publishes("breaches", "controllers.breachNotices")(changefeed.ignore)
