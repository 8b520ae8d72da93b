"""The signed audit log: the *publish* stage, proofs, keys and visibility.

Checkpoints are C2SP ``tlog-checkpoint`` bodies signed as C2SP signed notes
with the active Ed25519 key (``registry.keys``). Before signing a new
checkpoint the log proves it consistent (RFC 9162 2.1.4) with the newest one
it signed, so it never signs two inconsistent checkpoints. Signing key changes
are log entries themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

import peewee

from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, sign_checkpoint
from registry import changefeed, clock, db, keys, ledger
from registry.audit import store
from registry.auth import Caller, Role
from registry.errors import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger(__name__)


class CheckpointRecord(db.BaseModel):
    size = peewee.BigIntegerField(primary_key=True)
    root_hash = peewee.BlobField()
    note = peewee.TextField()
    vkey = peewee.TextField()
    created_at = db.UtcDateTimeField()

    class Meta:
        table_name = "checkpoint"


class LogKey(db.BaseModel):
    vkey = peewee.TextField(primary_key=True)
    activated_index = peewee.BigIntegerField()
    activate_time = db.UtcDateTimeField()


_APPEND_ONLY = ("audit_event", "merkle_node", "checkpoint", "log_key")


@db.migration(11, "audit log checkpoints, keys, append-only triggers")
def _create(database: peewee.Database) -> None:
    database.create_tables([CheckpointRecord, LogKey])
    if db.is_postgres(database):
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION dpa_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit log tables are append-only (%%)', TG_TABLE_NAME; "
            "END $$ LANGUAGE plpgsql"
        )
        for table in _APPEND_ONLY:
            database.execute_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION dpa_append_only()"
            )
    else:
        for table in _APPEND_ONLY:
            for op in ("UPDATE", "DELETE"):
                database.execute_sql(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit log tables are append-only'); END"
                )


@dataclass(frozen=True)
class Signed:
    note: str
    checkpoint: Checkpoint


def latest_checkpoint() -> Signed:
    """The newest signed checkpoint, signing one first if the log has grown."""
    size = store.size()
    last = CheckpointRecord.select().order_by(CheckpointRecord.size.desc()).first()
    if last is not None and last.size == size:
        return _signed(last)
    with db.transaction():
        return _publish()


def newest_checkpoint_time() -> datetime | None:
    """When the newest checkpoint was signed; None before the first (for metrics)."""
    row = (
        CheckpointRecord.select(CheckpointRecord.created_at)
        .order_by(CheckpointRecord.size.desc())
        .first()
    )
    return None if row is None else row.created_at


def _signed(row: CheckpointRecord) -> Signed:
    """A stored checkpoint with the origin it was signed with (its note's first line)."""
    origin = str(row.note).split("\n", 1)[0]
    return Signed(row.note, Checkpoint(origin, int(row.size), bytes(row.root_hash)))


def _publish() -> Signed:
    """Signs a checkpoint at the current size; runs in a write transaction."""
    size = store.size()
    last = CheckpointRecord.select().order_by(CheckpointRecord.size.desc()).first()
    if last is not None and last.size >= size:
        return _signed(last)
    nodes = store.StoredNodes()
    root = merkle.root_hash(size, nodes)
    if last is not None and last.size > 0:
        proof = merkle.consistency_proof(int(last.size), size, nodes)
        # Raises ConsistencyError: the stored tree no longer extends what was signed.
        merkle.verify_consistency(int(last.size), size, proof, bytes(last.root_hash), root)
    key = keys.active()
    checkpoint = Checkpoint(key.name, size, root)
    note = sign_checkpoint(checkpoint, key.signer)
    CheckpointRecord.insert(
        size=size, root_hash=root, note=note, vkey=key.vkey, created_at=clock.now()
    ).on_conflict_ignore().execute()
    return Signed(note, checkpoint)


def list_checkpoints(after_size: int, limit: int) -> list[Signed]:
    rows = (
        CheckpointRecord.select()
        .where(CheckpointRecord.size > after_size)
        .order_by(CheckpointRecord.size)
        .limit(limit)
    )
    return [_signed(row) for row in rows]


def log_keys() -> list[LogKey]:
    return list(LogKey.select().order_by(LogKey.activated_index))


class _AlreadyCurrent(Exception):
    pass


def _current_key() -> LogKey | None:
    row: LogKey | None = LogKey.select().order_by(LogKey.activated_index.desc()).first()
    return row


def check_origin() -> None:
    """Refuses a signing key whose name (the checkpoint origin) is not the log's.

    An origin names one log: signing an existing log's checkpoints under
    another would relabel it, and verifiers pinned to the old origin would
    reject every new checkpoint.
    """
    current = _current_key()
    if current is None:
        return
    origin = str(current.vkey).split("+", 1)[0]
    configured = keys.active().name
    if origin != configured:
        raise FailedPrecondition(
            f"this audit log's origin is {origin!r}, not {configured!r}: start with "
            f"--log-origin {origin} (an origin names one log and cannot change)"
        )


def record_active_key(caller: Caller) -> None:
    """Makes the configured signing key the log's current key (start-up).

    A key the log has not seen is recorded as a log entry ("log.key.init" for
    the first, "log.key.rotate" after), so a rotation is itself auditable;
    checkpoints signed earlier keep verifying with the keys that signed them.
    """
    check_origin()
    key = keys.active()
    current = _current_key()
    if current is not None and current.vkey == key.vkey:
        return

    def apply(m: ledger.Mutation) -> None:
        # Decided under the write lock: several processes may start at once,
        # and one of them may have recorded this very key a moment ago.
        store.lock_head()
        previous = _current_key()
        if previous is not None and previous.vkey == key.vkey:
            raise _AlreadyCurrent
        if LogKey.select().where(LogKey.vkey == key.vkey).exists():
            raise FailedPrecondition("the configured signing key was retired; it cannot sign again")
        action = "log.key.init" if previous is None else "log.key.rotate"
        change = {"vkey": key.vkey, "previous": previous.vkey if previous else None}
        m.record(action, f"log/keys/{key.signer.key_id.hex()}", None, change)
        LogKey.insert(vkey=key.vkey, activated_index=store.size(), activate_time=m.now).execute()

    try:
        ledger.mutate(caller, "log.key", "", "", ledger.NOTHING, apply)
    except _AlreadyCurrent:
        return
    with db.transaction():
        _publish()
    log.info("audit log signing key is now %s", key.vkey)


Visibility = Callable[[Caller, Collection[str]], set[str]]
"""Of processor-wide resource names, those the caller may see
(``registry.visibility.visible_resources``)."""


def _visible(caller: Caller, tenant: str | None, resource: str, sees: Visibility) -> bool:
    if tenant is not None:
        return caller.sees(tenant)
    return resource in sees(caller, [resource])


def list_entries(
    caller: Caller, start: int, limit: int, sees: Visibility
) -> tuple[list[tuple[int, bytes]], int]:
    """Visible entries from ``start`` on; returns them and where to go on.

    A controller sees its own entries and the processor-wide ones whose
    resource it may see; a page may hold fewer than ``limit`` entries, and
    ``next_index`` says where the next one starts.
    """
    if start < 0:
        raise InvalidArgument.one("start_index", "must not be negative")
    size = store.size()
    e = store.AuditEvent
    query = (
        e.select(e.seq, e.tenant, e.resource, e.body)
        .where(e.seq >= start, e.seq < size)
        .order_by(e.seq)
        .limit(limit)
    )
    if caller.role is Role.CONTROLLER:
        query = query.where((e.tenant == caller.tenant) | e.tenant.is_null())
    scanned = [(int(r.seq), r.tenant, str(r.resource), bytes(r.body)) for r in query]
    shared = sees(caller, {resource for _, tenant, resource, _ in scanned if tenant is None})
    rows = [
        (seq, body)
        for seq, tenant, resource, body in scanned
        if (caller.sees(tenant) if tenant is not None else resource in shared)
    ]
    next_index = scanned[-1][0] + 1 if len(scanned) == limit else size
    return rows, next_index


def _check_sizes(first: int, second: int, first_field: str, second_field: str) -> None:
    size = store.size()
    if first < 0:
        raise InvalidArgument.one(first_field, "must not be negative")
    if second > size:
        raise InvalidArgument.one(second_field, f"is larger than the log ({size})")
    if first > second:
        raise InvalidArgument.one(first_field, f"must not exceed {second_field}")


def inclusion_proof(caller: Caller, index: int, tree_size: int, sees: Visibility) -> list[bytes]:
    _check_sizes(index, tree_size, "index", "tree_size")
    if index >= tree_size:
        raise InvalidArgument.one("index", "must be smaller than tree_size")
    row = (
        store.AuditEvent.select(store.AuditEvent.tenant, store.AuditEvent.resource)
        .where(store.AuditEvent.seq == index)
        .first()
    )
    if row is None or not _visible(caller, row.tenant, str(row.resource), sees):
        raise NotFound(f"no audit entry {index}")
    return merkle.inclusion_proof(index, tree_size, store.StoredNodes())


def consistency_proof(first: int, second: int) -> list[bytes]:
    _check_sizes(first, second, "first_size", "second_size")
    return merkle.consistency_proof(first, second, store.StoredNodes())


changefeed.publishes_all_under("log")(changefeed.ignore)
