"""The registry's clock: timezone-aware UTC, with an offset tests can move."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + _offset


_day: tuple[float, float, timedelta, date] = (0.0, 0.0, _offset, date.min)
"""The current day: [start, end) in POSIX seconds, the offset it was worked out at, the date."""


def today() -> date:
    """``now().date()``, worked out once a day rather than on every call."""
    start, end, offset, day = _day
    if start <= time.time() < end and offset is _offset:
        return day
    return _new_day()


def _new_day() -> date:
    global _day  # noqa: PLW0603 - one cached day, replaced whole
    offset = _offset
    day = (datetime.now(UTC) + offset).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - offset
    _day = (start.timestamp(), (start + timedelta(days=1)).timestamp(), offset, day)
    return day


def advance(delta: timedelta) -> None:
    """Moves this process's clock forward (used by in-process tests)."""
    global _offset  # noqa: PLW0603
    _offset += delta


def reset() -> None:
    global _offset  # noqa: PLW0603
    _offset = timedelta(0)


_LAST_RFC3339: tuple[datetime | None, str] = (None, "")


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC, as RFC 3339 text with microseconds. The last
    moment's text is kept: a write's many audit events share one moment."""
    global _LAST_RFC3339  # noqa: PLW0603
    last, text = _LAST_RFC3339
    if last is not moment:
        text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        _LAST_RFC3339 = (moment, text)
    return text
