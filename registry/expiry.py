"""Expiry warnings, run by the scheduler: a measure's evidence that expires
(``registry.measures.expiry``) and a transfer safeguard whose review is due
(``registry.transfers.expiry``).

Each warning goes out once: it is claimed in the write transaction that sends
it (``notifications.claim_once``), and write transactions are serialised
across processes, so several schedulers on one database send it once. A
read-only look first keeps the scheduler's tick from taking the write lock
when nothing is due.
"""

from __future__ import annotations

from datetime import date

from registry import clock, db, ledger
from registry.auth import Caller
from registry.ledger import Mutation
from registry.measures import expiry as measures
from registry.notifications import core as notifications
from registry.transfers import expiry as transfers


class _NothingDue(Exception):
    """Another process sent them first; roll back the empty mutation."""


def _unsent(today: date) -> bool:
    keys = [d.key for d in measures.due(today)] + [d.key for d in transfers.due(today)]
    return bool(set(keys) - notifications.claimed(keys))


def run_due(caller: Caller) -> int:
    """Sends the warnings due today; returns the number of audit events."""
    today = clock.now().date()
    with db.database.connection_context():
        if not _unsent(today):
            return 0

    def warn(m: Mutation) -> None:
        measures.warn(m, today)
        transfers.warn(m, today)
        if not m.changes:
            raise _NothingDue

    try:
        _, receipt = ledger.mutate(caller, "Scheduler/WarnExpiry", "", "", ledger.NOTHING, warn)
    except _NothingDue:
        return 0
    return receipt.count
