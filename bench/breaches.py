"""Breach notification benchmark: one breach affecting 10,000 controllers, 1,000
of them watching live over mutual TLS.

    python -m bench.breaches                      # SQLite
    DPA_TEST_POSTGRES_URL=... python -m bench.breaches postgres

Measures, from the moment staff send ReportBreach: (1) when the RPC returns,
i.e. every obligation, notification and audit entry is committed; (2) when
the last of the 1,000 watchers has its notice. Target (issue 7): under 5 s.

The server runs in its own process (``dpa-registry serve``) so that the
watchers' client threads do not share its interpreter. Controllers, their
ACTIVE DPAs (24/48/72 h, three time zones) and one platform-wide hosting
sub-processor are seeded straight into the tables; each watcher first
receives one seeded notification, which proves its stream is registered
before the clock starts.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from dpa_client import RegistryClient
from dpa_client._breaches import BreachDetails
from dpa_registry_api.v1 import notifications_pb2
from registry import clock, db, pki
from tests import harness

CONTROLLERS = 10_000
WATCHERS = 1_000
HOURS = (24, 48, 72)
ZONES = ("Europe/Tallinn", "America/New_York", "")
TARGET_SECONDS = 5.0


def seed(url: str) -> None:
    """Controllers, ACTIVE DPAs, a platform-wide ACTIVE sub-processor, and one
    warm-up notification per watcher, in bulk."""
    from registry.agreements.model import AgreementLine, AgreementRow
    from registry.controllers.model import ControllerRow
    from registry.notifications.model import NotificationRow
    from registry.subprocessors.model import SubprocessorRow

    database = db.open_database(url)
    db.migrate(database)
    now = clock.now()
    ids = [f"c{i:05d}" for i in range(CONTROLLERS)]
    with db.transaction():
        for i in range(0, CONTROLLERS, 500):
            batch = ids[i : i + 500]
            ControllerRow.insert_many(
                [
                    {
                        "controller_id": cid,
                        "legal_name": f"{cid} AS",
                        "country": "EE",
                        "contact_email": f"privacy@{cid}.example",
                        "dpo_email": f"dpo@{cid}.example",
                        "time_zone": ZONES[n % len(ZONES)],
                        "create_time": now,
                        "update_time": now,
                    }
                    for n, cid in enumerate(batch, start=i)
                ]
            ).execute()
            AgreementRow.insert_many(
                [
                    {
                        "controller_id": cid,
                        "version": 1,
                        "state": "ACTIVE",
                        "requested_by": "spiffe://7plus.one/staff/bench",
                        "proposal": "{}",
                        "authorization_mode": "general",
                        "notice_days": 30,
                        "objection_days": 30,
                        "breach_hours": HOURS[n % len(HOURS)],
                        "end_of_contract": "DELETE",
                        "create_time": now,
                        "update_time": now,
                    }
                    for n, cid in enumerate(batch, start=i)
                ]
            ).execute()
            AgreementLine.insert_many(
                [{"controller_id": cid, "latest_version": 1, "active_version": 1} for cid in batch]
            ).execute()
        SubprocessorRow.create(
            subprocessor_id="hostco",
            display_name="HostCo",
            legal_name="HostCo OU",
            address="1 Example Street, Tallinn",
            country="EE",
            contact_email="privacy@hostco.example",
            service_category="HOSTING",
            locations="EE,FI",
            data_categories="user.contact.email",
            purpose="Hosting of the platform",
            dpf_status="NOT_APPLICABLE",
            status="ACTIVE",
            scope="PLATFORM",
            create_time=now,
            update_time=now,
        )
        NotificationRow.insert_many(
            [
                {
                    "controller_id": cid,
                    "seq": 1,
                    "kind": "GENERAL",
                    "title": "warm-up",
                    "body": "",
                    "resource": "bench",
                    "payload": "{}",
                    "create_time": now,
                }
                for cid in ids[:WATCHERS]
            ]
        ).execute()
    database.close()


def serve(made: pki.DevPki, url: str, port: int) -> subprocess.Popen[str]:
    d = made.directory
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "--log-level",
            "WARNING",
            "serve",
            "--processes",
            "1",
            "--listen",
            f"127.0.0.1:{port}",
            "--database",
            url,
            "--tls-cert",
            str(d / "server.crt"),
            "--tls-key",
            str(d / "server.key"),
            "--client-ca",
            str(d / "ca.crt"),
            "--signing-key",
            str(d / "audit-signing.key"),
            "--trust-domain",
            harness.TRUST_DOMAIN,
            "--workers",
            str(WATCHERS + 64),
        ],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_serving(client: RegistryClient, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            client.log_info()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_watchers(
    made: pki.DevPki,
    target: str,
    watched: list[str],
    clients: list[RegistryClient],
    received: list[float],
) -> list[Any]:
    """One mTLS client and Watch stream per controller; returns once every
    stream has delivered its warm-up notification (so it is registered)."""
    warm = threading.Barrier(len(watched) + 1, timeout=120)
    lock = threading.Lock()
    watches = []
    for cid in watched:
        c_cert, c_key = made.client("controller", cid)
        c = RegistryClient(target, ca=made.ca_cert, cert=c_cert, key=c_key)
        clients.append(c)
        watches.append(c.watch_notifications())

    def watch(w: Any) -> None:
        it = iter(w)
        next(it)  # the warm-up notification: the stream is registered
        warm.wait()
        for n in it:
            if n.kind == notifications_pb2.NOTIFICATION_KIND_BREACH:
                with lock:
                    received.append(time.perf_counter())
                return

    for w in watches:
        threading.Thread(target=watch, args=(w,), daemon=True).start()
    warm.wait()
    time.sleep(0.5)  # let the server's hub settle
    return watches


def run(label: str, url: str, workdir: Path) -> dict[str, float]:
    made = pki.init_dev_pki(workdir / "pki", harness.TRUST_DOMAIN)
    pki.issue_client_cert(made, "staff", "admin", harness.TRUST_DOMAIN)
    watched = [f"c{i:05d}" for i in range(WATCHERS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda cid: pki.issue_client_cert(made, "controller", cid, harness.TRUST_DOMAIN),
                watched,
            )
        )
    seed(url)
    print(
        f"  [{label}] seeded {CONTROLLERS} controllers and certificates in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    port = harness.free_port()
    proc = serve(made, url, port)
    target = f"localhost:{port}"
    cert, key = made.client("staff", "admin")
    staff = RegistryClient(target, ca=made.ca_cert, cert=cert, key=key, timeout=120)
    clients: list[RegistryClient] = []
    watches: list[Any] = []
    try:
        wait_serving(staff, proc)
        received: list[float] = []
        watches = start_watchers(made, target, watched, clients, received)
        aware = clock.now() - timedelta(minutes=5)
        t0 = time.perf_counter()
        breach = staff.report_breach(
            BreachDetails(
                types=["CONFIDENTIALITY"],
                description="Storage bucket of the hosting provider exposed",
                data_categories=["user.contact.email"],
                data_subject_categories=["customer"],
                approx_data_subjects=250_000,
                subprocessors=["hostco"],
                contact_email="dpo@7plus.one",
            ),
            awareness_time=aware,
            detection_time=aware,
        )
        persisted = time.perf_counter() - t0
        wait_until = time.monotonic() + 60
        while len(received) < WATCHERS and time.monotonic() < wait_until:
            time.sleep(0.01)
        if len(received) < WATCHERS:
            raise RuntimeError(f"only {len(received)} of {WATCHERS} watchers got the notice")
        last = max(received) - t0
        median = statistics.median(received) - t0
        assert breach.counts.affected == CONTROLLERS and breach.counts.sent == CONTROLLERS
        result = {"persisted_s": persisted, "last_watcher_s": last, "median_watcher_s": median}
        print(
            f"  [{label}] {CONTROLLERS} obligations persisted in {persisted:.2f} s; "
            f"{WATCHERS} watchers: median {median:.2f} s, last {last:.2f} s "
            f"(target < {TARGET_SECONDS:.0f} s: {'met' if last < TARGET_SECONDS else 'MISSED'})",
            flush=True,
        )
        return result
    finally:
        for w in watches:
            w.cancel()
        for c in clients:
            c.close()
        staff.close()
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    backends = sys.argv[1:] or ["sqlite"]
    results: dict[str, dict[str, float]] = {}
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                results[backend] = run(backend, f"sqlite:///{tmp}/registry.db", Path(tmp))
            elif backend == "postgres":
                if not harness.postgres_url():
                    print(f"  [postgres] skipped: {harness.PG_ENV} not set")
                    continue
                with harness.postgres_schema() as url:
                    results[backend] = run(backend, url, Path(tmp))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
