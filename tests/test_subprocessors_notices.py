"""The pure rules of change notices (registry.subprocessors.notices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from registry.subprocessors.notices import (
    Mode,
    Terms,
    earliest_effective,
    may_object,
    notice_period_violations,
)
from registry.subprocessors.types import ChangeKind, Decision

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def test_earliest_effective_is_the_advance_notice_after_notification() -> None:
    assert earliest_effective(NOW, Terms("acme", Mode.GENERAL, 30, 14)) == NOW + 30 * DAY


def test_violations_name_every_controller_whose_notice_period_is_too_short() -> None:
    terms = [
        Terms("globex", Mode.GENERAL, 30, 14),
        Terms("acme", Mode.SPECIFIC, 10, 10),
        Terms("initech", Mode.GENERAL, 31, 0),
    ]
    found = notice_period_violations(ChangeKind.ADDITION, NOW, NOW + 30 * DAY, terms)
    assert [t.controller_id for t in found] == ["initech"]
    early = notice_period_violations(ChangeKind.REPLACEMENT, NOW, NOW + 5 * DAY, terms)
    assert [t.controller_id for t in early] == ["acme", "globex", "initech"]
    # A removal takes nothing new into use: no advance notice applies.
    assert notice_period_violations(ChangeKind.REMOVAL, NOW, NOW + DAY, terms) == []


def test_objection_window() -> None:
    end = NOW + 14 * DAY
    assert may_object(Decision.PENDING, Mode.GENERAL, end, NOW)
    assert not may_object(Decision.PENDING, Mode.GENERAL, end, end)
    # SPECIFIC: until the controller decides, whatever the date.
    assert may_object(Decision.PENDING, Mode.SPECIFIC, end, end + DAY)
    for decided in (Decision.AUTHORIZED, Decision.OBJECTED, Decision.INFORMED):
        assert not may_object(decided, Mode.SPECIFIC, end, NOW)
