"""AIP-158 pagination: ``page_size`` and opaque, authenticated ``page_token`` values.

A token carries the sort key of the last item of a page and an HMAC-SHA256
tag over that key, the query it belongs to (its scope, which names the RPC
and its filters) and the caller's SPIFFE ID, under a per-deployment key. A
token this server did not issue, or issued for another query or another
caller, is refused as INVALID_ARGUMENT naming ``page_token``; so the cursor
read back is always one the server wrote itself. Format: docs/api.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass

from registry import auth
from registry.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TOKEN_CHARS = 1024
TAG_BYTES = 16
VERSION = 1
_KEY_INFO = b"dpa-registry page-token key v1"

_lock = threading.Lock()
_key: bytes | None = None


def derive_key(secret: bytes) -> bytes:
    """The token key for a deployment secret (the processor signing key's
    private bytes, or a configured secret shared by every process)."""
    return hmac.new(secret, _KEY_INFO, hashlib.sha256).digest()


def activate(key: bytes) -> None:
    global _key  # noqa: PLW0603
    with _lock:
        _key = key


def _active_key() -> bytes:
    if _key is None:
        raise RuntimeError("no page-token key activated")
    return _key


def _tag(scope: str, cursor: str) -> bytes:
    binding = json.dumps(
        [VERSION, scope, auth.current_caller().spiffe_id, cursor], separators=(",", ":")
    ).encode()
    return hmac.new(_active_key(), binding, hashlib.sha256).digest()[:TAG_BYTES]


def encode(scope: str, cursor: str) -> str:
    raw = bytes([VERSION]) + _tag(scope, cursor) + cursor.encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(scope: str, token: str) -> str:
    """The cursor of a token issued for ``scope`` to the current caller."""
    refused = InvalidArgument.one(
        "page_token", "is not a token this server issued for this query and caller"
    )
    if len(token) > MAX_TOKEN_CHARS:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = raw[1 + TAG_BYTES :].decode()
    except (binascii.Error, ValueError):
        raise refused from None
    if len(raw) < 1 + TAG_BYTES or raw[0] != VERSION:
        raise refused
    if not hmac.compare_digest(raw[1 : 1 + TAG_BYTES], _tag(scope, cursor)):
        raise refused
    return cursor


@dataclass(frozen=True)
class Page:
    size: int
    after: str | None
    """Sort key of the last item of the previous page, or None for the first."""

    def next_token(self, keys: list[str], scope: str) -> str:
        """The token for the page after one that ended at ``keys[-1]``."""
        if len(keys) < self.size:
            return ""
        return encode(scope, keys[-1])


def page(page_size: int, page_token: str, scope: str) -> Page:
    """Validates a request's paging fields; ``scope`` binds a token to its query.

    Call it while serving an RPC: the token is bound to the current caller.
    """
    if page_size < 0:
        raise InvalidArgument.one("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return Page(size, None)
    return Page(size, decode(scope, page_token))
