"""The processor's Ed25519 signing keys.

One key is active at a time; it signs audit-log checkpoints (as a C2SP note
key named after the log origin) and the processor's side of DPAs. Earlier
keys stay known so that what they signed remains verifiable.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpa_client.transparency.note import NoteSigner


@dataclass(frozen=True)
class SigningKey:
    signer: NoteSigner
    private: Ed25519PrivateKey

    @property
    def name(self) -> str:
        return self.signer.verifier.name

    @property
    def vkey(self) -> str:
        """The C2SP verifier key text: ``<name>+<hex key id>+<base64 key>``."""
        return self.signer.vkey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def private_raw(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature over ``data`` (for documents, not notes)."""
        return self.private.sign(data)


def from_private(name: str, private: Ed25519PrivateKey) -> SigningKey:
    return SigningKey(NoteSigner(name, private), private)


def load(path: Path, name: str) -> SigningKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return from_private(name, key)


_lock = threading.Lock()
_active: SigningKey | None = None


def activate(key: SigningKey) -> None:
    global _active  # noqa: PLW0603
    with _lock:
        _active = key


def active() -> SigningKey:
    if _active is None:
        raise RuntimeError("no signing key loaded")
    return _active
