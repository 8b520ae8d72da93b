"""C2SP signed-note (https://c2sp.org/signed-note) and tlog-checkpoint, Ed25519 only.

A signed note is its text (ending in a newline), a blank line, then one or more
lines ``— <key name> <base64(4-byte key ID || signature)>``.  An Ed25519 key ID
is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a verifier key is
written ``<name>+<hex key ID>+<base64(0x01 || public key)>``.

A checkpoint (https://c2sp.org/tlog-checkpoint) is a note whose text is
``<origin>\\n<tree size>\\n<base64 root hash>\\n``; extension lines are refused.
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
    "ALG_ED25519",
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "VerifiedNote",
    "key_id",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
]

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
_SIG_PREFIX = "\u2014 "  # em dash, space
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_SKEY_PREFIX = "PRIVATE+KEY+"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise ValueError(f"invalid key name {name!r}")


def _b64decode(text: str) -> bytes:
    """Strict standard base64: padded, canonical, nothing else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerificationError(f"bad base64 {text!r}") from e
    if base64.b64encode(raw).decode() != text:
        raise VerificationError(f"non-canonical base64 {text!r}")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class NoteVerifier:
    """An Ed25519 verifier key of a signed note."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, _raw_public(public_key))

    @property
    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
        raw = bytes([ALG_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{_b64(raw)}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key; raises VerificationError if it is malformed."""
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]) or not _HEX_ID.fullmatch(parts[1]):
            raise VerificationError(f"malformed verifier key {vkey!r}")
        name, hex_id, b64 = parts
        raw = _b64decode(b64)
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise VerificationError(f"not an Ed25519 verifier key: {vkey!r}")
        try:
            verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        except ValueError as e:
            raise VerificationError(f"bad Ed25519 key in {vkey!r}") from e
        if verifier.key_id.hex() != hex_id:
            raise VerificationError(f"verifier key {vkey!r} has the wrong key ID")
        return verifier

    def verify(self, text: str, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text.encode())
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"NoteVerifier({self.vkey!r})"


class NoteSigner:
    """An Ed25519 signer of C2SP signed notes."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self.private_key = private_key
        self.verifier = NoteVerifier(name, private_key.public_key())

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` (Go's format)."""
        if not skey.startswith(_SKEY_PREFIX):
            raise ValueError("not a signer key")
        parts = skey[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3 or not _HEX_ID.fullmatch(parts[1]):
            raise ValueError("malformed signer key")
        name, hex_id, b64 = parts
        try:
            raw = _b64decode(b64)
        except VerificationError as e:
            raise ValueError("malformed signer key") from e
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise ValueError("not an Ed25519 signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != hex_id:
            raise ValueError("signer key has the wrong key ID")
        return signer

    @property
    def skey(self) -> str:
        """The signer key in Go's ``PRIVATE+KEY+...`` format (a secret)."""
        seed = self.private_key.private_bytes_raw()
        raw = bytes([ALG_ED25519]) + seed
        return f"{_SKEY_PREFIX}{self.name}+{self.key_id.hex()}+{_b64(raw)}"

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        _check_text(text, ValueError)
        signature = self.private_key.sign(text.encode())
        return f"{text}\n{_SIG_PREFIX}{self.name} {_b64(self.key_id + signature)}\n"

    def __repr__(self) -> str:
        return f"NoteSigner({self.vkey!r})"


def _check_text(text: str, error: type[Exception]) -> None:
    if not text.endswith("\n"):
        raise error("note text must end with a newline")
    if any(c < " " and c != "\n" for c in text):
        raise error("note text contains a control character")


@dataclass(frozen=True)
class VerifiedNote:
    text: str
    names: tuple[str, ...]
    """Names of the given verifiers whose signatures verified, in note order."""


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Parse and verify a signed note.

    Signature lines by unknown keys are ignored.  Raises VerificationError if
    the note is malformed, BadSignature if a known key's signature is invalid
    or if no given verifier signed it.
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if other.vkey != v.vkey:
            raise VerificationError(f"two verifier keys named {v.name} with one key ID")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("malformed note: no signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    _check_text(text, VerificationError)
    if not sigs.endswith("\n"):
        raise VerificationError("malformed note: unterminated signature block")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError("too many signatures")
    names: list[str] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise VerificationError(f"malformed signature line {line!r}")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _valid_name(name):
            raise VerificationError(f"malformed signature line {line!r}")
        raw = _b64decode(b64)
        if len(raw) < 5:
            raise VerificationError(f"malformed signature line {line!r}")
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue
        if not verifier.verify(text, raw[4:]):
            raise BadSignature(f"invalid signature by {name}+{raw[:4].hex()}")
        if name not in names:
            names.append(name)
    if not names:
        raise BadSignature("the note is not signed by any trusted key")
    return VerifiedNote(text, tuple(names))


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body without extension lines."""

    origin: str
    size: int
    root_hash: bytes

    def body(self) -> str:
        if not self.origin or any(c < " " for c in self.origin):
            raise ValueError("invalid checkpoint origin")
        if self.size < 0 or len(self.root_hash) != 32:
            raise ValueError("invalid checkpoint size or root hash")
        return f"{self.origin}\n{self.size}\n{_b64(self.root_hash)}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Strictly parse a checkpoint body; raises VerificationError."""
        if not body.endswith("\n"):
            raise VerificationError("checkpoint must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) != 3:
            raise VerificationError("checkpoint must be exactly three lines")
        origin, size, root = lines
        if not origin or any(c < " " for c in origin):
            raise VerificationError("invalid checkpoint origin")
        if not _DECIMAL.fullmatch(size) or len(size) > 20 or int(size) >= 1 << 64:
            raise VerificationError(f"invalid checkpoint tree size {size!r}")
        root_hash = _b64decode(root)
        if len(root_hash) != 32:
            raise VerificationError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size), root_hash)


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    return signer.sign(checkpoint.body())


def open_checkpoint(
    note: str, verifiers: Sequence[NoteVerifier], origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; checks the origin when given."""
    checkpoint = Checkpoint.parse(open_note(note, verifiers).text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(f"checkpoint origin {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint
