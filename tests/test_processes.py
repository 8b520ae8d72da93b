"""``dpa-registry serve --processes 2``: two server processes on one port and
one database share the connections, stay exact (a write through one is seen
by the next check in the other) and stop together on SIGTERM."""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from dpa_client import Notification, NotificationKind, RegistryClient
from dpa_registry_api.v1 import transfers_pb2 as tpb
from registry import pki, server, supervisor
from registry.config import Config
from tests import factories, harness

EMAIL = ["user.contact.email"]
USE = "essential.service"


def _established_on(pid: int, port: int) -> int:
    """Connections to ``port`` whose server end this process holds."""
    inodes = set()
    for fd in (Path("/proc") / str(pid) / "fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def test_two_processes_share_one_port_stay_exact_and_stop_together(
    dev_pki: pki.DevPki, database_url: str
) -> None:
    served = harness.ServerProcess(dev_pki, database_url, processes=2)
    clients: list[RegistryClient] = []
    try:
        deadline = time.monotonic() + 30
        while len(children := harness.children(served.proc.pid)) < 2:
            assert time.monotonic() < deadline, "two server processes expected"
            time.sleep(0.1)
        staff = served.client("staff", "admin")
        clients.append(staff)
        factories.controller(staff, "acme")
        factories.subprocessor(staff, "euhost", country="EE", locations=["EE"])
        # Many connections: the kernel spreads them over both processes.
        for _ in range(24):
            checker = served.client("service", "checker")
            clients.append(checker)
            decision = checker.check_transfer(
                "acme", subprocessor_id="euhost", data_categories=EMAIL, purpose=USE
            )
            assert decision.verdict == tpb.TRANSFER_VERDICT_DENIED  # no DPA yet
        counts = [_established_on(pid, served.port) for pid in children]
        assert all(n > 0 for n in counts), counts
        assert sum(counts) >= 25
        # A change committed through whichever process is seen by every other
        # connection's next check, whichever process serves it.
        # (a controller unknown a moment ago is NOT_FOUND, then decided).
        factories.controller(staff, "globex")
        receipt = staff.last_receipt
        assert receipt is not None
        for checker in clients[1:]:
            decision = checker.check_transfer(
                "globex", subprocessor_id="euhost", data_categories=EMAIL, purpose=USE
            )
            assert decision.revision >= receipt.revision
    finally:
        for c in clients:
            c.close()
        stderr = served.stop()
    assert served.proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)


def _gauge(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return next(
        (float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")), 0.0
    )


def test_live_watchers_in_every_process_are_woken_by_one_commit(
    dev_pki: pki.DevPki, database_url: str
) -> None:
    """24 live streams spread by the kernel over both processes' stream hosts
    (one shared port); one breach report through either process wakes all."""
    metrics_port = harness.free_ports(2)  # child i serves metrics on metrics_port + i
    served = harness.ServerProcess(
        dev_pki, database_url, processes=2, DPA_METRICS_PORT=str(metrics_port)
    )
    ids = [f"w{i:02d}" for i in range(12)]
    clients: list[RegistryClient] = []
    watches = []
    got: dict[int, Notification] = {}
    try:
        deadline = time.monotonic() + 30
        while len(children := harness.children(served.proc.pid)) < 2:
            assert time.monotonic() < deadline, "two server processes expected"
            time.sleep(0.1)
        staff = served.client("staff", "admin")
        clients.append(staff)
        for cid in ids:
            pki.issue_client_cert(dev_pki, "controller", cid, harness.TRUST_DOMAIN)
            factories.controller(staff, cid)
        for cid in ids * 2:  # two connections per controller
            c = served.client("controller", cid)
            clients.append(c)
            watches.append(c.watch_notifications())

        def first(i: int) -> None:
            got[i] = next(watches[i])

        threads = [threading.Thread(target=first, args=(i,), daemon=True) for i in range(24)]
        for t in threads:
            t.start()
        ports = [metrics_port, metrics_port + 1]
        deadline = time.monotonic() + 30
        while sum(live := [_gauge(p, "dpa_notification_watchers") for p in ports]) < 24:
            assert time.monotonic() < deadline, f"24 live watchers expected, have {live}"
            time.sleep(0.2)
        assert all(n > 0 for n in live), live  # both processes hold some
        stream_target = next(iter(clients[1]._stream_channels))
        stream_port = int(stream_target.rpartition(":")[2])
        assert stream_port != served.port
        assert all(_established_on(pid, stream_port) > 0 for pid in children)
        now = datetime.now(UTC)
        staff.report_breach(
            factories.breach_details(systems=["log-cluster-2"]),
            awareness_time=now,
            detection_time=now,
            add=[(cid, "its logs are on log-cluster-2") for cid in ids],
        )
        for t in threads:
            t.join(timeout=30)
        assert sorted(got) == list(range(24))
        assert all(n.kind is NotificationKind.BREACH for n in got.values())
        assert {got[i].controller for i in range(24)} == {f"controllers/{c}" for c in ids}
    finally:
        for w in watches:
            w.cancel()
        for c in clients:
            c.close()
        stderr = served.stop()
    assert served.proc.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_each_child_gets_its_own_metrics_port_and_only_the_first_serves_tiles() -> None:
    config = Config(metrics_port=9464, tiles_listen="127.0.0.1:8443")
    assert supervisor.child_config(config, 0) == config
    second = supervisor.child_config(config, 1)
    assert (second.metrics_port, second.tiles_listen) == (9465, "")
    assert supervisor.child_config(Config(), 1).metrics_port == 0


def test_sigterm_while_the_processes_start_is_a_clean_stop(
    dev_pki: pki.DevPki, database_url: str
) -> None:
    """A signal that arrives before a child serves stops it once it has
    started (its handler is in place before the signal is unblocked): exit 0,
    whatever the machine's load makes of the timing."""
    served = harness.ServerProcess(dev_pki, database_url, processes=2, wait=False)
    deadline = time.monotonic() + 30
    while len(harness.children(served.proc.pid)) < 2:
        assert served.proc.poll() is None, served.log_text()
        assert time.monotonic() < deadline, "two server processes expected"
        time.sleep(0.01)
    log = served.stop()
    assert served.proc.returncode == 0, log
    assert "Traceback" not in log
    assert log.count("shutting down") == 2, log


def test_usr2_writes_every_threads_stack_and_the_server_goes_on(
    dev_pki: pki.DevPki, tmp_path: Path
) -> None:
    """``kill -USR2``: each thread's stack on stderr (the main thread waiting
    in ``serve_one`` among them), and the server still serves and stops
    cleanly after it."""
    served = harness.ServerProcess(dev_pki, f"sqlite:///{tmp_path}/r.db")
    try:
        os.kill(served.proc.pid, server.STACKS_SIGNAL)
        deadline = time.monotonic() + 30
        while "serve_one" not in served.log_text():
            assert served.proc.poll() is None, served.log_text()
            assert time.monotonic() < deadline, served.log_text()
            time.sleep(0.05)
        with served.client("staff", "admin") as c:
            assert list(c.list_subprocessors()) == []
    finally:
        log = served.stop()
    assert served.proc.returncode == 0, log
    assert log.count("most recent call first") >= 2, log
    assert "Traceback" not in log


def test_usr2_to_the_supervisor_reaches_every_server_process(
    dev_pki: pki.DevPki, database_url: str
) -> None:
    """With ``--processes 2`` the signal goes to the parent an operator sees:
    it survives and passes it on, and each child writes its stacks."""
    served = harness.ServerProcess(dev_pki, database_url, processes=2)
    try:
        deadline = time.monotonic() + 30
        while len(harness.children(served.proc.pid)) < 2:
            assert time.monotonic() < deadline, "two server processes expected"
            time.sleep(0.01)
        os.kill(served.proc.pid, server.STACKS_SIGNAL)
        while served.log_text().count("serve_one") < 2:
            assert served.proc.poll() is None, served.log_text()
            assert time.monotonic() < deadline, served.log_text()
            time.sleep(0.05)
        with served.client("staff", "admin") as c:
            assert list(c.list_subprocessors()) == []
    finally:
        log = served.stop()
    assert served.proc.returncode == 0, log
    assert "Traceback" not in log
    assert log.count("shutting down") == 2, log
