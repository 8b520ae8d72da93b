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
from typing import Any

import peewee

from registry import db
from registry.auth import Caller
from registry.delivery import types
from registry.delivery.model import EvidenceRow
from registry.errors import InvalidArgument, NotFound
from registry.notifications import core as inbox

_streamed: queue.SimpleQueue[tuple[str, int, datetime]] = queue.SimpleQueue()
inbox.on_streamed(lambda controller_id, number, time: _streamed.put((controller_id, number, time)))


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


def record(
    controller_id: str, number: int, channel: types.Evidence, time: datetime, detail: str
) -> None:
    """Keeps the first evidence per channel (in the caller's transaction)."""
    _keep_first([_row(controller_id, number, channel, time, detail)])


def _row(
    controller_id: str, number: int, channel: types.Evidence, time: datetime, detail: str
) -> dict[str, Any]:
    return {
        "controller_id": controller_id,
        "notification": number,
        "channel": channel.value,
        "time": time,
        "detail": detail,
    }


def _keep_first(rows: Sequence[dict[str, Any]]) -> None:
    """Inserts the rows, a hundred a statement; a (notice, channel) that
    already has evidence keeps its first."""
    for i in range(0, len(rows), _ROWS_PER_INSERT):
        EvidenceRow.insert_many(rows[i : i + _ROWS_PER_INSERT]).on_conflict_ignore().execute()


_ROWS_PER_INSERT = 100


def drain_streamed() -> int:
    """Stores the stream hand-overs since the last call; returns how many."""
    items: dict[tuple[str, int], datetime] = {}
    while True:
        try:
            controller_id, number, time = _streamed.get_nowait()
        except queue.Empty:
            break
        items.setdefault((controller_id, number), time)
    rows = [
        _row(controller_id, number, types.Evidence.STREAM, time, "Watch stream")
        for (controller_id, number), time in sorted(items.items())
    ]
    if rows:
        # A breach hands a thousand notices to live streams at once: a few
        # statements, not one each.
        with db.transaction():
            _keep_first(rows)
    return len(rows)


def parse_name(name: str, field: str = "name") -> tuple[str, int]:
    """``controllers/{controller_id}/notifications/{n}``."""
    parts = name.split("/")
    ok = len(parts) == 4 and parts[0] == "controllers" and parts[2] == inbox.COLLECTION
    if not ok or not parts[1] or not parts[3].isdigit() or len(parts[3]) > 18:
        raise InvalidArgument.one(
            field, f"must look like controllers/{{controller_id}}/{inbox.COLLECTION}/{{n}}"
        )
    return parts[1], int(parts[3])


def of_notice(caller: Caller, controller_id: str, number: int) -> NoticeEvidence:
    """Every channel by which the notice reached its controller, first time each."""
    name = f"controllers/{controller_id}/{inbox.COLLECTION}/{number}"
    caller.require(controller_id, name)
    found = inbox.after(controller_id, number - 1, 1)
    if not found or found[0].id != number:
        raise NotFound(f"{name} not found")
    notice = found[0]
    e = EvidenceRow
    rows = e.select().where((e.controller_id == controller_id) & (e.notification == number))
    items = [Evidence(types.Evidence(r.channel), r.time, r.detail) for r in rows]
    if notice.ack_time is not None:
        items.append(Evidence(types.Evidence.INBOX_ACK, notice.ack_time, "acknowledged"))
    items.sort(key=lambda x: (x.time, x.channel.value))
    return NoticeEvidence(notice, tuple(items))


def first_deliveries(pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Evidence]:
    """Of these (controller id, notice number) pairs, those that reached their
    controller, each with its earliest evidence over every channel (the read
    API the objection clock of sub-processor changes is started from)."""
    found: dict[tuple[str, int], Evidence] = {}

    def keep(key: tuple[str, int], item: Evidence) -> None:
        current = found.get(key)
        if current is None or (item.time, item.channel.value) < (
            current.time,
            current.channel.value,
        ):
            found[key] = item

    e = EvidenceRow
    for chunk in db.in_chunks(pairs):
        query = e.select(e.controller_id, e.notification, e.channel, e.time, e.detail).where(
            peewee.Tuple(e.controller_id, e.notification).in_(chunk)
        )
        for r in query:
            keep(
                (r.controller_id, int(r.notification)),
                Evidence(types.Evidence(r.channel), r.time, r.detail),
            )
    for key, time in inbox.acknowledged(pairs).items():
        keep(key, Evidence(types.Evidence.INBOX_ACK, time, "acknowledged"))
    return found


def reached(controller_id: str, numbers: Sequence[int]) -> set[int]:
    """Of these notices of the controller, those some stream, webhook or e-mail reached."""
    if not numbers:
        return set()
    e = EvidenceRow
    query = e.select(e.notification).where(
        (e.controller_id == controller_id) & e.notification.in_(list(numbers))
    )
    return {int(i) for i in query.scalars()}
