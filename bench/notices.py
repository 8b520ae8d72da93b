"""One sub-processor change notice to 10,000 controllers, 1,000 watching live.

Measures (issue 5): the time to persist every notice (the ProposeSubprocessorChange
call: notices, per-controller windows and authorisation rows, inbox rows and one
audit event per controller, in one transaction), the time until the last live
watcher has received its own notification, and the server's memory per idle
watcher (RSS delta / watchers), and the time until the objection windows of
the controllers the stream reached have begun (the scheduler's sweep of the
delivery evidence; the others, never delivered, stay not begun). Every
watcher has its own mTLS connection and client certificate, as a real
controller would.

    python -m bench.notices [--controllers 10000] [--watchers 1000] [--database URL]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

TRUST_DOMAIN = "7plus.one"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _setup_database(url: str, controllers: list[str], watched: list[str]) -> None:
    """Bulk SQL: controllers, ACTIVE DPA terms, a proposed sub-processor, and
    one earlier notification per watched controller (proof a stream is up)."""
    from registry import clock, db
    from registry.agreements.model import AgreementLine, AgreementRow
    from registry.controllers.model import ControllerRow
    from registry.notifications.model import ContentRow, NotificationRow
    from registry.subprocessors.model import SubprocessorRow

    database = db.open_database(url)
    db.migrate(database)
    now = clock.now()

    def batches(rows: list[dict[str, object]], model: type[db.BaseModel]) -> None:
        for i in range(0, len(rows), 1000):
            model.insert_many(rows[i : i + 1000]).execute()

    with db.transaction():
        batches(
            [
                {
                    "controller_id": c,
                    "legal_name": f"{c} AS",
                    "country": "EE",
                    "contact_email": f"privacy@{c}.example",
                    "dpo_email": f"dpo@{c}.example",
                    "create_time": now,
                    "update_time": now,
                }
                for c in controllers
            ],
            ControllerRow,
        )
        batches(
            [
                {
                    "controller_id": c,
                    "version": 1,
                    "state": "ACTIVE",
                    "requested_by": "bench",
                    "proposal": "{}",
                    "authorization_mode": "general" if i % 4 else "specific",
                    "notice_days": 30,
                    "objection_days": (30, 15, 5)[i % 3],
                    "breach_hours": 48,
                    "end_of_contract": "DELETE",
                    "create_time": now,
                    "update_time": now,
                }
                for i, c in enumerate(controllers)
            ],
            AgreementRow,
        )
        batches(
            [{"controller_id": c, "latest_version": 1, "active_version": 1} for c in controllers],
            AgreementLine,
        )
        SubprocessorRow.insert(
            subprocessor_id="llmcorp",
            display_name="LLM Corp",
            legal_name="LLM Corp Inc.",
            address="1 Market St, San Francisco, CA",
            country="US",
            contact_email="privacy@llmcorp.example",
            service_category="AI_MODEL_PROVIDER",
            locations="US",
            data_categories="user.contact.email",
            purpose="Model inference",
            dpf_status="CERTIFIED",
            status="PROPOSED",
            scope="PLATFORM",
            create_time=now,
            update_time=now,
        ).execute()
        welcome = ContentRow.insert(title="welcome", body="", payload="{}").execute()
        batches(
            [
                {
                    "controller_id": c,
                    "kind": "GENERAL",
                    "seq": 1,
                    "resource": f"controllers/{c}",
                    "content_id": welcome,
                    "create_time": now,
                }
                for c in watched
            ],
            NotificationRow,
        )
    database.close()


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notices")
    parser.add_argument("--controllers", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=1_000)
    parser.add_argument("--database", default="", help="default: a fresh SQLite file")
    args = parser.parse_args(list(argv))

    from registry import pki

    work = Path(tempfile.mkdtemp(prefix="bench-notices-"))
    url = args.database or f"sqlite:///{work}/registry.db"
    controllers = [f"c{i:05d}" for i in range(args.controllers)]
    watched = controllers[: args.watchers]

    started = time.perf_counter()
    made = pki.init_dev_pki(work / "pki", TRUST_DOMAIN)
    pki.issue_client_cert(made, "staff", "admin", TRUST_DOMAIN)
    for c in watched:
        pki.issue_client_cert(made, "controller", c, TRUST_DOMAIN)
    _setup_database(url, controllers, watched)
    print(
        f"setup: {args.controllers} controllers with ACTIVE DPAs, {args.watchers} "
        f"certificates ({time.perf_counter() - started:.1f} s)"
    )

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "serve",
            "--processes",
            "1",
            "--listen",
            f"127.0.0.1:{port}",
            "--database",
            url,
            "--tls-cert",
            str(made.server_cert),
            "--tls-key",
            str(made.server_key),
            "--client-ca",
            str(made.ca_cert),
            "--signing-key",
            str(made.signing_key),
            "--max-watchers",
            str(args.watchers + 16),
            "--grace-seconds",
            "2",
        ],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _run(args, made, port, server.pid, watched, url)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _windows_begun(url: str) -> int:
    """Controllers whose objection window has begun (the notice reached them)."""
    from registry import db
    from registry.subprocessors.model import RecipientRow

    db.open_database(url)
    with db.database.connection_context():
        return int(
            RecipientRow.select().where(RecipientRow.first_delivery_time.is_null(False)).count()
        )


def _run(
    args: argparse.Namespace,
    made: object,
    port: int,
    server_pid: int,
    watched: list[str],
    url: str,
) -> None:
    from dpa_client import RegistryClient
    from registry import clock

    target = f"localhost:{port}"

    def client(role: str, name: str) -> RegistryClient:
        cert, key = made.client(role, name)  # type: ignore[attr-defined]
        return RegistryClient(target, ca=made.ca_cert, cert=cert, key=key)  # type: ignore[attr-defined]

    staff = client("staff", "admin")
    deadline = time.monotonic() + 30
    while True:
        try:
            staff.get_subprocessor("llmcorp")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    time.sleep(1.0)
    base_rss = _rss_kib(server_pid)

    ready = threading.Barrier(len(watched) + 1)
    received: dict[str, float] = {}
    lock = threading.Lock()
    watches = []

    def watch(cid: str) -> None:
        w = client("controller", cid).watch_notifications()
        watches.append(w)
        first = next(w)  # the earlier notification: the stream is registered
        del first
        ready.wait()
        notice = next(w)
        with lock:
            received[cid] = time.perf_counter()
        del notice

    started = time.perf_counter()
    for cid in watched:
        threading.Thread(target=watch, args=(cid,), daemon=True).start()
    ready.wait(timeout=300)
    print(f"{len(watched)} watchers connected over mTLS ({time.perf_counter() - started:.1f} s)")
    time.sleep(2.0)
    idle_rss = _rss_kib(server_pid)
    per_watcher = (idle_rss - base_rss) / max(1, len(watched))
    print(
        f"server RSS: {base_rss / 1024:.1f} MiB idle, {idle_rss / 1024:.1f} MiB with "
        f"{len(watched)} idle watchers: {per_watcher:.0f} KiB per watcher"
    )

    t0 = time.perf_counter()
    notice = staff.propose_subprocessor_change(
        "ADDITION", "llmcorp", effective=clock.now() + timedelta(days=31), reason="bench"
    )
    t_persisted = time.perf_counter() - t0
    deadline = time.monotonic() + 60
    while len(received) < len(watched) and time.monotonic() < deadline:
        time.sleep(0.005)
    t_last = max(received.values()) - t0 if received else float("nan")
    print(f"change notice {notice.name} to {notice.recipient_count} controllers")
    print(f"persist all notices (the Propose call): {t_persisted:.2f} s")
    print(
        f"last of {len(received)}/{len(watched)} watchers received its notice: "
        f"{t_last:.2f} s after the call began (target < 5 s)"
    )
    _wait_for_windows(url, len(received), notice.recipient_count, t0, watches)


def _wait_for_windows(
    url: str, streamed: int, recipients: int, t0: float, watches: list[Any]
) -> None:
    """The objection windows begin from the delivery evidence (docs/adr/0018):
    the streamed notices are evidence; the scheduler sweeps open windows."""
    for w in watches:
        w.cancel()
    deadline = time.monotonic() + 300
    begun = 0
    while time.monotonic() < deadline:
        begun = _windows_begun(url)
        if begun >= streamed:
            break
        time.sleep(0.25)
    print(
        f"objection windows begun for {begun}/{streamed} streamed controllers "
        f"(of {recipients}): {time.perf_counter() - t0:.1f} s after the call began"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
