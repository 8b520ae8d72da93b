"""Audit-log storage: the *sequence* stage.

``append`` gives each event the next index of one contiguous sequence, in the
caller's transaction. The head row is locked (``FOR UPDATE`` on PostgreSQL; the
SQLite write transaction is already exclusive), so several server processes on
one database append with no gap and no duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import peewee

from registry import db
from registry.audit.events import Change, Event, make_event


class LogHead(db.BaseModel):
    """Single row (id=1): the number of events in the log."""

    id = peewee.IntegerField(primary_key=True)
    size = peewee.BigIntegerField()


class AuditEvent(db.BaseModel):
    """One log entry. ``body`` holds the exact canonical bytes, never updated."""

    seq = peewee.BigIntegerField(primary_key=True)
    time = db.UtcDateTimeField()
    actor = peewee.TextField()
    tenant = peewee.TextField(null=True, index=True)
    action = peewee.TextField()
    resource = peewee.TextField(index=True)
    body = peewee.BlobField()


@db.migration(1, "audit log")
def _create(database: peewee.Database) -> None:
    database.create_tables([LogHead, AuditEvent])
    LogHead.insert(id=1, size=0).execute()


def _lock_head() -> int:
    if db.is_postgres():
        cursor = db.execute("SELECT size FROM log_head WHERE id = 1 FOR UPDATE")
        return int(cursor.fetchone()[0])
    return int(LogHead.select(LogHead.size).where(LogHead.id == 1).scalar())


def append(changes: Sequence[Change], actor: str, request_id: str, time: datetime) -> list[Event]:
    """Appends one event per change; must run inside a write transaction."""
    start = _lock_head()
    events = [
        make_event(start + i, time, actor, request_id, change) for i, change in enumerate(changes)
    ]
    rows = [
        {
            "seq": e.seq,
            "time": e.time,
            "actor": e.actor,
            "tenant": e.tenant,
            "action": e.action,
            "resource": e.resource,
            "body": e.canonical_bytes(),
        }
        for e in events
    ]
    for i in range(0, len(rows), 500):
        AuditEvent.insert_many(rows[i : i + 500]).execute()
    LogHead.update(size=start + len(events)).where(LogHead.id == 1).execute()
    return events


def size() -> int:
    return int(LogHead.select(LogHead.size).where(LogHead.id == 1).scalar())
