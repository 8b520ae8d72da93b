"""What committed changes touch, as the domains publish it (registry.changefeed)."""

from __future__ import annotations

from registry import changefeed


def test_each_domain_publishes_what_its_changes_touch() -> None:
    t = changefeed.touched(
        [
            ("acme", "controllers/acme/agreements/1"),
            ("acme", "controllers/acme/instructions/3"),
            (None, "subprocessors/hostco"),
            ("initech", "subprocessors/hostco"),  # a withdrawal
            (None, "subprocessors/usco/safeguards/us-scc"),
            ("globex", "changeNotices/n1"),
            (None, "adequacyDecisions/JP"),
            (None, "log/keys/ab"),
            (None, "breaches/b1"),
            ("acme", "controllers/acme/breachNotices/b1"),
            ("acme", "controllers/acme/notifications/7"),
        ]
    )
    assert t.controllers == {"acme", "globex", "initech"}
    assert t.subprocessors == {"hostco", "usco"}
    assert t.reference
    assert not t.everything


def test_a_kind_nobody_publishes_touches_everything() -> None:
    assert changefeed.touched([(None, "widgets/w1")]).everything
    assert changefeed.kind_of("controllers/acme/agreements/2") == (
        "controllers.agreements",
        ["acme", "2"],
    )
