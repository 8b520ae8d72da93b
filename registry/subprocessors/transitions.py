"""The scheduler's transitions: objection windows that closed without an
objection become authorisations (GENERAL mode), and notices whose effective
time came apply (the sub-processor becomes ACTIVE, a replaced or removed one is
withdrawn). Each is a conditional update, so it is restart-safe and several
processes may run it (``registry.subprocessors.scheduler``)."""

from __future__ import annotations

from datetime import datetime

from registry import clock, db, ledger, names
from registry.auth import Caller
from registry.ledger import Mutation
from registry.notifications import hub
from registry.subprocessors import core
from registry.subprocessors.changes import set_authorizations, transition_authorization
from registry.subprocessors.model import AuthorizationRow, NoticeRow, RecipientRow, SubprocessorRow
from registry.subprocessors.notices import COLLECTION, Mode, notices_by_id
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


def close_windows(m: Mutation, limit: int = 2000) -> int:
    """GENERAL: PENDING becomes AUTHORIZED once the objection window has closed."""
    due = list(
        RecipientRow.select()
        .where(
            (RecipientRow.decision == Decision.PENDING.value)
            & (RecipientRow.mode == Mode.GENERAL.value)
            & (RecipientRow.window_end <= m.now)
        )
        .order_by(RecipientRow.id)
        .limit(limit)
    )
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


def _apply_due(m: Mutation) -> None:
    close_windows(m)
    apply_effective(m)
    if not m.changes:
        raise _NothingDue


def run_due(caller: Caller) -> int:
    """Applies every due transition, one mutation per batch; returns the
    number of audit events recorded."""
    total = 0
    while True:
        with db.database.connection_context():
            if not _anything_due(clock.now()):
                return total
        try:
            _, receipt = ledger.mutate(
                caller, "Scheduler/ApplyDue", "", "", ledger.NOTHING, _apply_due
            )
        except _NothingDue:
            return total
        hub.poke()
        total += receipt.count
