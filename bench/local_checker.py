"""LocalChecker benchmark: decisions in the caller's process (docs/local-checker.md).

    python -m bench.local_checker          # about 2 minutes; SQLite (WAL)
    DPA_BENCH_CHECKERS=100 DPA_BENCH_LARGE=100000 python -m bench.local_checker

One run, on this machine: a real server in a child process pinned to CPU 0
(``bench.transfers``'s), data seeded straight into the tables; this process
(CPU 1) holds the checkers. It prints

* the cost of one decision in process (``LocalChecker.check_transfer`` and
  ``check_processing``: validation, lookups, the shared ``decide``), p50 and
  p99, at 100 and at ``DPA_BENCH_LARGE`` controllers (default 100,000), with
  every request distinct (no memo hit: the first pass after load, and another
  20,000 with the memo emptied, apart from the first pass's first-touch page
  faults, counted beside them) and on a realistic mix (20,000 requests
  drawn from 2,000 distinct ones: the per-revision memo answers repeats; once
  as it comes, once more with every answer remembered), with the default
  settings and with ``freeze_gc=True``, and the collector's runs meanwhile;
* the snapshot load time and the memory it takes per 1,000 controllers (RSS
  of this process before and after, the large load minus the small one);
* commit -> applied: from a write's commit (its RPC returning) until every one
  of ``DPA_BENCH_CHECKERS`` (default 100) connected checkers holds it, over
  ``DPA_BENCH_WRITES`` (default 20) controllers' writes (objections to a
  sub-processor change and withdrawn authorisations, in turn), with the
  server's thread count while they are connected; once with the change
  streams on the stream host, once with ``--stream-listen off`` (a thread
  per stream on the main port).

Goal: p99 <= 10 us per decision at 100,000 controllers. Speed varies with
the machine's load: the load average is printed; compare figures within one run.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import transfers
from dpa_client import LocalChecker, RegistryClient
from registry import pki
from tests import factories

LARGE = int(os.environ.get("DPA_BENCH_LARGE", "100000"))
CHECKERS = int(os.environ.get("DPA_BENCH_CHECKERS", "100"))
WRITES = int(os.environ.get("DPA_BENCH_WRITES", "20"))
SUBPROCESSORS = 100
CATEGORIES = ["user.contact.email", "user.contact", "user.financial", "user"]
PURPOSES = ["essential.service", "marketing.advertising", "train_ai_system"]
OPERATIONS = ["STORE", "ANALYZE", "TRAIN_MODEL", "TRANSMIT"]


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _client(made: pki.DevPki, port: int, role: str = "service", name: str = "checker") -> Any:
    cert, key = made.client(role, name)
    if not cert.exists():
        from tests.harness import TRUST_DOMAIN

        pki.issue_client_cert(made, role, name, TRUST_DOMAIN)
    return RegistryClient(f"localhost:{port}", ca=made.ca_cert, cert=cert, key=key)


def _requests(controllers: int, count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    on = datetime.now(UTC).date() + timedelta(days=1)
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        cid = f"c{rng.randrange(controllers):06d}"
        if rng.random() < 0.7:
            out.append(
                (
                    "transfer",
                    {
                        "controller_id": cid,
                        "subprocessor_id": f"sp{rng.randrange(SUBPROCESSORS):04d}",
                        "data_categories": [rng.choice(CATEGORIES)],
                        "purpose": rng.choice(PURPOSES),
                        "transfer_date": on + timedelta(days=i % 300),
                    },
                )
            )
        else:
            out.append(
                (
                    "processing",
                    {
                        "controller_id": cid,
                        "purpose": rng.choice(PURPOSES),
                        "data_categories": [rng.choice(CATEGORIES)],
                        "operation": rng.choice(OPERATIONS),
                        "country": rng.choice(["", "EE", "US"]),
                    },
                )
            )
    return out


class Pauses:
    """The cyclic collector's runs while timing: count per generation and
    the longest pause (gc.callbacks)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.longest = [0.0, 0.0, 0.0]
        self._start = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
            return
        gen = info["generation"]
        self.count[gen] += 1
        self.longest[gen] = max(self.longest[gen], (time.perf_counter_ns() - self._start) / 1000)

    def __str__(self) -> str:
        return ", ".join(
            f"gen{g} {self.count[g]}x (max {self.longest[g]:.0f} us)" for g in range(3)
        )


def _time(
    checker: LocalChecker,
    requests: list[tuple[str, dict[str, Any]]],
    pauses: Pauses | None = None,
) -> tuple[list[float], list[float], int]:
    """(wall-clock us, this thread's CPU us) per decision, and the page
    faults meanwhile; ``pauses`` counts the collector's runs. On a loaded
    machine the wall clock includes time the thread was not running; the
    CPU time is the decision's own cost. The arguments are built and the
    samples go into arrays filled before timing starts: a float per sample
    would take a fresh page of memory every 64 decisions, and its
    first-touch fault would land on a decision."""
    calls: dict[str, Callable[..., Any]] = {
        "transfer": checker.check_transfer,
        "processing": checker.check_processing,
    }
    prepared: list[tuple[Callable[..., Any], str, dict[str, Any]]] = []
    for kind, kw in requests:
        args = dict(kw)
        cid = args.pop("controller_id")
        prepared.append((calls[kind], cid, args))
    wall = array("q", [0]) * len(prepared)
    cpu = array("q", [0]) * len(prepared)
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    if pauses is not None:
        gc.callbacks.append(pauses)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    try:
        for i, (call, cid, args) in enumerate(prepared):
            c, t = cpu_clock(), clock()
            call(cid, **args)
            t2, c2 = clock(), cpu_clock()
            wall[i] = t2 - t
            cpu[i] = c2 - c
    finally:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        if pauses is not None:
            gc.callbacks.remove(pauses)
    return [w / 1000 for w in wall], [c / 1000 for c in cpu], faults


def decisions(
    made: pki.DevPki, port: int, controllers: int, *, freeze_gc: bool = False
) -> dict[str, Any]:
    client = _client(made, port)
    gc.collect()
    gc.unfreeze()
    before = _rss_mb()
    t0 = time.perf_counter()
    checker = LocalChecker(client, max_staleness=60, freeze_gc=freeze_gc)
    loaded = time.perf_counter() - t0
    gc.collect()
    after = _rss_mb()
    try:
        distinct = _requests(controllers, 20_000, 1)
        _time(checker, distinct[:2000])  # warm up
        checker._memo.clear()
        tracked = len(gc.get_objects())
        cold_pauses, warm_pauses = Pauses(), Pauses()
        cold, cold_cpu, cold_faults = _time(checker, distinct, cold_pauses)
        # Another 20,000 distinct requests with the memo emptied again: what
        # the first pass costs beyond them is the memo growing into memory
        # the process had never touched (first-touch page faults), which a
        # long-running checker has paid once.
        checker._memo.clear()
        again, again_cpu, again_faults = _time(checker, _requests(controllers, 20_000, 4))
        pool = _requests(controllers, 2_000, 2)
        rng = random.Random(3)
        mix = [rng.choice(pool) for _ in range(20_000)]
        warm, warm_cpu, _ = _time(checker, mix)  # a tenth are first-time misses
        # Again, every answer in the memo: what is left is the collector.
        hot, hot_cpu, _ = _time(checker, mix, warm_pauses)
        # The same mix with the cyclic collector paused: how much of the tail
        # is the caller's garbage collection rather than the decision.
        gc.collect()
        gc.disable()
        try:
            quiet, quiet_cpu, _ = _time(checker, mix)
        finally:
            gc.enable()
        # A gateway's usual tuning: freeze what start-up made, collect less often.
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            tuned, tuned_cpu, _ = _time(checker, mix)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        return {
            "tracked": tracked,
            "distinct_pauses": cold_pauses,
            "mix_pauses": warm_pauses,
            "load_s": loaded,
            "rss_mb": after - before,
            "distinct_p50": _p(cold, 0.5),
            "distinct_p99": _p(cold, 0.99),
            "distinct_cpu_p99": _p(cold_cpu, 0.99),
            "distinct_faults": cold_faults,
            "again_p50": _p(again, 0.5),
            "again_p99": _p(again, 0.99),
            "again_cpu_p99": _p(again_cpu, 0.99),
            "again_faults": again_faults,
            "mix_p50": _p(warm, 0.5),
            "mix_p99": _p(warm, 0.99),
            "mix_cpu_p99": _p(warm_cpu, 0.99),
            "hot_p50": _p(hot, 0.5),
            "hot_p99": _p(hot, 0.99),
            "hot_cpu_p99": _p(hot_cpu, 0.99),
            "nogc_p99": _p(quiet, 0.99),
            "nogc_cpu_p99": _p(quiet_cpu, 0.99),
            "tuned_p99": _p(tuned, 0.99),
            "tuned_cpu_p99": _p(tuned_cpu, 0.99),
        }
    finally:
        checker.close()
        client.close()


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def commit_to_applied(
    made: pki.DevPki, server: transfers.Server, first: int = 0
) -> tuple[list[float], int, int]:
    """(ms per write until every checker holds it, checkers, server threads
    with them all connected). The writes are the controllers' own, from
    controller ``first`` on, in turn: an objection to a sub-processor
    change announced for the run, and a withdrawn authorisation."""
    port = server.port
    staff = _client(made, port, "staff", "admin")
    added = f"newsp{first}"
    factories.subprocessor(
        staff,
        added,
        country="US",
        locations=["US"],
        data_categories=["user"],
        dpf_status="CERTIFIED",
        dpf_checked=datetime.now(UTC).date(),
    )
    notice = staff.propose_subprocessor_change(
        "ADDITION", added, effective=datetime.now(UTC) + timedelta(days=31), reason="bench"
    )
    staff.close()
    clients = [_client(made, port) for _ in range(CHECKERS)]
    checkers = [LocalChecker(c, heartbeat=1.0, max_staleness=60) for c in clients]
    writers = [_client(made, port, "controller", f"c{i:06d}") for i in range(first, first + WRITES)]
    lags: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while not all(c.status().connected for c in checkers):
            if time.monotonic() > deadline:
                raise RuntimeError("checkers did not connect")
            time.sleep(0.05)
        threads = _threads(server.proc.pid)
        for i, writer in enumerate(writers, start=first):
            if i % 2 == 0:
                writer.object_to_subprocessor_change(notice.name, reason="bench: commit to applied")
            else:
                writer.withdraw_subprocessor_authorization(
                    f"c{i:06d}", "sp0001", reason="bench: commit to applied"
                )
            committed = time.perf_counter()
            receipt = writer.last_receipt
            assert receipt is not None
            # Waiting in turn: each wait returns at once if that checker has it,
            # so the loop ends when the slowest checker has applied the write.
            for checker in checkers:
                if not checker.wait_for(receipt.revision, 30):
                    raise RuntimeError("a checker did not apply the write within 30 s")
            lags.append((time.perf_counter() - committed) * 1000)
            time.sleep(0.05)
        return lags, len(checkers), threads
    finally:
        for c in checkers:
            c.close()
        for c in clients + writers:
            c.close()


def per_1000_mb(figures: dict[tuple[int, bool], dict[str, Any]]) -> float:
    """RSS per 1,000 controllers: the large load minus the small one."""
    small, large = figures[(100, False)], figures[(LARGE, False)]
    return float(large["rss_mb"] - small["rss_mb"]) / ((LARGE - 100) / 1000)


def _print_decisions(figures: dict[tuple[int, bool], dict[str, Any]]) -> None:
    print("\nLocalChecker, per decision in process (us), 70% CheckTransfer / 30% CheckProcessing")
    print("(p99 cpu: this thread's CPU time, without the time the loaded machine took it off;")
    print(" mix: 20,000 drawn from 2,000 distinct, the first pass (a tenth are first-time misses);")
    print(" hot: the same mix again, every answer in the memo, the collector running as usual;")
    print(" freeze: LocalChecker(freeze_gc=True); tracked: objects the cyclic GC would scan)")
    heads = (
        "controllers",
        "freeze",
        "distinct p50",
        "p99",
        "p99 cpu",
        "mix p50",
        "p99",
        "p99 cpu",
        "hot p50",
        "p99",
        "p99 cpu",
        "load s",
        "tracked",
    )
    print(
        "{:>12} {:>6} {:>13} {:>7} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7} {:>8} {:>7} {:>10}".format(
            *heads
        )
    )
    for (n, freeze), f in sorted(figures.items()):
        print(
            f"{n:>12,} {'yes' if freeze else 'no':>6} {f['distinct_p50']:>13.1f} "
            f"{f['distinct_p99']:>7.1f} {f['distinct_cpu_p99']:>8.1f} {f['mix_p50']:>8.1f} "
            f"{f['mix_p99']:>7.1f} {f['mix_cpu_p99']:>8.1f} {f['hot_p50']:>8.1f} "
            f"{f['hot_p99']:>7.1f} {f['hot_cpu_p99']:>8.1f} {f['load_s']:>7.2f} "
            f"{f['tracked']:>10,}"
        )
    for (n, freeze), f in sorted(figures.items()):
        label = f"{n:,}{' freeze' if freeze else ''}"
        print(f"  GC runs while timed, {label}: distinct {f['distinct_pauses']}")
        print(f"  {' ' * len(label)}                hot {f['mix_pauses']}")
    for (n, freeze), f in sorted(figures.items()):
        print(
            f"  distinct, {n:,}{' freeze' if freeze else ''}: first pass after load p50 "
            f"{f['distinct_p50']:.1f} p99 {f['distinct_p99']:.1f} us ({f['distinct_faults']} "
            f"page faults); another 20,000 with the memo emptied p50 {f['again_p50']:.1f} "
            f"p99 {f['again_p99']:.1f} us, cpu {f['again_cpu_p99']:.1f} us "
            f"({f['again_faults']} page faults)"
        )
    per_1000 = per_1000_mb(figures)
    print(f"memory: {per_1000:.2f} MB per 1,000 controllers (RSS, {LARGE:,} minus 100)")
    paused = ", ".join(
        f"{n:,}: wall {f['nogc_p99']:.1f} us, cpu {f['nogc_cpu_p99']:.1f} us"
        for (n, freeze), f in sorted(figures.items())
        if not freeze
    )
    print(f"mix with the cyclic GC paused, p99: {paused}")
    tuned = ", ".join(
        f"{n:,}: wall {f['tuned_p99']:.1f} us, cpu {f['tuned_cpu_p99']:.1f} us"
        for (n, freeze), f in sorted(figures.items())
        if not freeze
    )
    print(f"mix with gc.freeze() and gc.set_threshold(50_000, 20, 20), p99: {tuned}")
    for freeze in (False, True):
        f = figures[(LARGE, freeze)]
        for label in ("distinct", "again", "mix", "hot"):
            wall, cpu = f[f"{label}_p99"], f[f"{label}_cpu_p99"]
            named = "distinct, the second set" if label == "again" else label
            print(
                f"p99 goal <= 10 us at {LARGE:,} controllers, {named}"
                f"{', freeze_gc' if freeze else ''}: wall {wall:.1f} us "
                f"({'met' if wall <= 10 else 'NOT met'}), cpu {cpu:.1f} us "
                f"({'met' if cpu <= 10 else 'NOT met'})"
            )


@dataclass
class Measured:
    """One run's figures (``make bench`` takes them)."""

    figures: dict[tuple[int, bool], dict[str, Any]]
    lags: list[float]
    checkers: int
    threads: int
    old_lags: list[float]
    old_threads: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def measure() -> Measured:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    from tests import harness

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pki_dir = tmp / "pki"
        made = harness.make_pki(pki_dir)
        figures: dict[tuple[int, bool], dict[str, Any]] = {}
        lags: list[float] = []
        count = threads = 0
        old_lags: list[float] = []
        old_threads = 0
        # The large one first: its RSS is measured before the 100 checkers of
        # commit -> applied leave freed memory behind for it to reuse.
        for controllers in (LARGE, 100):
            url = f"sqlite:///{tmp}/c{controllers}.db"
            t0 = time.perf_counter()
            transfers.seed(url, controllers, SUBPROCESSORS)
            print(
                f"seeded {controllers:,} controllers in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            server = transfers.start_server(url, pki_dir, tmp)
            try:
                for freeze in (False, True):
                    figures[(controllers, freeze)] = decisions(
                        made, server.port, controllers, freeze_gc=freeze
                    )
                if controllers == 100:
                    lags, count, threads = commit_to_applied(made, server)
            finally:
                server.stop()
            if controllers == 100:
                # The same with --stream-listen off: a server thread per stream.
                os.environ["DPA_BENCH_STREAM_LISTEN"] = "off"
                try:
                    server = transfers.start_server(url, pki_dir, tmp)
                finally:
                    del os.environ["DPA_BENCH_STREAM_LISTEN"]
                try:
                    old_lags, _, old_threads = commit_to_applied(made, server, WRITES)
                finally:
                    server.stop()
    return Measured(
        figures, lags, count, threads, old_lags, old_threads, load_before, os.getloadavg()
    )


def to_json(m: Measured) -> dict[str, Any]:
    return {
        "figures": {
            f"{n},{int(freeze)}": {
                k: v if isinstance(v, int | float) else str(v) for k, v in f.items()
            }
            for (n, freeze), f in m.figures.items()
        },
        "lags": m.lags,
        "checkers": m.checkers,
        "threads": m.threads,
        "old_lags": m.old_lags,
        "old_threads": m.old_threads,
        "load_before": list(m.load_before),
        "load_after": list(m.load_after),
    }


def from_json(data: dict[str, Any]) -> Measured:
    figures = {}
    for key, f in data["figures"].items():
        n, freeze = key.split(",")
        figures[(int(n), freeze == "1")] = f
    return Measured(
        figures,
        data["lags"],
        data["checkers"],
        data["threads"],
        data["old_lags"],
        data["old_threads"],
        tuple(data["load_before"]),
        tuple(data["load_after"]),
    )


def main(argv: list[str] | None = None) -> None:
    """``--json PATH`` also writes the figures there (``make bench`` runs this
    module in a process of its own, so that the memory figure starts clean)."""
    args = sys.argv[1:] if argv is None else argv
    m = measure()
    if args[:1] == ["--json"]:
        Path(args[1]).write_text(json.dumps(to_json(m)))
    _print_decisions(m.figures)
    if m.lags:
        print(
            f"commit -> applied by all {m.checkers} checkers, {len(m.lags)} writes: "
            f"p50 {_p(m.lags, 0.5):.1f} ms, max {max(m.lags):.1f} ms; "
            f"server threads with them connected: {m.threads} (streams on the stream host)"
        )
    if m.old_lags:
        print(
            f"  the same, --stream-listen off (a server thread per stream): "
            f"p50 {_p(m.old_lags, 0.5):.1f} ms, max {max(m.old_lags):.1f} ms; "
            f"server threads: {m.old_threads}"
        )
    print(
        f"load average before {m.load_before[0]:.2f}, after {m.load_after[0]:.2f}; "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
