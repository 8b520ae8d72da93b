"""Notification inboxes: list, acknowledge, live Watch with cursor resume,
tenant isolation; on each backend over real mTLS."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from dpa_client import errors
from dpa_registry_api.v1 import notifications_pb2
from registry import ledger
from registry.auth import Caller, Role
from registry.notifications import core, hub
from tests import factories
from tests.harness import Harness

STAFF = Caller("spiffe://7plus.one/staff/admin", Role.STAFF, "admin")


def send(controller_ids: Sequence[str], title: str = "hello") -> list[core.Notification]:
    """Puts a notification into each inbox through the write path, as staff would."""
    made: list[core.Notification] = []

    def apply(m: ledger.Mutation) -> None:
        made.extend(
            core.notify(
                m,
                controller_ids,
                core.Kind.GENERAL,
                title,
                "body",
                "controllers/x",
                {"n": 1},
            )
        )

    ledger.mutate(STAFF, "Test", "", "", ledger.NOTHING, apply)
    hub.poke()
    return made


def collect(
    watch: object, count: int, timeout: float = 10.0
) -> list[notifications_pb2.Notification]:
    got: list[notifications_pb2.Notification] = []
    done = threading.Event()

    def run() -> None:
        for n in watch:  # type: ignore[attr-defined]
            got.append(n)
            if len(got) >= count:
                break
        done.set()

    threading.Thread(target=run, daemon=True).start()
    done.wait(timeout)
    watch.cancel()  # type: ignore[attr-defined]
    return got


def test_list_and_acknowledge(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    factories.controller(registry.staff, "globex")
    send(["acme", "globex"])
    send(["acme"], "second")
    acme = registry.client("controller", "acme")
    inbox = list(acme.list_notifications())
    assert [n.title for n in inbox] == ["hello", "second"]
    assert all(n.controller == "controllers/acme" for n in inbox)
    assert inbox[0].payload["n"] == 1
    unacked = list(registry.staff.list_notifications(unacknowledged_only=True))
    assert len(unacked) == 3
    acked = acme.acknowledge_notification(inbox[0].id)
    assert acked.acknowledged
    again = acme.acknowledge_notification(inbox[0].id)
    assert again.acknowledge_time == acked.acknowledge_time
    unacked = list(registry.staff.list_notifications(unacknowledged_only=True))
    assert ("controllers/acme", inbox[0].id) not in {(n.controller, n.id) for n in unacked}
    assert len(unacked) == 2
    assert len(list(registry.staff.list_notifications("globex", unacknowledged_only=True))) == 1


def test_tenant_isolation(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    factories.controller(registry.staff, "globex")
    send(["globex"], "globex only")
    made = send(["acme", "globex"])
    globex_id = next(n.id for n in made if n.controller_id == "globex")
    assert globex_id == 2
    acme = registry.client("controller", "acme")
    assert {n.controller for n in acme.list_notifications()} == {"controllers/acme"}
    with pytest.raises(errors.NotFound):  # another tenant's inbox does not exist for acme
        list(acme.list_notifications("globex"))
    with pytest.raises(errors.NotFound):  # acme's inbox has only number 1
        acme.acknowledge_notification(globex_id)
    got = collect(acme.watch_notifications(), 5, timeout=1.5)
    assert [n.controller for n in got] == ["controllers/acme"]


def test_watch_live_and_resume_from_cursor(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    send(["acme"], "before-1")
    send(["acme"], "before-2")
    acme = registry.client("controller", "acme")
    watch = acme.watch_notifications()
    first = next(watch)
    assert first.title == "before-1"
    got = [first]

    def produce() -> None:
        time.sleep(0.3)
        for i in range(3):
            send(["acme", "globex"], f"live-{i}")

    threading.Thread(target=produce, daemon=True).start()
    got += collect(watch, 4)
    assert [n.title for n in got] == ["before-1", "before-2", "live-0", "live-1", "live-2"]
    # Resume from a cursor in the middle: nothing missed, nothing twice.
    cursor = got[2].id
    send(["acme"], "after-disconnect")
    resumed = collect(acme.watch_notifications(after=cursor), 3)
    assert [n.title for n in resumed] == ["live-1", "live-2", "after-disconnect"]


def test_watch_survives_a_server_restart(registry: Harness) -> None:
    from tests import harness as harness_module

    factories.controller(registry.staff, "acme")
    send(["acme"], "one")
    acme_port = registry.running.port
    del acme_port
    acme = registry.client("controller", "acme")
    watch = acme.watch_notifications()
    assert next(watch).title == "one"
    registry.running.stop(0)
    send(["acme"], "while-down")
    config = registry.running.config
    from registry import server

    registry.running = server.start(
        harness_module.server_config(registry.pki, registry.database).__class__(
            **{**config.__dict__, "listen": f"127.0.0.1:{registry.running.port}"}
        )
    )
    send(["acme"], "after-restart")
    got = collect(watch, 2, timeout=15)
    assert [n.title for n in got] == ["while-down", "after-restart"]
    assert watch.reconnects >= 1


def test_numbers_are_per_inbox_and_count_no_other_tenant(registry: Harness) -> None:
    """A controller sees 1, 2, 3, ... however many notices other tenants get."""
    for cid in ("acme", "globex", "initech"):
        factories.controller(registry.staff, cid)
    send(["acme"], "a1")
    send(["globex", "initech"], "g")
    send(["acme", "globex"], "a2")
    send(["initech"], "i")
    send(["acme"], "a3")
    acme = registry.client("controller", "acme")
    inbox = list(acme.list_notifications())
    assert [(n.id, n.name, n.title) for n in inbox] == [
        (1, "notifications/1", "a1"),
        (2, "notifications/2", "a2"),
        (3, "notifications/3", "a3"),
    ]
    assert [n.id for n in collect(acme.watch_notifications(after=1), 2)] == [2, 3]
    # Staff page through every inbox; the page token hides the internal order.
    everything = list(registry.staff.list_notifications(page_size=2))
    assert len(everything) == 7
