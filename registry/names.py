"""Resource names (AIP-122): ``collection/{id}`` strings."""

from __future__ import annotations

from dpa_decisions.common import parse_name
from registry.errors import Violations


def parse(name: str, collection: str, field: str = "name") -> str:
    """Returns the id of ``{collection}/{id}``; INVALID_ARGUMENT otherwise
    (the rule is ``dpa_decisions.common.parse_name``, shared with clients)."""
    errors = Violations()
    ident = parse_name(name, collection, field, errors)
    errors.raise_if_any()
    return ident


def make(collection: str, ident: str) -> str:
    return f"{collection}/{ident}"


def split_first(name: str) -> tuple[str, str]:
    """``("collection", "id")`` of ``collection/id[/...]``; id "" if absent."""
    parts = name.split("/", 2)
    return parts[0], parts[1] if len(parts) > 1 else ""
