"""The scheduler's transitions: objection windows begin when the notice
reaches the controller (from the delivery evidence, ``notices.objection_deadline``),
windows that closed without an
objection become authorisations (GENERAL mode), and notices whose effective
time came apply (the sub-processor becomes ACTIVE, a replaced or removed one is
withdrawn). Each is a conditional update, so it is restart-safe and several
processes may run it (``registry.subprocessors.scheduler``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import peewee

from registry import clock, db, ledger, names
from registry.auth import Caller
from registry.delivery import evidence
from registry.ledger import Mutation
from registry.notifications import hub
from registry.subprocessors import core
from registry.subprocessors.changes import set_authorizations, transition_authorization
from registry.subprocessors.model import AuthorizationRow, NoticeRow, RecipientRow, SubprocessorRow
from registry.subprocessors.notices import COLLECTION, Mode, notices_by_id, objection_deadline
from registry.subprocessors.types import (
    AuthorizationState,
    ChangeKind,
    Decision,
    NoticeState,
    Status,
)

# -- the scheduler's transitions ----------------------------------------------


class _NothingDue(Exception):
    """Another process applied it first; roll back the empty mutation."""


SWEEP_BATCH = 500
"""Open windows compared with the delivery evidence per read."""
SWEEP_BATCHES = 10
"""At most this many reads per scheduler round (while they find work)."""
_sweep_after = 0
"""This process's place in its round-robin over open windows (in memory:
a restart begins again at the start, which only repeats reads)."""


def _open_windows(now: datetime) -> peewee.Expression:
    """PENDING and the window not begun, or begun and still open."""
    r = RecipientRow
    return (
        (r.decision == Decision.PENDING.value)
        & r.notification.is_null(False)
        & (r.first_delivery_time.is_null() | (r.window_end > now))
    )


def _first_deliveries(rows: Sequence[RecipientRow]) -> dict[int, evidence.Evidence]:
    """Recipient row id -> the earliest evidence its notice reached the controller."""
    found = evidence.first_deliveries([(r.controller_id, int(r.notification or 0)) for r in rows])
    result: dict[int, evidence.Evidence] = {}
    for r in rows:
        first = found.get((r.controller_id, int(r.notification or 0)))
        if first is not None:
            result[int(r.id)] = first
    return result


def _stale(rows: Sequence[RecipientRow]) -> list[int]:
    """The rows whose stored first delivery is not what the evidence says."""
    first = _first_deliveries(rows)
    return [
        int(r.id)
        for r in rows
        if (first[int(r.id)].time if int(r.id) in first else None) != r.first_delivery_time
    ]


def stale_windows(
    now: datetime, limit: int = SWEEP_BATCH, batches: int = SWEEP_BATCHES
) -> list[int]:
    """Read-only: open windows whose start no longer matches the delivery
    evidence (the notice has since reached its controller, or the delivery
    that started the window was withdrawn: an e-mail that bounced). Reads one
    batch per call, round-robin over this process's calls, and goes on to the
    next batch (at most ``batches``) only while it keeps finding some: a
    bounded read when nothing changed, a quick catch-up after a large notice."""
    global _sweep_after  # noqa: PLW0603
    stale: list[int] = []
    for _ in range(batches):
        rows = list(
            RecipientRow.select()
            .where(_open_windows(now) & (RecipientRow.id > _sweep_after))
            .order_by(RecipientRow.id)
            .limit(limit)
        )
        _sweep_after = int(rows[-1].id) if len(rows) == limit else 0
        found = _stale(rows)
        stale += found
        if not found or len(rows) < limit:
            break
    return stale


def sync_windows(m: Mutation, ids: Sequence[int]) -> int:
    """Starts (or moves) the objection windows of these recipient rows to
    what the delivery evidence says now (``notices.objection_deadline``);
    one audit event per controller whose clock changed."""
    rows = list(
        RecipientRow.select()
        .where(
            RecipientRow.id.in_(sorted(set(ids)))
            & (RecipientRow.decision == Decision.PENDING.value)
            & RecipientRow.notification.is_null(False)
        )
        .order_by(RecipientRow.id)
    )
    first = _first_deliveries(rows)
    done = 0
    for r in rows:
        found = first.get(int(r.id))
        start = found.time if found is not None else None
        if start == r.first_delivery_time:
            continue
        deadline = objection_deadline(start, int(r.objection_days))
        previous = (
            RecipientRow.first_delivery_time.is_null()
            if r.first_delivery_time is None
            else RecipientRow.first_delivery_time == r.first_delivery_time
        )
        updated = (
            RecipientRow.update(first_delivery_time=start, window_end=deadline)
            .where((RecipientRow.id == r.id) & previous)
            .execute()
        )
        if updated != 1:
            continue
        m.record(
            "subprocessor.change.delivered",
            names.make(COLLECTION, r.notice_id),
            r.controller_id,
            {
                "notification": int(r.notification or 0),
                "first_delivery_time": clock.rfc3339(start) if start else None,
                "channel": found.channel.value if found is not None else None,
                "objection_deadline": clock.rfc3339(deadline) if deadline else None,
            },
        )
        done += 1
    return done


def close_windows(m: Mutation, limit: int = 2000) -> int:
    """GENERAL: PENDING becomes AUTHORIZED once the objection window has
    closed. The window's start is checked against the delivery evidence first,
    so a delivery withdrawn since (a bounce) is never closed on."""

    def due_rows() -> list[RecipientRow]:
        return list(
            RecipientRow.select()
            .where(
                (RecipientRow.decision == Decision.PENDING.value)
                & (RecipientRow.mode == Mode.GENERAL.value)
                & (RecipientRow.window_end <= m.now)
            )
            .order_by(RecipientRow.id)
            .limit(limit)
        )

    due = due_rows()
    moved = _stale([r for r in due if r.notification is not None])
    if moved:
        sync_windows(m, moved)
        due = due_rows()
    notices = notices_by_id(r.notice_id for r in due)
    done = 0
    for r in due:
        updated = (
            RecipientRow.update(decision=Decision.AUTHORIZED.value, decided_time=m.now)
            .where(
                (RecipientRow.id == r.id)
                & (RecipientRow.decision == Decision.PENDING.value)
                & (RecipientRow.window_end <= m.now)
            )
            .execute()
        )
        if updated != 1:
            continue
        transition_authorization(
            r.controller_id,
            notices[r.notice_id].subprocessor_id,
            r.notice_id,
            AuthorizationState.AUTHORIZED,
            m.now,
        )
        m.record(
            "subprocessor.change.authorize",
            names.make(COLLECTION, r.notice_id),
            r.controller_id,
            {"decision": Decision.AUTHORIZED.value, "by": "objection window closed"},
        )
        done += 1
    return done


def apply_effective(m: Mutation, limit: int = 50) -> int:
    """Notices whose effective time has come: status changes and withdrawals."""
    due = list(
        NoticeRow.select()
        .where((NoticeRow.state == NoticeState.OPEN.value) & (NoticeRow.effective_time <= m.now))
        .order_by(NoticeRow.effective_time)
        .limit(limit)
    )
    done = 0
    for n in due:
        updated = (
            NoticeRow.update(state=NoticeState.EFFECTIVE.value, applied_time=m.now)
            .where(
                (NoticeRow.notice_id == n.notice_id) & (NoticeRow.state == NoticeState.OPEN.value)
            )
            .execute()
        )
        if updated != 1:
            continue
        kind = ChangeKind(n.kind)
        if kind is not ChangeKind.REMOVAL:
            SubprocessorRow.update(status=Status.ACTIVE.value, update_time=m.now).where(
                (SubprocessorRow.subprocessor_id == n.subprocessor_id)
                & (SubprocessorRow.status == Status.PROPOSED.value)
            ).execute()
        leaving = (
            n.replaced_id
            if kind is ChangeKind.REPLACEMENT
            else (n.subprocessor_id if kind is ChangeKind.REMOVAL else None)
        )
        if leaving:
            _withdraw(m, n.notice_id, leaving)
        m.record(
            "subprocessor.change.effective",
            names.make(COLLECTION, n.notice_id),
            None,
            {"kind": kind.value, "subprocessor": n.subprocessor_id, "replaced": n.replaced_id},
        )
        done += 1
    return done


def _withdraw(m: Mutation, notice_id: str, subprocessor_id: str) -> None:
    """The leaving sub-processor stops processing for the notified controllers;
    it is RETIRED once no controller remains authorised for it."""
    recipients = [
        r.controller_id
        for r in RecipientRow.select(RecipientRow.controller_id)
        .where(RecipientRow.notice_id == notice_id)
        .order_by(RecipientRow.controller_id)
    ]
    set_authorizations(recipients, subprocessor_id, AuthorizationState.WITHDRAWN, notice_id, m.now)
    sp = core.get_row(subprocessor_id)
    if sp is None:
        return
    still = (
        AuthorizationRow.select()
        .where(
            (AuthorizationRow.subprocessor_id == subprocessor_id)
            & AuthorizationRow.state.in_(
                [AuthorizationState.AUTHORIZED.value, AuthorizationState.PENDING.value]
            )
        )
        .exists()
    )
    if not still:
        SubprocessorRow.update(status=Status.RETIRED.value, update_time=m.now).where(
            SubprocessorRow.subprocessor_id == subprocessor_id
        ).execute()
        m.record(
            "subprocessor.retire",
            names.make(core.COLLECTION, subprocessor_id),
            None,
            {"status": Status.RETIRED.value, "by": names.make(COLLECTION, notice_id)},
        )


def _anything_due(now: datetime) -> bool:
    windows = (
        RecipientRow.select()
        .where(
            (RecipientRow.decision == Decision.PENDING.value)
            & (RecipientRow.mode == Mode.GENERAL.value)
            & (RecipientRow.window_end <= now)
        )
        .exists()
    )
    return bool(windows) or bool(
        NoticeRow.select()
        .where((NoticeRow.state == NoticeState.OPEN.value) & (NoticeRow.effective_time <= now))
        .exists()
    )


def _apply_due(m: Mutation, stale: Sequence[int]) -> None:
    if stale:
        sync_windows(m, stale)
    close_windows(m)
    apply_effective(m)
    if not m.changes:
        raise _NothingDue


def run_due(caller: Caller) -> int:
    """Starts the objection windows of notices that reached their controllers
    since the last round, then applies every due transition, one mutation per
    batch; returns the number of audit events recorded."""
    total = 0
    with db.database.connection_context():
        stale = stale_windows(clock.now())
    while True:
        with db.database.connection_context():
            if not stale and not _anything_due(clock.now()):
                return total
        try:
            _, receipt = ledger.mutate(
                caller,
                "Scheduler/ApplyDue",
                "",
                "",
                ledger.NOTHING,
                functools.partial(_apply_due, stale=tuple(stale)),
            )
        except _NothingDue:
            return total
        stale = []
        hub.poke()
        total += receipt.count
