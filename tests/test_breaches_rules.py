"""The pure breach core: deadline arithmetic (24/48/72 h DPAs, time zones, DST),
overdue detection, status transitions, phase merging, who is affected, and
what one controller is told. No server, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from registry.breaches import rules
from registry.breaches.rules import ObligationState as S
from registry.errors import FailedPrecondition

AWARE = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
"""Saturday before the EU switch to summer time (Sunday 29 March 2026, 01:00 UTC)."""


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (24, datetime(2026, 3, 29, 12, 0, tzinfo=UTC)),
        (48, datetime(2026, 3, 30, 12, 0, tzinfo=UTC)),
        (72, datetime(2026, 3, 31, 12, 0, tzinfo=UTC)),
    ],
)
def test_deadline_is_awareness_plus_the_dpa_hours(hours: int, expected: datetime) -> None:
    assert rules.deadline(AWARE, hours) == expected


def test_deadline_counts_elapsed_hours_across_dst() -> None:
    """24 h across the spring-forward night are 24 real hours: the local
    wall clock shows 25 hours later in Tallinn, the instant is exact."""
    due = rules.deadline(AWARE, 24)
    assert rules.local_time(AWARE, "Europe/Tallinn") == "2026-03-28T14:00:00+02:00"
    assert rules.local_time(due, "Europe/Tallinn") == "2026-03-29T15:00:00+03:00"
    assert due - AWARE == timedelta(hours=24)
    # New York switched two weeks earlier: both ends in EDT.
    assert rules.local_time(due, "America/New_York") == "2026-03-29T08:00:00-04:00"


def test_deadline_across_autumn_dst_and_zones() -> None:
    aware = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # EU back to winter time on 25 Oct
    due = rules.deadline(aware, 48)
    assert due == datetime(2026, 10, 26, 22, 30, tzinfo=UTC)
    assert rules.local_time(aware, "Europe/Berlin") == "2026-10-25T00:30:00+02:00"
    assert rules.local_time(due, "Europe/Berlin") == "2026-10-26T23:30:00+01:00"
    assert rules.local_time(due, "Asia/Kolkata") == "2026-10-27T04:00:00+05:30"
    assert rules.local_time(due, "") == "2026-10-26T22:30:00+00:00"


def test_supervisory_clock_runs_from_the_controllers_notification() -> None:
    notified = AWARE + timedelta(hours=5)
    assert rules.supervisory_deadline(notified) == notified + timedelta(hours=72)


def test_hours_must_be_positive() -> None:
    with pytest.raises(ValueError):
        rules.deadline(AWARE, 0)


def test_states() -> None:
    assert rules.state_of(None, None, False) is S.PENDING
    assert rules.state_of(AWARE, None, False) is S.SENT
    assert rules.state_of(AWARE, AWARE, False) is S.ACKNOWLEDGED
    assert rules.state_of(AWARE, None, True) is S.WITHDRAWN


def test_overdue_only_when_open_and_past_the_deadline() -> None:
    due = rules.deadline(AWARE, 24)
    after = due + timedelta(hours=3, minutes=5)
    assert rules.overdue_by(S.SENT, due, due) is None
    assert rules.overdue_by(S.SENT, due, after) == timedelta(hours=3, minutes=5)
    assert rules.overdue_by(S.PENDING, due, after) == timedelta(hours=3, minutes=5)
    assert rules.overdue_by(S.ACKNOWLEDGED, due, after) is None
    assert rules.overdue_by(S.WITHDRAWN, due, after) is None


def test_status_transitions() -> None:
    rules.check_transition(rules.Status.OPEN, rules.Status.CONTAINED)
    rules.check_transition(rules.Status.CONTAINED, rules.Status.OPEN)
    rules.check_transition(rules.Status.CONTAINED, rules.Status.CLOSED)
    rules.check_transition(rules.Status.OPEN, rules.Status.OPEN)
    with pytest.raises(FailedPrecondition):
        rules.check_transition(rules.Status.CLOSED, rules.Status.OPEN)
    with pytest.raises(FailedPrecondition):
        rules.check_transition(rules.Status.CLOSED, rules.Status.CLOSED)


def test_merge_keeps_lists_and_takes_latest_values() -> None:
    first = rules.Info(
        types=(rules.BreachType.CONFIDENTIALITY,),
        description="exposed bucket",
        data_categories=("user.contact.email",),
        approx_data_subjects=100,
        subprocessors=("hostco",),
    )
    second = rules.Info(
        types=(rules.BreachType.AVAILABILITY,),
        data_categories=("user.contact.phone_number", "user.contact.email"),
        approx_data_subjects=250,
        measures="restored from backup",
    )
    merged = rules.merge([first, second])
    assert merged.types == (rules.BreachType.CONFIDENTIALITY, rules.BreachType.AVAILABILITY)
    assert merged.description == "exposed bucket"
    assert merged.data_categories == ("user.contact.email", "user.contact.phone_number")
    assert merged.approx_data_subjects == 250
    assert merged.measures == "restored from backup"
    assert merged.subprocessors == ("hostco",)
    assert rules.Info.from_json(merged.to_json()) == merged


def test_initial_report_needs_the_essentials() -> None:
    errors = rules.Info().validate("info", initial=True)
    fields = {v.field for v in errors._items}
    assert {"info.types", "info.description", "info.subprocessors", "info.contact"} <= fields
    bad = rules.Info(data_categories=("user.nope",), approx_records=-1)
    fields = {v.field for v in bad.validate("info", initial=False)._items}
    assert fields == {"info.data_categories[0]", "info.approx_records"}


def test_affected_groups_holdings_and_applies_adjustments() -> None:
    held = [
        rules.Holding("c1", "cloud", "sub-processor cloud"),
        rules.Holding("c1", "payco", "sub-processor payco"),
        rules.Holding("c2", "cloud", "sub-processor cloud (DPA terminated; ...)"),
    ]
    got = rules.affected(held, [])
    assert set(got) == {"c1", "c2"}
    assert got["c1"].subprocessors == {"cloud", "payco"}
    assert got["c1"].reasons == ("sub-processor cloud", "sub-processor payco")
    assert got["c2"].reasons == ("sub-processor cloud (DPA terminated; ...)",)
    adjusted = rules.affected(
        held[1:2],
        [
            rules.Adjustment("c7", True, "data on the shared log server"),
            rules.Adjustment("c1", False, "its tenant was not on the affected cluster"),
        ],
    )
    assert set(adjusted) == {"c7"}
    assert adjusted["c7"].reasons == ("added by staff: data on the shared log server",)
    assert adjusted["c7"].subprocessors == frozenset()


def test_scoped_keys_in_the_controllers_terms() -> None:
    dpa = ("user.contact.email", "user.financial")
    keys = ("user.contact", "user.financial.bank_account", "user.health_and_medical")
    assert rules.scoped_keys(keys, dpa) == ("user.contact.email", "user.financial.bank_account")
    assert rules.scoped_keys(keys, None) == keys


def test_view_for_one_controller() -> None:
    info = rules.Info(
        subprocessors=("hostco", "payco"),
        data_categories=("user.contact.email", "user.financial"),
        data_subjects=("customer", "employee"),
    )
    view = rules.view_for(
        info,
        rules.Scope(frozenset({"hostco"}), ("user.contact",), ("customer",)),
    )
    assert view.subprocessors == ("hostco",)
    assert view.data_categories == ("user.contact.email",)
    assert view.data_subjects == ("customer",)
    assert rules.view_for(info, rules.Scope()) == info
