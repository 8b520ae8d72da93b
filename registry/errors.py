"""The server's one exception root.

Domain code raises these; ``registry.rpc`` maps them to gRPC status codes in
exactly one place. Nothing here knows about gRPC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class RegistryError(Exception):
    """Root of every error the registry reports to a caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


MAX_VIOLATIONS = 10
MAX_FIELD = 200
MAX_DESCRIPTION = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def bounded(violations: Iterable[FieldViolation]) -> tuple[FieldViolation, ...]:
    """At most ``MAX_VIOLATIONS`` clipped violations, then one saying how many
    more there are: an error always fits the channel however large the
    registry grows (the full list is for a query, not an error)."""
    items = tuple(violations)
    shown = tuple(
        FieldViolation(_clip(v.field, MAX_FIELD), _clip(v.description, MAX_DESCRIPTION))
        for v in items[:MAX_VIOLATIONS]
    )
    rest = len(items) - len(shown)
    if rest <= 0:
        return shown
    more = FieldViolation(
        _clip(items[MAX_VIOLATIONS].field, MAX_FIELD),
        f"and {rest} more violation{'s' if rest > 1 else ''} not listed",
    )
    return (*shown, more)


class InvalidArgument(RegistryError):
    """The request is malformed; ``violations`` names each bad field (at most
    ``MAX_VIOLATIONS``, then a count of the rest); ``total`` counts them all."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        items = tuple(violations)
        self.total = len(items)
        self.violations = bounded(items)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid argument: {summary}")

    @classmethod
    def one(cls, field: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field, description)])


class NotFound(RegistryError):
    """No such resource, or none the caller may see (existence is not leaked)."""


class AlreadyExists(RegistryError):
    """A resource with that identity exists already."""


class FailedPrecondition(RegistryError):
    """The resource is not in a state that allows the operation."""


class Aborted(RegistryError):
    """A concurrency conflict, such as a stale etag; re-read and retry."""


class Unavailable(RegistryError):
    """The registry cannot serve the call now (e.g. no database connection
    free within the wait); the caller may retry with backoff."""


class ResourceExhausted(RegistryError):
    """A per-process limit is reached (e.g. live streams); retry later or elsewhere."""


class PermissionDenied(RegistryError):
    """The caller's identity or role does not allow the call."""


class Unauthenticated(RegistryError):
    """No acceptable client identity was presented."""


class Violations:
    """Collects field violations and raises them together."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def __bool__(self) -> bool:
        return bool(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items)
