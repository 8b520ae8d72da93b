"""Warnings that a transfer safeguard's review is due: the safeguard's own
``review_date`` and its transfer impact assessment's ``tia_review_due``
(SCC 2021/914 Clause 14(e); past either, transfers relying on it are
refused). Sent to every controller whose data the sub-processor may hold, when
the date enters the warning window and again when it has passed, once each.
Run by the scheduler (``registry.expiry``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import engagement
from registry.transfers.store import StoredSafeguard, all_safeguards

WARNING_DAYS = 30
"""A review is announced this many days before it is due."""


class Stage(enum.Enum):
    DUE_SOON = "DUE_SOON"
    OVERDUE = "OVERDUE"


def stage(today: date, due_on: date | None, warning_days: int = WARNING_DAYS) -> Stage | None:
    """Where a review date stands today; None: nothing to say yet."""
    if due_on is None:
        return None
    if today > due_on:
        return Stage.OVERDUE
    return Stage.DUE_SOON if (due_on - today).days <= warning_days else None


_WHAT = {
    "review_date": "review of the safeguard",
    "tia_review_due": "re-assessment of the transfer impact assessment",
}


@dataclass(frozen=True)
class Due:
    safeguard: StoredSafeguard
    field: str
    due_on: date
    stage: Stage

    @property
    def key(self) -> str:
        return f"{self.safeguard.name}/{self.field}@{self.due_on.isoformat()}:{self.stage.value}"


def due(today: date) -> list[Due]:
    found = []
    for stored in all_safeguards():
        for field in _WHAT:
            on: date | None = getattr(stored.safeguard, field)
            st = stage(today, on)
            if st is not None and on is not None:
                found.append(Due(stored, field, on, st))
    return found


def warn(m: Mutation, today: date) -> int:
    """Sends every warning not sent yet; returns how many."""
    sent = 0
    for d in due(today):
        if not notifications.claim_once(m, d.key):
            continue
        sg, name = d.safeguard.safeguard, d.safeguard.name
        what = _WHAT[d.field]
        holding = sorted(
            {h.controller_id for h in engagement.holders([d.safeguard.subprocessor_id])}
        )
        if d.stage is Stage.DUE_SOON:
            title = f"Transfer safeguard due for review: {name}"
            when = f"is due on {d.due_on.isoformat()} ({(d.due_on - today).days} days left)"
        else:
            title = f"Transfer safeguard review overdue: {name}"
            when = (
                f"was due on {d.due_on.isoformat()}; until it is recorded, transfers to "
                f"{sg.destination_country} relying on it are refused"
            )
        payload = {
            "safeguard": name,
            "destination_country": sg.destination_country,
            "mechanism": sg.mechanism.value,
            "field": d.field,
            "due_on": d.due_on.isoformat(),
            "stage": d.stage.value,
        }
        notifications.notify(
            m,
            holding,
            notifications.Kind.SUBPROCESSOR_CHANGE,
            title,
            f"The {what} of {name} ({sg.mechanism.name} for transfers to "
            f"{sg.destination_country}) {when}.",
            name,
            payload,
        )
        m.record(f"transfer.safeguard.review.{d.stage.value.lower()}", name, None, payload)
        sent += 1
    return sent
