"""Notification inboxes: list, acknowledge, live Watch with cursor resume,
tenant isolation; on each backend over real mTLS."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from dpa_client import Notification, errors
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


def collect(watch: object, count: int, timeout: float = 10.0) -> list[Notification]:
    got: list[Notification] = []
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


def _rpc_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("rpc"))


def test_live_streams_are_on_the_stream_host_and_hold_no_thread(registry: Harness) -> None:
    """A hundred live watchers: served by the stream host (the main port only
    tells clients where it is), no server thread each, all woken by one commit."""
    factories.controller(registry.staff, "acme")
    send(["acme"], "backlog")
    assert registry.running.stream_port
    watches = []
    before = _rpc_threads()
    for _ in range(100):
        acme = registry.client("controller", "acme")
        watch = acme.watch_notifications()
        assert next(watch).title == "backlog"  # registered, backlog read: the stream is live
        watches.append(watch)
    the_hub = hub.current()
    assert the_hub.streams is not None and the_hub.streams.count == 100
    assert the_hub.watcher_count == 100
    assert _rpc_threads() - before < 10  # discovery calls only; never one per watcher
    target = f"localhost:{registry.running.stream_port}"
    assert all(target in w._connect.__self__._stream_channels for w in watches)  # type: ignore[attr-defined]
    send(["acme"], "live")
    assert [next(w).title for w in watches] == ["live"] * 100
    for w in watches:
        w.cancel()


def test_the_main_port_still_serves_the_stream(registry: Harness) -> None:
    """Old clients (no discovery) and ``stream_target=""`` keep the main port's stream."""
    factories.controller(registry.staff, "acme")
    send(["acme"], "one")
    acme = registry.client("controller", "acme", stream_target="")
    watch = acme.watch_notifications()
    assert next(watch).title == "one"
    assert hub.current().watcher_count == 1
    assert acme._stream_channels == {}
    send(["acme"], "two")
    assert next(watch).title == "two"
    watch.cancel()


def test_streams_without_the_stream_host(dev_pki: object, database_url: str) -> None:
    """``--stream-listen off``: the client's discovery finds nothing and watches the main port."""
    from tests import harness as harness_module

    off = harness_module.start(dev_pki, database_url, stream_listen="off")  # type: ignore[arg-type]
    try:
        assert off.running.stream_port == 0
        factories.controller(off.staff, "acme")
        send(["acme"], "one")
        acme = off.client("controller", "acme")
        got = collect(acme.watch_notifications(), 1)
        assert [n.title for n in got] == ["one"]
        assert acme._stream_channels == {}
    finally:
        off.close()


def test_the_stream_host_enforces_the_same_edge(
    registry: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Straight to the stream port: identity from the client certificate, the
    contract's roles, precise field errors; the request log sees every call."""
    import logging

    import grpc

    from dpa_registry_api.v1 import notifications_pb2_grpc
    from registry.observability import requestlog

    caplog.set_level(logging.INFO, logger=requestlog.LOGGER)
    factories.controller(registry.staff, "acme")
    target = f"localhost:{registry.running.stream_port}"
    for role, name, code in (
        ("auditor", "audit1", errors.PermissionDenied),
        ("staff", "intruder", errors.PermissionDenied),  # another trust domain
    ):
        stranger = registry.client(role, name, stream_target=target)
        with pytest.raises(code):
            next(stranger.watch_notifications())
    acme = registry.client("controller", "acme")
    stub = notifications_pb2_grpc.NotificationServiceStub(acme._connect(target))
    with pytest.raises(grpc.RpcError) as err:
        next(stub.WatchNotifications(notifications_pb2.WatchNotificationsRequest(after=-1)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after" in (err.value.details() or "")
    watch_path = "/dpa.registry.v1.NotificationService/WatchNotifications"

    def logged() -> list[dict[str, object]]:
        return [
            r.fields  # type: ignore[attr-defined]
            for r in caplog.records
            if r.name == requestlog.LOGGER and r.fields["method"] == watch_path  # type: ignore[attr-defined]
        ]

    deadline = time.monotonic() + 10
    while len(logged()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(f["status"], f["role"], f["tenant"]) for f in logged()] == [
        ("PERMISSION_DENIED", "auditor", None),
        ("PERMISSION_DENIED", None, None),  # another trust domain: no caller
        ("INVALID_ARGUMENT", "controller", "acme"),
    ]
