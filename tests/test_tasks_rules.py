"""The task engine's pure rules: months (Art. 12(3)), personal data in clear,
part deadlines never after the controller's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.errors import Violations
from registry.tasks import types as t


def test_add_months_clamps_to_the_month_end() -> None:
    assert t.add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert t.add_months(datetime(2026, 11, 15, tzinfo=UTC), 3) == datetime(2027, 2, 15, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_part_due_never_after_the_controller(moment: datetime) -> None:
    start = moment.replace(tzinfo=UTC)
    controller_due = t.add_months(start, 1)
    for days in (1, 10, 30, 45):
        due = t.part_due(start, days, controller_due)
        assert due <= controller_due and due <= start + timedelta(days=days)


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("jane@example.com", True),
        ("+372 5555 1234", True),
        ("(555) 123-4567", True),
        ("sha256:" + "0" * 64, False),
        ("sha256:" + "0" * 63, True),
        ("crm-customer-88412", False),
        ("ticket:2026/1", True),
    ],
)
def test_subject_references(value: str, bad: bool) -> None:
    errors = Violations()
    t.check_subject_reference("ref", value, errors)
    assert bool(errors) is bad
