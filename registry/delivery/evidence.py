"""Delivery evidence: how each notice reached its controller.

One row per (notice, channel), the first time it happened: a webhook 2xx or
an accepted e-mail (written with the audited attempt), a Watch stream that
handed the notice over (the notifications domain calls a hook; the worker
stores it on its next round, so a crash in between loses that evidence, never
invents it). An inbox acknowledgement is read from the inbox itself. A notice
with none of these reached the controller by no channel.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from registry import db
from registry.auth import Caller
from registry.delivery import types
from registry.delivery.model import EvidenceRow
from registry.notifications import core as inbox

_streamed: queue.SimpleQueue[tuple[int, datetime]] = queue.SimpleQueue()
inbox.on_streamed(lambda notification_id, time: _streamed.put((notification_id, time)))


@dataclass(frozen=True)
class Evidence:
    channel: types.Evidence
    time: datetime
    detail: str


@dataclass(frozen=True)
class NoticeEvidence:
    notice: inbox.Notification
    evidence: tuple[Evidence, ...]

    @property
    def delivered(self) -> bool:
        return bool(self.evidence)


def record(notification_id: int, channel: types.Evidence, time: datetime, detail: str) -> None:
    """Keeps the first evidence per channel (in the caller's transaction)."""
    EvidenceRow.insert(
        notification_id=notification_id, channel=channel.value, time=time, detail=detail
    ).on_conflict_ignore().execute()


def drain_streamed() -> int:
    """Stores the stream hand-overs since the last call; returns how many."""
    items: dict[int, datetime] = {}
    while True:
        try:
            notification_id, time = _streamed.get_nowait()
        except queue.Empty:
            break
        items.setdefault(notification_id, time)
    if items:
        with db.transaction():
            for notification_id, time in sorted(items.items()):
                record(notification_id, types.Evidence.STREAM, time, "Watch stream")
    return len(items)


def of_notice(caller: Caller, notification_id: int) -> NoticeEvidence:
    """Every channel by which the notice reached its controller, first time each."""
    notice = inbox.get(caller, notification_id)
    rows = EvidenceRow.select().where(EvidenceRow.notification_id == notification_id)
    found = [Evidence(types.Evidence(r.channel), r.time, r.detail) for r in rows]
    if notice.ack_time is not None:
        found.append(Evidence(types.Evidence.INBOX_ACK, notice.ack_time, "acknowledged"))
    found.sort(key=lambda e: (e.time, e.channel.value))
    return NoticeEvidence(notice, tuple(found))


def reached(notification_ids: Sequence[int]) -> set[int]:
    """Of these notices, those some stream, webhook or e-mail reached."""
    if not notification_ids:
        return set()
    query = EvidenceRow.select(EvidenceRow.notification_id).where(
        EvidenceRow.notification_id.in_(list(notification_ids))
    )
    return {int(i) for i in query.scalars()}
