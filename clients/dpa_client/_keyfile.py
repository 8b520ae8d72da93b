"""Ed25519 private keys in PEM files (PKCS #8, unencrypted): a witness's key
and a gateway's decision-log key are kept this way."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def load(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``; ``ValueError`` when it is not an Ed25519 key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def create(path: Path) -> Ed25519PrivateKey:
    """A new key written to ``path`` (mode 0600); never overwrites a file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key
