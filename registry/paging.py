"""AIP-158 pagination: ``page_size`` and opaque ``page_token`` values."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from registry.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    size: int
    after: str | None
    """Sort key of the last item of the previous page, or None for the first."""

    def next_token(self, keys: list[str], scope: str) -> str:
        """The token for the page after one that ended at ``keys[-1]``."""
        if len(keys) < self.size:
            return ""
        raw = json.dumps({"a": keys[-1], "s": scope}).encode()
        return base64.urlsafe_b64encode(raw).decode()


def page(page_size: int, page_token: str, scope: str) -> Page:
    """Validates a request's paging fields; ``scope`` binds a token to its query."""
    if page_size < 0:
        raise InvalidArgument.one("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return Page(size, None)
    try:
        data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        after, token_scope = data["a"], data["s"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument.one("page_token", "is not a token this server issued") from None
    if token_scope != scope or not isinstance(after, str):
        raise InvalidArgument.one("page_token", "belongs to a different query")
    return Page(size, after)
