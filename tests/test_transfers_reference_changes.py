"""Pure tests: staff-recorded adequacy changes over the shipped reference
(GDPR Art. 45(3), 45(5)), and how the snapshot reads the audit change feed."""

from __future__ import annotations

from datetime import date

from registry.errors import Violations
from registry.transfers import default_reference
from registry.transfers.overrides import (
    AdequacyChange,
    ChangeKind,
    apply_changes,
    validate_change,
)
from registry.transfers.reference import AdequacyScope, AdequacyStatus, DestinationKind

BASE = default_reference()


def test_suspension_applies_from_its_effective_date() -> None:
    changed = apply_changes(
        BASE, [AdequacyChange("JP", ChangeKind.SUSPENDED, date(2027, 1, 1), "OJ L 1")]
    )
    jp = changed.adequacy["JP"]
    assert jp.status is AdequacyStatus.SUSPENDED
    assert jp.in_force_on(date(2026, 12, 31))
    assert not jp.in_force_on(date(2027, 1, 1))
    assert BASE.adequacy["JP"].status is AdequacyStatus.IN_FORCE  # base untouched


def test_adoption_adds_a_destination_and_an_organisation() -> None:
    changed = apply_changes(
        BASE,
        [
            AdequacyChange(
                "IN",
                ChangeKind.ADOPTED,
                date(2027, 3, 1),
                "OJ L 99",
                decision="(EU) 2027/99",
                destination_name="India",
            ),
            AdequacyChange(
                "XO-TEST",
                ChangeKind.ADOPTED,
                date(2027, 3, 1),
                "OJ L 100",
                decision="(EU) 2027/100",
                destination_name="Test Organisation",
                destination_kind=DestinationKind.INTERNATIONAL_ORGANISATION,
                scope=AdequacyScope.FULL,
            ),
        ],
    )
    assert changed.adequacy["IN"].legal_basis == "adequacy: India, (EU) 2027/99"
    assert not changed.adequacy["IN"].in_force_on(date(2027, 2, 28))
    assert changed.is_known_destination("XO-TEST")
    assert not BASE.is_known_destination("XO-TEST")


def test_invalid_changes_name_the_fields() -> None:
    errors = Violations()
    validate_change(AdequacyChange("DE", ChangeKind.ADOPTED, date(2027, 1, 1), ""), BASE, errors)
    assert [v.field for v in errors._items] == [
        "change.code",
        "change.decision",
        "change.destination_name",
        "change.source",
    ]
