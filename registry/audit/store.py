"""Audit-log storage: the *sequence* and *integrate* stages.

``append`` gives each event the next index of one contiguous sequence and
stores the RFC 9162 hash of every perfect subtree it completes, in the
caller's transaction. The head row is locked (``FOR UPDATE`` on PostgreSQL; the
SQLite write transaction is already exclusive), so several server processes on
one database append with no gap and no duplicate. Proofs are then built from
O(log n) stored subtree hashes, never by rehashing the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import peewee

from dpa_client.transparency import merkle
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


class MerkleNode(db.BaseModel):
    """Hash of the perfect subtree (level, index), keyed ``level << 56 | index``."""

    key = peewee.BigIntegerField(primary_key=True)
    hash = peewee.BlobField()


def node_key(level: int, index: int) -> int:
    return (level << 56) | index


class StoredNodes:
    """``merkle.NodeReader`` over the node table: one query per call."""

    def get_nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        if not coords:
            return []
        keys = [node_key(level, index) for level, index in coords]
        wanted = sorted(set(keys))
        found = {
            int(key): bytes(value)
            for key, value in db.execute(_nodes_sql(len(wanted)), tuple(wanted)).fetchall()
        }
        missing = [c for c, k in zip(coords, keys, strict=True) if k not in found]
        if missing:
            raise LookupError(f"audit log tree nodes missing: {missing[:3]}")
        return [found[k] for k in keys]


@db.migration(10, "audit log merkle nodes")
def _create_nodes(database: peewee.Database) -> None:
    database.create_tables([MerkleNode])


_HEAD = "SELECT size FROM log_head WHERE id = 1"
_SET_HEAD = "UPDATE log_head SET size = %s WHERE id = 1"
_nodes_sql_by_count: dict[tuple[str, int], str] = {}


def _nodes_sql(count: int) -> str:
    """``SELECT key, hash FROM merkle_node WHERE key IN (...)`` for ``count``
    keys, built once per count and parameter style."""
    param = str(db.database.param)
    sql = _nodes_sql_by_count.get((param, count))
    if sql is None:
        marks = ", ".join(param for _ in range(count))
        sql = f"SELECT key, hash FROM merkle_node WHERE key IN ({marks})"  # noqa: S608 - no input
        _nodes_sql_by_count[param, count] = sql
    return sql


# The head and its frontier, the stored subtree (l, (size >> l) - 1) for
# every bit l set in the size: every left sibling an append may need.
_HEAD_AND_FRONTIER = (
    "SELECT h.size, f.keys, f.hashes FROM log_head h, LATERAL ("
    "SELECT array_agg(n.key ORDER BY n.key) AS keys, array_agg(n.hash ORDER BY n.key) AS hashes "
    "FROM merkle_node n WHERE n.key IN ("
    "SELECT (l::bigint << 56) | ((h.size >> l) - 1) FROM generate_series(0, 62) AS l "
    "WHERE ((h.size >> l) & 1) = 1)) AS f "
    "WHERE h.id = 1 FOR UPDATE OF h"
)


def _lock() -> tuple[int, dict[int, bytes]]:
    """The locked head and what is known of its frontier (key -> hash).

    The first call in a write transaction takes what the transaction opened
    with (``db.open_every_write_with``, PostgreSQL): read under the write
    lock, and nothing in the transaction can have moved the head yet, since
    only ``append`` does and it asks here first. Otherwise one query."""
    opened = db.opening_row()
    if opened is not None:
        size, keys, hashes = opened
        return int(size), dict(zip(keys or (), map(bytes, hashes or ()), strict=True))
    ((size,),) = db.execute(_HEAD + " FOR UPDATE" if db.is_postgres() else _HEAD).fetchall()
    return int(size), {}


def lock_head() -> int:
    """Locks the head row for this transaction; returns the log size."""
    return _lock()[0]


# Every write appends: on PostgreSQL it reads the head and its frontier in the
# round trip that takes the write lock.
db.open_every_write_with(_HEAD_AND_FRONTIER)


class _KnownNodes:
    """``merkle.NodeReader`` over nodes already read in this transaction,
    falling back to the node table for any other."""

    def __init__(self, known: dict[int, bytes]) -> None:
        self._known = known

    def get_nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        keys = [node_key(level, index) for level, index in coords]
        if all(k in self._known for k in keys):
            return [self._known[k] for k in keys]
        return StoredNodes().get_nodes(coords)


def append(changes: Sequence[Change], actor: str, request_id: str, time: datetime) -> list[Event]:
    """Appends one event per change; must run inside a write transaction."""
    start, frontier = _lock()
    events = [
        make_event(start + i, time, actor, request_id, change) for i, change in enumerate(changes)
    ]
    bodies = [e.canonical_bytes() for e in events]
    naive = time.astimezone(UTC).replace(tzinfo=None)
    leaves = [merkle.leaf_hash(body) for body in bodies]
    nodes = merkle.append_batch(start, leaves, _KnownNodes(frontier))
    # Entries, tree nodes and the new head: one round trip on PostgreSQL.
    db.write_rows(
        [
            (
                "audit_event",
                ("seq", "time", "actor", "tenant", "action", "resource", "body"),
                [
                    (e.seq, naive, e.actor, e.tenant, e.action, e.resource, body)
                    for e, body in zip(events, bodies, strict=True)
                ],
            ),
            (
                "merkle_node",
                ("key", "hash"),
                [(node_key(level, index), digest) for level, index, digest in nodes],
            ),
        ],
        then=(_SET_HEAD, (start + len(events),)),
    )
    return events


def size() -> int:
    ((found,),) = db.execute(_HEAD).fetchall()
    return int(found)


def entries_under(roots: Sequence[str], end: int) -> dict[str, list[int]]:
    """Resource -> indices of its entries below ``end``, for every resource
    equal to or under one of ``roots`` (``"controllers/acme"``, ``"measures"``):
    which entries a document built from those resources comes from."""
    e = AuditEvent
    found: dict[str, set[int]] = {}
    wanted = sorted(set(roots))
    for i in range(0, len(wanted), _ROOTS_PER_QUERY):
        chunk = wanted[i : i + _ROOTS_PER_QUERY]
        where = (e.resource == chunk[0]) | e.resource.startswith(chunk[0] + "/")
        for root in chunk[1:]:
            where = where | (e.resource == root) | e.resource.startswith(root + "/")
        query = e.select(e.seq, e.resource).where((e.seq < end) & where).tuples()
        for seq, resource in cast("list[tuple[int, str]]", list(query)):
            found.setdefault(str(resource), set()).add(int(seq))
    return {resource: sorted(seqs) for resource, seqs in found.items()}


_ROOTS_PER_QUERY = 40
"""Bounded OR chains: SQLite's parser overflows on a few hundred."""


def bodies(indices: Sequence[int]) -> dict[int, bytes]:
    """Index -> the entry's exact canonical bytes."""
    e = AuditEvent
    result: dict[int, bytes] = {}
    wanted = sorted(set(indices))
    for i in range(0, len(wanted), 500):
        query = e.select(e.seq, e.body).where(e.seq.in_(wanted[i : i + 500])).tuples()
        for seq, body in cast("list[tuple[int, bytes]]", list(query)):
            result[int(seq)] = bytes(body)
    return result


def events_between(first: int, end: int) -> list[tuple[str | None, str]]:
    """(tenant, resource) of the events with index in [first, end): the change
    feed derived views read (``registry.changefeed``)."""
    query = (
        AuditEvent.select(AuditEvent.tenant, AuditEvent.resource)
        .where((AuditEvent.seq >= first) & (AuditEvent.seq < end))
        .order_by(AuditEvent.seq)
        .tuples()
    )
    rows = cast("list[tuple[str | None, str]]", list(query))
    return [(tenant, str(resource)) for tenant, resource in rows]


def steps(resources: Sequence[str]) -> list[tuple[int, str, str]]:
    """(index, action, resource) of every event about the named resources, in
    log order: the audit-log proof of each step of a multi-step process."""
    if not resources:
        return []
    query = (
        AuditEvent.select(AuditEvent.seq, AuditEvent.action, AuditEvent.resource)
        .where(AuditEvent.resource.in_(sorted(set(resources))))
        .order_by(AuditEvent.seq)
        .tuples()
    )
    rows = cast("list[tuple[int, str, str]]", list(query))
    return [(int(seq), str(action), str(resource)) for seq, action, resource in rows]


def first_index_of(resource: str) -> int | None:
    """The index of the first event about ``resource`` (a notice's audit index)."""
    seq = (
        AuditEvent.select(peewee.fn.MIN(AuditEvent.seq))
        .where(AuditEvent.resource == resource)
        .scalar()
    )
    return int(seq) if seq is not None else None


def last_processor_wide_index_of(resource: str) -> int | None:
    """The index of the newest processor-wide (tenant-less) event about
    ``resource``: one that may be shown to anyone who may see the resource."""
    seq = (
        AuditEvent.select(peewee.fn.MAX(AuditEvent.seq))
        .where((AuditEvent.resource == resource) & AuditEvent.tenant.is_null())
        .scalar()
    )
    return int(seq) if seq is not None else None


def body_at(index: int) -> bytes:
    """The exact canonical bytes of the event at ``index``."""
    row = AuditEvent.select(AuditEvent.body).where(AuditEvent.seq == index).first()
    if row is None:
        raise LookupError(f"no audit event {index}")
    return bytes(row.body)
