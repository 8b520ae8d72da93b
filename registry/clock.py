"""The registry's clock: timezone-aware UTC, with an offset tests can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


def advance(delta: timedelta) -> None:
    """Moves this process's clock forward (used by in-process tests)."""
    global _offset  # noqa: PLW0603
    _offset += delta


def reset() -> None:
    global _offset  # noqa: PLW0603
    _offset = timedelta(0)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
