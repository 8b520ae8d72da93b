"""Resource names (AIP-122): ``collection/{id}`` strings."""

from __future__ import annotations

from registry.errors import InvalidArgument
from registry.validate import RESOURCE_ID


def parse(name: str, collection: str, field: str = "name") -> str:
    """Returns the id of ``{collection}/{id}``; INVALID_ARGUMENT otherwise."""
    prefix = collection + "/"
    ident = name[len(prefix) :] if name.startswith(prefix) else ""
    if not RESOURCE_ID.fullmatch(ident):
        raise InvalidArgument.one(field, f"must look like {collection}/{{id}}")
    return ident


def make(collection: str, ident: str) -> str:
    return f"{collection}/{ident}"


def split_first(name: str) -> tuple[str, str]:
    """``("collection", "id")`` of ``collection/id[/...]``; id "" if absent."""
    parts = name.split("/", 2)
    return parts[0], parts[1] if len(parts) > 1 else ""
