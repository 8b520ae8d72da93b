"""Flat at scale: what a controller or service calls on the
hot or warm path costs the same at 10 and 10,000 sub-processors and at 100
and 100,000 controllers, and a server started on 100,000 controllers answers
its first checks without waiting for the whole transfer snapshot.

    python -m bench.scale              # or: make bench (runs every bench module)
    DPA_BENCH_SCALE_PG=1 DPA_TEST_POSTGRES_URL=... python -m bench.scale
                                       # the same on PostgreSQL as well

One run, SQLite (WAL); each server is ``dpa-registry serve --processes 1`` in
a child process pinned to CPU 0 (the caller on CPU 1), over mutual TLS. Data
is seeded in bulk straight into the tables (``db.insert_rows``), never
through RPCs. The servers being compared (one per size) run side by side and
the calls go to each in turn, one at a time, so a load that comes and goes
on a shared machine weighs on every size alike; server CPU per call (from
each process's own counters) is printed beside the p50. Figures, each from
one run:

- p50 of GetSubprocessorList (first page of 10 entries, so the answer is
  the same size at every scale) and GetSubprocessor, called sequentially as
  a controller, at 10 / 100 / 1,000 / 10,000 sub-processors (platform-wide
  and ACTIVE, each with the addition notice the controller received, plus
  one in ten engaged only for other controllers), and the ratio to the 10
  figure (goal <= 1.2x);
- p50 of CheckTransfer on first-time requests (no memo hits) at 100 and
  100,000 controllers (100 sub-processors), and the ratio (goal <= 1.2x);
- after a restart on 100,000 controllers: the time from the server answering
  Health/Check to its first CheckTransfer answer, the slowest of the first 50
  checks, and when the full snapshot was in place.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from bench import cputime
from dpa_registry_api.v1 import subprocessors_pb2 as spb
from dpa_registry_api.v1 import subprocessors_pb2_grpc as spb_grpc
from dpa_registry_api.v1 import transfers_pb2 as tpb
from dpa_registry_api.v1 import transfers_pb2_grpc as tpb_grpc
from registry import db, pki

SP_SIZES = (10, 100, 1_000, 10_000)
SMALL, LARGE = 100, 100_000
TRANSFER_SPS = 100
LIST_PAGE = 10
"""GetSubprocessorList page size: the same answer size at every scale."""
SECONDS_PER_FIGURE = float(os.environ.get("DPA_BENCH_SCALE_SECONDS", "3"))
MIN_CALLS, MAX_CALLS = 20, 400
FIRST_CHECKS = 50
ME = "acme"  # the controller whose certificate the test PKI issues
USE = "essential.service"
CATEGORIES = ["user.contact.email"]


# --- seeding, in bulk ------------------------------------------------------------------


def _sp_kind(i: int) -> tuple[str, list[str], str]:
    """(country, locations, safeguard country) for sub-processor number i."""
    kinds: list[tuple[str, list[str], str]] = [
        ("EE", ["EE", "FI"], ""),
        ("JP", ["JP"], ""),
        ("US", ["US", "IE"], "US"),
        ("IN", ["IN"], "IN"),
        ("GB", ["GB"], ""),
    ]
    return kinds[i % len(kinds)]


def controller_ids(count: int) -> list[str]:
    return [ME, *(f"c{i:06d}" for i in range(count - 1))]


def seed(url: str, controllers: int, subprocessors: int) -> None:
    """Controllers with ACTIVE DPAs and documented instructions;
    ``subprocessors`` platform-wide and ACTIVE ones (some with SCCs, each with
    the addition notice ME received), one more in ten engaged only for a few
    other controllers; one in fifty controllers objected to sp00000."""
    from registry.agreements.model import AgreementLine, AgreementRow, InstructionRow
    from registry.controllers.model import ControllerRow
    from registry.subprocessors.model import (
        AuthorizationRow,
        NoticeRow,
        RecipientRow,
        SubprocessorRow,
    )
    from registry.transfers.store import SafeguardRow

    database = db.open_database(url)
    db.migrate(database)
    now = datetime.now(UTC)
    today = now.date()
    ids = controller_ids(controllers)
    body = (
        '{"countries":["EE","FI","IE","JP","US","IN","GB"],'
        '"data_categories":["user.contact"],"purposes":["essential.service"]}'
    )

    def bulk(model: Any, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), 5000):
            db.insert_rows(model, rows[i : i + 5000])

    with db.transaction():
        bulk(
            ControllerRow,
            [
                {
                    "controller_id": cid,
                    "legal_name": f"Controller {cid}",
                    "country": "EE",
                    "contact_email": f"p@{cid}.example",
                    "dpo_email": f"d@{cid}.example",
                    "create_time": now,
                    "update_time": now,
                }
                for cid in ids
            ],
        )
        bulk(
            AgreementRow,
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
                    "breach_hours": 48,
                    "end_of_contract": "DELETE",
                    "create_time": now,
                    "update_time": now,
                }
                for cid in ids
            ],
        )
        bulk(
            AgreementLine,
            [
                {
                    "controller_id": cid,
                    "latest_version": 1,
                    "active_version": 1,
                    "instruction_version": 1,
                    "latest_instruction": 1,
                }
                for cid in ids
            ],
        )
        bulk(
            InstructionRow,
            [
                {
                    "controller_id": cid,
                    "version": 1,
                    "agreement_version": 1,
                    "issued_by": f"spiffe://7plus.one/controller/{cid}",
                    "issue_time": now,
                    "body": body,
                }
                for cid in ids
            ],
        )
        sps: list[dict[str, Any]] = []
        safeguards: list[dict[str, Any]] = []
        engaged: list[dict[str, Any]] = []
        notices: list[dict[str, Any]] = []
        recipients: list[dict[str, Any]] = []
        others = ids[1:] or [ME]

        def subprocessor(sid: str, i: int, scope: str) -> dict[str, Any]:
            country, locations, _ = _sp_kind(i)
            return {
                "subprocessor_id": sid,
                "display_name": sid,
                "legal_name": f"{sid} Ltd",
                "address": "1 Example Street",
                "country": country,
                "contact_email": f"p@{sid}.example",
                "service_category": "HOSTING",
                "locations": ",".join(locations),
                "data_categories": "user",
                "purpose": "hosting",
                "dpf_status": "NOT_CERTIFIED" if country == "US" else "NOT_APPLICABLE",
                "dpf_checked_date": today if country == "US" else None,
                "status": "ACTIVE",
                "scope": scope,
                "create_time": now,
                "update_time": now,
            }

        for i in range(subprocessors):
            sid = f"sp{i:05d}"
            sps.append(subprocessor(sid, i, "PLATFORM"))
            # Its (effective) addition notice, received by ME: a history that
            # grows with the registry.
            notices.append(
                {
                    "notice_id": f"n{i:05d}",
                    "kind": "ADDITION",
                    "subprocessor_id": sid,
                    "effective_time": now - timedelta(days=1),
                    "state": "EFFECTIVE",
                    "recipients": 1,
                    "create_time": now - timedelta(days=40),
                    "applied_time": now - timedelta(days=1),
                }
            )
            recipients.append(
                {
                    "notice_id": f"n{i:05d}",
                    "controller_id": ME,
                    "mode": "GENERAL",
                    "notice_days": 30,
                    "objection_days": 30,
                    "notified_time": now - timedelta(days=40),
                    "window_end": now - timedelta(days=10),
                    "decision": "AUTHORIZED",
                    "decided_time": now - timedelta(days=10),
                }
            )
            _, _, sg_country = _sp_kind(i)
            if sg_country:
                safeguards.append(
                    {
                        "subprocessor_id": sid,
                        "safeguard_id": "scc",
                        "destination_country": sg_country,
                        "mechanism": "SCC",
                        "scc_decision": "EU_2021_914",
                        "scc_module": 3,
                        "clause9_option": 2,
                        "signed_on": date(2024, 3, 1),
                        "tia_reference": "TIA-1",
                        "tia_date": date(2024, 2, 20),
                        "tia_review_due": date(2030, 2, 20),
                        "create_time": now,
                        "update_time": now,
                    }
                )
        # One more in ten, engaged only for a few other controllers: rows
        # that do not serve ME.
        for i in range(max(1, subprocessors // 10)):
            sid = f"xp{i:05d}"
            sps.append(subprocessor(sid, i, "NAMED_CONTROLLERS"))
            engaged.extend(
                {
                    "controller_id": others[(i + k) % len(others)],
                    "subprocessor_id": sid,
                    "state": "AUTHORIZED",
                    "update_time": now,
                }
                for k in range(min(3, len(others)))
            )
        engaged.extend(
            {
                "controller_id": cid,
                "subprocessor_id": "sp00000",
                "state": "OBJECTED",
                "update_time": now,
            }
            for cid in ids[::50]
        )
        bulk(SubprocessorRow, sps)
        bulk(SafeguardRow, safeguards)
        bulk(AuthorizationRow, engaged)
        bulk(NoticeRow, notices)
        bulk(RecipientRow, recipients)
    database.close()


# --- server and calls -----------------------------------------------------------------


@contextmanager
def serving(made: pki.DevPki, url: str) -> Iterator[tuple[Any, float]]:
    """``dpa-registry serve --processes 1`` pinned to CPU 0: (server, the
    monotonic time it first answered Health/Check)."""
    from tests import harness

    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if len(cpus) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # inherited by the child
    try:
        server = harness.ServerProcess(made, url, processes=1)
    finally:
        if len(cpus) > 1:
            os.sched_setaffinity(0, {1})
    up = time.monotonic()
    try:
        yield server, up
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=60)


def _channel(made: pki.DevPki, port: int, role: str, name: str) -> grpc.Channel:
    cert, key = made.client(role, name)
    creds = grpc.ssl_channel_credentials(
        made.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    channel = grpc.secure_channel(f"localhost:{port}", creds)
    grpc.channel_ready_future(channel).result(timeout=30)
    return channel


def _interleaved(
    calls: dict[Any, Callable[[int], Any]], pids: dict[Any, int]
) -> dict[Any, tuple[list[float], float]]:
    """Sequential calls to several servers in turn (one call to each per
    round, so every server sees the same machine load) for SECONDS_PER_FIGURE
    per server (at least MIN_CALLS each): per server, ms per call and the
    server's CPU per call (ms, from its own counters)."""
    for call in calls.values():
        call(0)  # warm: connection, first-use caches
    before = {k: cputime.seconds([pid]) for k, pid in pids.items()}
    latencies: dict[Any, list[float]] = {k: [] for k in calls}
    end = time.monotonic() + SECONDS_PER_FIGURE * len(calls)
    i = 1
    while i <= MAX_CALLS and (i <= MIN_CALLS or time.monotonic() < end):
        for k, call in calls.items():
            t = time.perf_counter()
            call(i)
            latencies[k].append((time.perf_counter() - t) * 1000)
        i += 1
    return {
        k: (values, (cputime.seconds([pids[k]]) - before[k]) * 1000 / len(values))
        for k, values in latencies.items()
    }


def _p50(values: list[float]) -> float:
    return statistics.median(values)


# --- figures ----------------------------------------------------------------------------


def subprocessor_reads(
    made: pki.DevPki, url_for: Callable[[str], AbstractContextManager[str]]
) -> dict[int, dict[str, float]]:
    """One server per size, all running; calls interleaved across them."""
    with ExitStack() as stack:
        servers: dict[int, Any] = {}
        for count in SP_SIZES:
            url = stack.enter_context(url_for(f"sp{count}"))
            seed(url, 100, count)
            servers[count], _ = stack.enter_context(serving(made, url))
        for server in servers.values():
            # Its background transfer snapshot build is not a read's cost.
            _wait_for_snapshot(server)
        lists: dict[Any, Callable[[int], Any]] = {}
        gets: dict[Any, Callable[[int], Any]] = {}
        entries: dict[int, int] = {}
        for count, server in servers.items():
            channel = _channel(made, server.port, "controller", ME)
            stack.callback(channel.close)
            stub = spb_grpc.SubprocessorServiceStub(channel)  # type: ignore[no-untyped-call]
            listing = spb.GetSubprocessorListRequest(
                parent=f"controllers/{ME}", page_size=LIST_PAGE
            )
            entries[count] = len(stub.GetSubprocessorList(listing).entries)
            rng = random.Random(count)
            names = [
                spb.GetSubprocessorRequest(name=f"subprocessors/sp{rng.randrange(count):05d}")
                for _ in range(MAX_CALLS + 1)
            ]
            lists[count] = lambda i, stub=stub, listing=listing: stub.GetSubprocessorList(listing)
            gets[count] = lambda i, stub=stub, names=names: stub.GetSubprocessor(names[i])
        pids = {count: server.proc.pid for count, server in servers.items()}
        listed = _interleaved(lists, pids)
        got = _interleaved(gets, pids)
    return {
        count: {
            "list": _p50(listed[count][0]),
            "list_cpu": listed[count][1],
            "get": _p50(got[count][0]),
            "get_cpu": got[count][1],
            "entries": float(entries[count]),
        }
        for count in SP_SIZES
    }


def _check_requests(controllers: int, on: date, count: int) -> list[tpb.CheckTransferRequest]:
    """Distinct requests (each its own transfer date): no memo hits."""
    rng = random.Random(controllers)
    ids = controller_ids(controllers)
    return [
        tpb.CheckTransferRequest(
            controller_id=rng.choice(ids),
            subprocessor_id=f"sp{rng.randrange(TRANSFER_SPS):05d}",
            data_categories=CATEGORIES,
            purpose=USE,
            transfer_date=(on + timedelta(days=i)).isoformat(),
        )
        for i in range(count)
    ]


def _wait_for_snapshot(server: Any) -> float:
    """When the server logged its full transfer snapshot in place (monotonic)."""
    deadline = time.monotonic() + 300
    while "transfer snapshot built" not in server.log_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the transfer snapshot was never built")
        time.sleep(0.05)
    return time.monotonic()


def _first_checks(
    made: pki.DevPki, server: Any, up: float, requests: list[tpb.CheckTransferRequest]
) -> dict[str, float]:
    """The first FIRST_CHECKS checks after the server answered Health/Check."""
    channel = _channel(made, server.port, "service", "checker")
    stub = tpb_grpc.TransferServiceStub(channel)  # type: ignore[no-untyped-call]
    first: list[float] = []
    first_answer = 0.0
    for request in requests:
        t = time.perf_counter()
        stub.CheckTransfer(request)
        first.append((time.perf_counter() - t) * 1000)
        if not first_answer:
            first_answer = (time.monotonic() - up) * 1000
    built = _wait_for_snapshot(server)
    channel.close()
    return {
        "first_ms": first_answer,
        "first_max_ms": max(first),
        "first_sum_ms": sum(first),
        "built_s": built - up,
    }


def checks(
    made: pki.DevPki, url_for: Callable[[str], AbstractContextManager[str]]
) -> dict[int, dict[str, float]]:
    """Each server started and its first checks timed in turn; then steady
    checks interleaved across both."""
    on = datetime.now(UTC).date()
    figures: dict[int, dict[str, float]] = {}
    calls: dict[Any, Callable[[int], Any]] = {}
    pids: dict[Any, int] = {}
    with ExitStack() as stack:
        for controllers in (SMALL, LARGE):
            url = stack.enter_context(url_for(f"c{controllers}"))
            seed(url, controllers, TRANSFER_SPS)
            requests = _check_requests(controllers, on, MAX_CALLS + FIRST_CHECKS + 1)
            # Started once and stopped: the first start after a bulk seed also
            # brings other domains' journals up to date (seconds at 100,000
            # controllers); the figures are for a restart, as in operation.
            with serving(made, url):
                pass
            spawned = time.monotonic()
            server, up = stack.enter_context(serving(made, url))
            figures[controllers] = _first_checks(made, server, up, requests[:FIRST_CHECKS])
            figures[controllers]["start_s"] = up - spawned
            channel = _channel(made, server.port, "service", "checker")
            stack.callback(channel.close)
            stub = tpb_grpc.TransferServiceStub(channel)  # type: ignore[no-untyped-call]
            rest = requests[FIRST_CHECKS:]
            calls[controllers] = lambda i, stub=stub, rest=rest: stub.CheckTransfer(rest[i])
            pids[controllers] = server.proc.pid
        for controllers, (latencies, cpu) in _interleaved(calls, pids).items():
            figures[controllers] |= {"p50": _p50(latencies), "cpu": cpu}
    return figures


def run(made: pki.DevPki, url_for: Callable[[str], AbstractContextManager[str]]) -> None:
    """Every figure on one backend; ``url_for(name)`` gives a fresh database."""
    reads = subprocessor_reads(made, url_for)
    for count in SP_SIZES:
        r = reads[count]
        print(
            f"  {count:>6,} sub-processors: GetSubprocessorList p50 {r['list']:.2f} ms "
            f"(server CPU {r['list_cpu']:.2f} ms/call, {r['entries']:.0f} entries), "
            f"GetSubprocessor p50 {r['get']:.2f} ms (server CPU {r['get_cpu']:.2f} ms/call)",
            flush=True,
        )
    base = reads[SP_SIZES[0]]
    for name, key in (("GetSubprocessorList", "list"), ("GetSubprocessor", "get")):
        cells = " / ".join(f"{reads[n][key]:.2f}" for n in SP_SIZES)
        cpu = " / ".join(f"{reads[n][key + '_cpu']:.2f}" for n in SP_SIZES)
        ratio = reads[SP_SIZES[-1]][key] / base[key]
        cpu_ratio = reads[SP_SIZES[-1]][key + "_cpu"] / base[key + "_cpu"]
        print(
            f"{name} as a controller at "
            f"{' / '.join(f'{n:,}' for n in SP_SIZES)} sub-processors: p50 {cells} ms, "
            f"server CPU per call {cpu} ms; {SP_SIZES[-1]:,} vs {SP_SIZES[0]}: p50 "
            f"{ratio:.2f}x, CPU {cpu_ratio:.2f}x (goal <= 1.2x) "
            f"{'OK' if ratio <= 1.2 else 'SHORT'}",
            flush=True,
        )
    checked = checks(made, url_for)
    small, large = checked[SMALL], checked[LARGE]
    ratio = large["p50"] / small["p50"]
    cpu_ratio = large["cpu"] / small["cpu"]
    print(
        f"CheckTransfer (first-time requests): p50 {small['p50']:.2f} ms at {SMALL:,} "
        f"controllers, {large['p50']:.2f} ms at {LARGE:,}: {ratio:.2f}x; server CPU per "
        f"call {small['cpu']:.2f} / {large['cpu']:.2f} ms: {cpu_ratio:.2f}x (goal <= 1.2x) "
        f"{'OK' if ratio <= 1.2 else 'SHORT'}"
    )
    for label, f in ((f"{SMALL:,}", small), (f"{LARGE:,}", large)):
        print(
            f"after a restart at {label} controllers: first CheckTransfer answered "
            f"{f['first_ms']:.1f} ms after SERVING; slowest of the first {FIRST_CHECKS} "
            f"{f['first_max_ms']:.1f} ms; all {FIRST_CHECKS} in {f['first_sum_ms']:.0f} ms; "
            f"full snapshot in place {f['built_s']:.2f} s after SERVING (process start to "
            f"SERVING {f['start_s']:.2f} s)",
            flush=True,
        )


def databases(tmp: Path) -> dict[str, Callable[[str], AbstractContextManager[str]]]:
    """A fresh database per name, by backend: a file below ``tmp`` for
    SQLite, a schema of its own on PostgreSQL."""
    from tests import harness

    @contextmanager
    def sqlite(name: str) -> Iterator[str]:
        yield f"sqlite:///{tmp}/{name}.db"

    return {"SQLite": sqlite, "PostgreSQL": lambda name: harness.postgres_schema()}


def reads(backends: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """``subprocessor_reads`` on each named backend, this process on CPU 1
    and every core again after (``make bench``)."""
    from bench.hotpath import on_generator_cpu
    from tests import harness

    with on_generator_cpu(), tempfile.TemporaryDirectory() as tmp_name:
        made = harness.make_pki(Path(tmp_name) / "pki")
        urls = databases(Path(tmp_name))
        return {b: subprocessor_reads(made, urls[b]) for b in backends}


def main() -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from tests import harness

    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        made = harness.make_pki(tmp / "pki")
        urls = databases(tmp)
        print("SQLite (WAL)", flush=True)
        run(made, urls["SQLite"])
        if os.environ.get("DPA_BENCH_SCALE_PG") and harness.postgres_url():
            print("PostgreSQL (loopback)", flush=True)
            run(made, urls["PostgreSQL"])
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
