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
    """Single row (id=1): the number of events in the log, and the hashes of
    the tree's frontier as of ``frontier_size`` (see ``_frontier_of``)."""

    id = peewee.IntegerField(primary_key=True)
    size = peewee.BigIntegerField()
    frontier_size = peewee.BigIntegerField(null=True)
    frontier = peewee.BlobField(null=True)


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
            for key, value in db.execute(db.sql(_NODES, len(wanted)), tuple(wanted)).fetchall()
        }
        missing = [c for c, k in zip(coords, keys, strict=True) if k not in found]
        if missing:
            raise LookupError(f"audit log tree nodes missing: {missing[:3]}")
        return [found[k] for k in keys]


@db.migration(10, "audit log merkle nodes")
def _create_nodes(database: peewee.Database) -> None:
    database.create_tables([MerkleNode])


@db.migration(165, "audit log frontier kept with the head")
def _head_frontier(database: peewee.Database) -> None:
    # Existing logs read their frontier from the node table once, at the
    # next append, which then keeps it here. (A new database has the columns
    # from migration 1, which creates today's table.)
    if "frontier" in {c.name for c in database.get_columns("log_head")}:
        return
    database.execute_sql("ALTER TABLE log_head ADD COLUMN frontier_size BIGINT")
    blob = "BYTEA" if db.is_postgres(database) else "BLOB"
    database.execute_sql(f"ALTER TABLE log_head ADD COLUMN frontier {blob}")


_HEAD = "SELECT size FROM log_head WHERE id = 1"
_HEAD_AND_FRONTIER = "SELECT size, frontier_size, frontier FROM log_head WHERE id = 1"
_SET_HEAD = "UPDATE log_head SET size = %s, frontier_size = %s, frontier = %s WHERE id = 1"
_NODES = "SELECT key, hash FROM merkle_node WHERE key IN ({marks})"


def _frontier_of(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees (level, index) that make up a tree of ``size``
    leaves, highest first: one per bit set in the size. They are every left
    sibling an append may need, and every node of the next frontier that the
    append does not complete itself."""
    return [
        (level, (size >> level) - 1)
        for level in range(size.bit_length() - 1, -1, -1)
        if (size >> level) & 1
    ]


_LOCK_HEAD = _HEAD_AND_FRONTIER + " FOR UPDATE"
# Every write appends: on PostgreSQL it reads the head and its frontier in the
# round trip that takes the write lock.
db.open_every_write_with(_LOCK_HEAD)


def _lock() -> tuple[int, dict[tuple[int, int], bytes]]:
    """The locked head and its frontier, (level, index) -> hash.

    The first call in a write transaction takes the row the transaction
    opened with (``db.open_every_write_with``, PostgreSQL): read under the
    write lock, and nothing in the transaction can have moved the head yet,
    since only ``append`` does and it asks here first. Otherwise one query.
    A frontier stored for another size than the head's (a log written before
    the frontier was kept, or a head moved by hand) is read from the node
    table instead."""
    row = db.opening_row()
    if row is None:
        ((*row,),) = db.execute(_LOCK_HEAD if db.is_postgres() else _HEAD_AND_FRONTIER).fetchall()
    size, frontier_size, packed = int(row[0]), row[1], row[2]
    coords = _frontier_of(size)
    if frontier_size == size and packed is not None and len(packed) == 32 * len(coords):
        hashes = [bytes(packed[32 * i : 32 * i + 32]) for i in range(len(coords))]
    else:
        hashes = list(StoredNodes().get_nodes(coords))
    return size, dict(zip(coords, hashes, strict=True))


def lock_head() -> int:
    """Locks the head row for this transaction; returns the log size."""
    return _lock()[0]


def append(changes: Sequence[Change], actor: str, request_id: str, time: datetime) -> list[Event]:
    """Appends one event per change; must run inside a write transaction."""
    start, frontier = _lock()
    events = [
        make_event(start + i, time, actor, request_id, change) for i, change in enumerate(changes)
    ]
    bodies = [e.canonical_bytes() for e in events]
    naive = time.astimezone(UTC).replace(tzinfo=None)
    leaves = [merkle.leaf_hash(body) for body in bodies]
    nodes = merkle.append_batch(start, leaves, merkle.MemoryNodes(frontier))
    end = start + len(events)
    known = frontier | {(level, index): digest for level, index, digest in nodes}
    packed = b"".join(known[c] for c in _frontier_of(end))
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
        then=(_SET_HEAD, (end, end, packed)),
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
    for chunk in db.in_chunks(indices):
        query = e.select(e.seq, e.body).where(e.seq.in_(chunk)).tuples()
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
