"""The audit log (a transparency log): its keys, checkpoints, entries and witnesses.

Frozen values built from the wire messages of ``audit.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dpa_client.types._convert import time_of
from dpa_registry_api.v1 import audit_pb2 as pb


@dataclass(frozen=True, slots=True, kw_only=True)
class LogKey:
    """A key that signs the audit log's checkpoints, from the entry it signs on."""

    vkey: str
    """C2SP verifier key: "<name>+<hex key id>+<base64 key>"."""
    activated_index: int
    """Audit index of the entry that recorded this key taking over."""
    activate_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.LogKey) -> LogKey:
        """The value of a ``dpa.registry.v1.LogKey`` message."""
        return cls(
            vkey=msg.vkey,
            activated_index=msg.activated_index,
            activate_time=time_of(msg, "activate_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LogInfo:
    """The audit log's origin, size and signing keys."""

    origin: str
    keys: tuple[LogKey, ...]
    """Oldest first; the last one signs new checkpoints."""
    size: int

    @classmethod
    def from_proto(cls, msg: pb.LogInfo) -> LogInfo:
        """The value of a ``dpa.registry.v1.LogInfo`` message."""
        return cls(
            origin=msg.origin,
            keys=tuple(LogKey.from_proto(v) for v in msg.keys),
            size=msg.size,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Cosignature:
    """A witness's cosignature on a checkpoint."""

    witness: str
    """The witness's key name."""
    line: str
    """The signature line, "— <name> <base64>", without the newline."""
    timestamp: int
    """The time the witness claims, POSIX seconds."""

    @classmethod
    def from_proto(cls, msg: pb.Cosignature) -> Cosignature:
        """The value of a ``dpa.registry.v1.Cosignature`` message."""
        return cls(
            witness=msg.witness,
            line=msg.line,
            timestamp=msg.timestamp,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    """A signed checkpoint of the audit log (C2SP signed note), with cosignatures."""

    note: str
    """The C2SP signed note, byte for byte as signed."""
    origin: str
    size: int
    root_hash: bytes
    cosignatures: tuple[Cosignature, ...]
    """Cosignatures by registered witnesses collected so far, oldest first."""
    cosigned_note: str
    """The note with every collected cosignature line appended (C2SP form)."""

    @classmethod
    def from_proto(cls, msg: pb.SignedCheckpoint) -> SignedCheckpoint:
        """The value of a ``dpa.registry.v1.SignedCheckpoint`` message."""
        return cls(
            note=msg.note,
            origin=msg.origin,
            size=msg.size,
            root_hash=msg.root_hash,
            cosignatures=tuple(Cosignature.from_proto(v) for v in msg.cosignatures),
            cosigned_note=msg.cosigned_note,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WitnessKey:
    """A registered witness and its cosignature/v1 verifier key."""

    name: str
    vkey: str
    register_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.WitnessKey) -> WitnessKey:
        """The value of a ``dpa.registry.v1.WitnessKey`` message."""
        return cls(
            name=msg.name,
            vkey=msg.vkey,
            register_time=time_of(msg, "register_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One audit-log entry: its index and the exact bytes that were hashed."""

    index: int
    body: bytes
    """The exact canonical (RFC 8785) bytes hashed into the leaf."""

    @classmethod
    def from_proto(cls, msg: pb.Entry) -> Entry:
        """The value of a ``dpa.registry.v1.Entry`` message."""
        return cls(
            index=msg.index,
            body=msg.body,
        )
