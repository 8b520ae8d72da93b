"""C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), Ed25519 ``cosignature/v1``.

A cosignature is a signed-note signature line on a checkpoint by a *witness*:
``— <name> base64(key ID || timestamp || signature)``, where the key ID is
``SHA-256(name || 0x0A || 0x04 || public key)[:4]``, the timestamp is a
big-endian u64 of POSIX seconds, and the Ed25519 signature covers
``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint body``. A verifier key
is written ``<name>+<hex key ID>+<base64(0x04 || public key)>``.

Pure code: no I/O, no clock (the caller passes the time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dpa_client.errors import BadSignature, VerificationError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "cosignature_key_id",
    "signed_message",
    "split_note",
    "verify_cosignatures",
]

ALG_COSIGNATURE_V1 = 0x04
_SIG_PREFIX = "\u2014 "
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_MAX_TIMESTAMP = (1 << 63) - 1
_LINE_BYTES = 4 + 8 + 64


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerificationError(f"bad base64 {text!r}") from e
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"non-canonical base64 {text!r}")
    return raw


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public key)[:4]``."""
    data = name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    return hashlib.sha256(data).digest()[:4]


def signed_message(body: str, timestamp: int) -> bytes:
    """The bytes a ``cosignature/v1`` signs: header, time line, checkpoint body."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError("cosignature timestamp out of range")
    if not body.endswith("\n"):
        raise ValueError("checkpoint body must end with a newline")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's text (with its final newline) and its signature lines."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise VerificationError("malformed note: no signatures")
    return note[: split + 1], note[split + 2 : -1].split("\n")


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Cosignature:
    """One valid cosignature: who, and the time it claims."""

    name: str
    key_id: bytes
    timestamp: int
    line: str


class CosignatureVerifier:
    """A witness's public key, as a verifier of its cosignatures."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        if not _valid_name(name):
            raise ValueError(f"invalid witness name {name!r}")
        self.name = name
        self.public_key = public_key
        self.key_id = cosignature_key_id(name, _raw(public_key))

    @property
    def vkey(self) -> str:
        raw = bytes([ALG_COSIGNATURE_V1]) + _raw(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parses ``<name>+<hex key ID>+<base64(0x04 || key)>``; raises VerificationError."""
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]) or not _HEX_ID.fullmatch(parts[1]):
            raise VerificationError(f"malformed witness key {vkey!r}")
        raw = _b64decode(parts[2])
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise VerificationError(f"not a cosignature/v1 Ed25519 key: {vkey!r}")
        try:
            verifier = cls(parts[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
        except ValueError as e:
            raise VerificationError(f"bad Ed25519 key in {vkey!r}") from e
        if verifier.key_id.hex() != parts[1]:
            raise VerificationError(f"witness key {vkey!r} has the wrong key ID")
        return verifier

    def verify_line(self, body: str, line: str) -> Cosignature | None:
        """The cosignature if ``line`` is this witness's and valid; None if it is not
        this witness's line; raises BadSignature if it is but does not verify."""
        if not line.startswith(_SIG_PREFIX):
            raise VerificationError(f"malformed signature line {line!r}")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or name != self.name:
            return None
        raw = _b64decode(b64)
        if raw[:4] != self.key_id:
            return None
        if len(raw) != _LINE_BYTES:
            raise BadSignature(f"cosignature by {self.name} has the wrong length")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise BadSignature(f"cosignature by {self.name} has an invalid timestamp")
        try:
            self.public_key.verify(raw[12:], signed_message(body, timestamp))
        except InvalidSignature:
            raise BadSignature(f"invalid cosignature by {self.name}") from None
        return Cosignature(self.name, self.key_id, timestamp, line)

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.vkey!r})"


class Cosigner:
    """A witness's signing key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key())

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def name(self) -> str:
        return self.verifier.name

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def cosign(self, body: str, timestamp: int) -> str:
        """The signature line (ending in a newline) cosigning checkpoint ``body``."""
        signature = self.private_key.sign(signed_message(body, timestamp))
        raw = self.verifier.key_id + timestamp.to_bytes(8, "big") + signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


def verify_cosignatures(
    note: str, verifiers: Sequence[CosignatureVerifier]
) -> dict[str, Cosignature]:
    """Valid cosignatures on ``note`` by the given witnesses, by witness name.

    Lines by other keys (the log's own signature, unknown witnesses) are
    ignored; a line by a given witness that does not verify raises BadSignature.
    """
    body, lines = split_note(note)
    found: dict[str, Cosignature] = {}
    for line in lines:
        for v in verifiers:
            cosig = v.verify_line(body, line)
            if cosig is not None:
                found.setdefault(v.name, cosig)
    return found
