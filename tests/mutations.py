"""One valid call of every mutating RPC, for the write-path test.

Each case: ``setup(h)`` prepares state (its events are not counted), then
``act(h, state)`` makes exactly the mutating call under test. Add a case for
every RPC whose access option says ``mutates: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests import factories
from tests.harness import Harness


@dataclass(frozen=True)
class Case:
    setup: Callable[[Harness], Any]
    act: Callable[[Harness, Any], Any]
    events: int = 1


def _none(h: Harness) -> None:
    return None


CASES: dict[str, Case] = {
    "/dpa.registry.v1.ControllerService/CreateController": Case(
        _none, lambda h, _: factories.controller(h.staff, "acme")
    ),
    "/dpa.registry.v1.ControllerService/UpdateController": Case(
        lambda h: factories.controller(h.staff, "acme"),
        lambda h, _: h.client("controller", "acme").update_controller(
            "acme", dpo_email="dpo2@acme.example"
        ),
    ),
}
