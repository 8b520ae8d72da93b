"""The one write path: every mutating RPC leaves exactly its audit events."""

from __future__ import annotations

import pytest

from registry import auth
from registry.audit import events, store
from registry.services import SERVICES
from tests.harness import Harness
from tests.mutations import CASES

MUTATING = sorted(
    m.path for m in auth.declared_access([s.full_name for s in SERVICES]) if m.mutates
)


def test_every_mutating_rpc_has_a_case() -> None:
    assert MUTATING
    missing = [path for path in MUTATING if path not in CASES]
    assert not missing, f"add write-path cases for {missing}"


@pytest.mark.parametrize("path", MUTATING)
def test_mutation_appends_its_events(registry: Harness, path: str) -> None:
    case = CASES[path]
    state = case.setup(registry)
    before = store.size()
    client_before = registry.staff.last_receipt
    case.act(registry, state)
    after = store.size()
    assert after - before == case.events
    rows = list(
        store.AuditEvent.select()
        .where(store.AuditEvent.seq >= before)
        .order_by(store.AuditEvent.seq)
    )
    assert [r.seq for r in rows] == list(range(before, after))
    for row in rows:
        body = events.parse(bytes(row.body))
        assert body["seq"] == row.seq
        assert body["actor"].startswith("spiffe://7plus.one/")
        assert body["change"].startswith("sha256:")
        assert bytes(row.body) == events.canonical(body)
    del client_before


def test_event_bytes_are_canonical_and_carry_no_personal_data(registry: Harness) -> None:
    from tests import factories

    factories.controller(registry.staff, "acme", contact_email="jane.doe@acme.example")
    row = store.AuditEvent.get(store.AuditEvent.action == "controller.create")
    assert b"jane.doe" not in bytes(row.body)
    body = events.parse(bytes(row.body))
    assert body["tenant"] == "acme"
    assert body["action"] == "controller.create"
    assert body["resource"] == "controllers/acme"
