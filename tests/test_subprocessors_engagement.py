"""The one engagement rule (registry.subprocessors.engagement), pure parts."""

from __future__ import annotations

from registry.subprocessors.engagement import LISTED, Served, effective_state
from registry.subprocessors.types import AuthorizationState as A


def test_explicit_state_wins_and_platform_defaults_to_authorized() -> None:
    assert effective_state(platform_active=True, explicit=None) is A.AUTHORIZED
    assert effective_state(platform_active=False, explicit=None) is None
    for state in A:
        assert effective_state(platform_active=True, explicit=state) is state
        assert effective_state(platform_active=False, explicit=state) is state


def test_platform_serves_every_candidate_but_those_who_objected_or_withdrew() -> None:
    s = Served("cloud", True, {"c3": A.OBJECTED, "c5": A.WITHDRAWN, "c9": A.PENDING})
    among = {"c1", "c3", "c5", "c9"}
    assert s.controllers(among) == {"c1", "c9"}
    assert s.named() is None
    # Only candidates: an explicit row alone does not make a controller served.
    assert s.controllers({"c1"}) == {"c1"}


def test_named_serves_only_listed_explicit_rows() -> None:
    s = Served("payco", False, {"c1": A.AUTHORIZED, "c2": A.WITHDRAWN, "c4": A.PENDING})
    assert s.controllers({"c1", "c2", "c3", "c4"}) == {"c1", "c4"}
    assert s.controllers({"c2", "c3"}) == set()
    assert s.named() == {"c1", "c4"}
    assert s.named(frozenset({A.WITHDRAWN})) == {"c2"}
    assert frozenset({A.AUTHORIZED, A.PENDING}) == LISTED
