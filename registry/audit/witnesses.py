"""Witness keys and the cosignatures they give the log's checkpoints.

C2SP ``tlog-witness`` / ``tlog-cosignature``: staff register each witness's
``cosignature/v1`` key (an audited ``log.witness.register`` entry, visible to
every controller). A witness that pulled and cosigned a checkpoint hands it
back in the ``add-checkpoint`` shape; the log accepts a cosignature only for a
checkpoint it signed, with a valid consistency proof from the witness's
previous size, by a registered key. Cosignatures are stored append-only and
served with the checkpoint. They are not audit entries: each would grow the
tree it attests, so no checkpoint could ever be cosigned (docs/adr/0007).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import peewee

from dpa_client.errors import BadSignature, ConsistencyError, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.cosignature import (
    Cosignature,
    CosignatureVerifier,
    split_note,
)
from dpa_client.transparency.note import Checkpoint
from registry import clock, db, ledger
from registry.audit import log, store
from registry.errors import AlreadyExists, InvalidArgument, NotFound

__all__ = [
    "Cosigned",
    "WitnessRecord",
    "add_checkpoint",
    "cosignatures",
    "list_witnesses",
    "register",
]


class WitnessRecord(db.BaseModel):
    name = peewee.TextField(primary_key=True)
    vkey = peewee.TextField(unique=True)
    registered_at = db.UtcDateTimeField()

    class Meta:
        table_name = "witness_key"


class CosignatureRecord(db.BaseModel):
    """One witness's cosignature on the checkpoint of ``size`` (first one kept)."""

    size = peewee.BigIntegerField()
    witness = peewee.TextField()
    line = peewee.TextField()
    timestamp = peewee.BigIntegerField()
    old_size = peewee.BigIntegerField()
    received_at = db.UtcDateTimeField()

    class Meta:
        table_name = "checkpoint_cosignature"
        primary_key = peewee.CompositeKey("size", "witness")


_APPEND_ONLY = ("witness_key", "checkpoint_cosignature")


@db.migration(15, "audit log witnesses and cosignatures")
def _create(database: peewee.Database) -> None:
    database.create_tables([WitnessRecord, CosignatureRecord])
    for table in _APPEND_ONLY:
        if db.is_postgres(database):
            database.execute_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION dpa_append_only()"
            )
            continue
        for op in ("UPDATE", "DELETE"):
            database.execute_sql(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit log tables are append-only'); END"
            )


@dataclass(frozen=True)
class Witness:
    name: str
    vkey: str
    registered_at: datetime


def _witness(row: WitnessRecord) -> Witness:
    return Witness(row.name, row.vkey, row.registered_at)


def register(m: ledger.Mutation, vkey: str) -> Witness:
    """Registers a witness key (inside the write path)."""
    try:
        verifier = CosignatureVerifier.from_vkey(vkey)
    except VerificationError as err:
        raise InvalidArgument.one("vkey", str(err)) from err
    if WitnessRecord.get_or_none(WitnessRecord.name == verifier.name) is not None:
        raise AlreadyExists(f"a witness named {verifier.name} is registered")
    if WitnessRecord.get_or_none(WitnessRecord.vkey == verifier.vkey) is not None:
        raise AlreadyExists("that witness key is registered")
    m.record(
        "log.witness.register",
        f"log/witnesses/{verifier.name}",
        None,
        {"vkey": verifier.vkey},
    )
    WitnessRecord.insert(name=verifier.name, vkey=verifier.vkey, registered_at=m.now).execute()
    return Witness(verifier.name, verifier.vkey, m.now)


def list_witnesses() -> list[Witness]:
    return [_witness(r) for r in WitnessRecord.select().order_by(WitnessRecord.name)]


def _verifiers() -> list[CosignatureVerifier]:
    return [CosignatureVerifier.from_vkey(w.vkey) for w in WitnessRecord.select()]


@dataclass(frozen=True)
class Cosigned:
    """A stored checkpoint's cosignatures, oldest first."""

    lines: tuple[Cosignature, ...]

    def append_to(self, note: str) -> str:
        return note + "".join(c.line + "\n" for c in self.lines)


def cosignatures(size: int) -> Cosigned:
    rows = (
        CosignatureRecord.select()
        .where(CosignatureRecord.size == size)
        .order_by(CosignatureRecord.received_at, CosignatureRecord.witness)
    )
    return Cosigned(tuple(Cosignature(r.witness, b"", int(r.timestamp), str(r.line)) for r in rows))


def checkpoint_at(size: int) -> log.Signed | None:
    """The checkpoint this log signed at ``size``, if it signed one."""
    row = log.CheckpointRecord.get_or_none(log.CheckpointRecord.size == size)
    return None if row is None else log.Signed(row.note, Checkpoint.parse(split_note(row.note)[0]))


def add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> int:
    """Verifies and stores the cosignatures on ``note`` (see module doc); returns
    the checkpoint's size."""
    try:
        body, lines = split_note(note)
        offered = Checkpoint.parse(body)
    except VerificationError as err:
        raise InvalidArgument.one("checkpoint", str(err)) from err
    signed = checkpoint_at(offered.size)
    if signed is None or signed.checkpoint.body() != body:
        raise NotFound(f"this log signed no checkpoint {offered.size} with that root hash")
    if not 0 <= old_size <= offered.size:
        raise InvalidArgument.one("old_size", f"must be between 0 and {offered.size}")
    if old_size > 0:
        nodes = store.StoredNodes()
        try:
            merkle.verify_consistency(
                old_size, offered.size, proof, merkle.root_hash(old_size, nodes), offered.root_hash
            )
        except ConsistencyError as err:
            raise InvalidArgument.one("consistency_proof", str(err)) from err
    elif proof:
        raise InvalidArgument.one("consistency_proof", "must be empty when old_size is 0")
    found: dict[str, Cosignature] = {}
    for v in _verifiers():
        for line in lines:
            try:
                cosig = v.verify_line(body, line)
            except (BadSignature, VerificationError) as err:
                raise InvalidArgument.one("checkpoint", str(err)) from err
            if cosig is not None:
                found.setdefault(v.name, cosig)
    if not found:
        raise InvalidArgument.one("checkpoint", "carries no cosignature by a registered witness")
    now = clock.now()
    with db.transaction():
        for cosig in found.values():
            CosignatureRecord.insert(
                size=offered.size,
                witness=cosig.name,
                line=cosig.line,
                timestamp=cosig.timestamp,
                old_size=old_size,
                received_at=now,
            ).on_conflict_ignore().execute()
    return offered.size
