"""``make bench``: the performance issue's table in one run, SQLite and
(when DPA_TEST_POSTGRES_URL is set) PostgreSQL, then the LocalChecker's.

    python -m bench.run              # both tables (about 10 minutes)
    python -m bench.run all          # every benchmark module in bench/, in turn
    python -m bench.run audit wal    # the named modules

Every ratio in the table comes from one run of both of its sides on the same
server; CPU per call comes from the server processes' own counters (see
``bench.hotpath``) and, for audit appends, from this process's own counters;
where valgrind is installed, ``bench.instructions`` adds the same CPU ratio
counted in instructions, which this machine's noise does not move.
GetSubprocessorList's row is ``bench.scale``'s reads, the breach row
``bench.breaches``' three runs per backend, the LocalChecker table
``bench.local_checker``'s run; each module prints more on its own.
The machine's load average before and after is printed with it: on a shared
machine, compare ratios and CPU per call rather than calls/s.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import bench
from bench import audit, breaches, hotpath, instructions, local_checker, scale


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def table() -> None:
    load_before = os.getloadavg()
    started = time.perf_counter()
    measured = hotpath.measure_all()
    rows = {(r.backend, r.processes): r for r in measured.rows}
    relative = measured.relative
    appends = audit.single_append_figures()
    backends = [b for b in ("SQLite", "PostgreSQL") if (b, 1) in rows]
    reads = scale.reads(backends)
    notices = breaches.measure(["sqlite", "postgres"] if "PostgreSQL" in backends else ["sqlite"])
    counted = instructions.measure() if instructions.available() else None
    load_after = os.getloadavg()

    def cells(fn: Callable[[str], str]) -> str:
        return " | ".join(fn(b) for b in backends)

    one = {b: rows[b, 1] for b in backends}
    print()
    print(
        f"CheckTransfer: {hotpath.CONTROLLERS:,} controllers, {hotpath.SUBPROCESSORS} "
        f"sub-processors, {hotpath.REQUESTS:,} distinct requests, {hotpath.IN_FLIGHT} in "
        f"flight, mTLS, one server process pinned to one core unless stated"
    )
    print(f"| figure | {' | '.join(backends)} | goal |")
    print(f"|---|{'---|' * len(backends)}---|")
    print(
        f"| CheckTransfer max throughput / Health/Check | "
        f"{cells(lambda b: f'{one[b].rate_ratio:.2f} ({one[b].check:,.0f}/s)')} "
        f"| >= 0.90 SQLite, >= 0.85 PostgreSQL |"
    )
    print(
        f"| server CPU per call, CheckTransfer / Health | "
        f"{cells(lambda b: f'{one[b].cpu_ratio:.2f} ({one[b].cpu_check_us:.0f} / {one[b].cpu_health_us:.0f} us)')} "  # noqa: E501
        f"| <= 1.15 |"
    )
    if counted is not None:
        health, check = (statistics.median(counted[n]) for n in ("health", "check"))
        ratio = statistics.median(instructions.ratios(counted))
        print(
            f"| server instructions per call, CheckTransfer / Health (callgrind, SQLite) "
            f"| {ratio:.3f} ({check:,.1f}k / {health:,.1f}k) |{' |' * (len(backends) - 1)} |"
        )
    print(
        f"| p99 at half of CheckTransfer's max rate, Check / Health | "
        f"{cells(lambda b: f'{one[b].p99_ratio:.2f} ({one[b].p99_check_ms:.1f} / {one[b].p99_health_ms:.1f} ms)')} "  # noqa: E501
        f"| <= 1.2 |"
    )
    print(
        f"| decision time in the handler, p99, CPU (wall) | "
        f"{cells(lambda b: f'{one[b].decision_cpu_p99_us:.0f} us ({one[b].decision_p99_us:.0f} us)')} "  # noqa: E501
        f"| <= 50 us |"
    )

    def two_over_one(b: str) -> str:
        return _ratio(relative[b, 2], relative[b, 1])

    print(f"| CheckTransfer throughput, 2 server processes / 1 | {cells(two_over_one)} | |")
    if "PostgreSQL" in one:
        print(
            f"| PostgreSQL CheckTransfer max throughput / SQLite (side by side) | | "
            f"{relative['PostgreSQL', 1]:.2f} | >= 0.9 |"
        )

    def append_cell(b: str) -> str:
        if b not in appends:
            return "-"
        rate, cpu, floor = appends[b]
        return f"{rate:,.0f}/s ({cpu:.0f} us CPU; bare BEGIN, INSERT, COMMIT {floor:,.0f}/s)"

    print(
        f"| audit appends, single | {cells(append_cell)} "
        f"| >= 2,000/s SQLite, >= 1,000/s PostgreSQL |"
    )
    sizes = " / ".join(f"{n:,}" for n in scale.SP_SIZES)

    def reads_cell(b: str) -> str:
        p50 = [reads[b][n]["list"] for n in scale.SP_SIZES]
        return f"{p50[-1] / p50[0]:.2f} ({' / '.join(f'{v:.1f}' for v in p50)} ms)"

    print(
        f"| GetSubprocessorList as a controller, p50, {sizes} sub-processors, "
        f"{scale.SP_SIZES[-1]:,} / {scale.SP_SIZES[0]} | {cells(reads_cell)} | <= 1.2 |"
    )

    def breach_cell(b: str) -> str:
        runs = notices.get("sqlite" if b == "SQLite" else "postgres", {}).get("auto", [])
        if not runs:
            return "-"
        lasts = sorted(r["last_watcher_s"] for r in runs)
        return (
            f"{lasts[0]:.2f} / {statistics.median(lasts):.2f} / {lasts[-1]:.2f} s "
            f"({len(runs)} runs)"
        )

    print(
        f"| one breach, {breaches.CONTROLLERS:,} controllers, {breaches.WATCHERS:,} live "
        f"watchers: last watcher has its notice, min / median / max | {cells(breach_cell)} "
        f"| <= {breaches.GOAL_SECONDS:.0f} s in every run |"
    )
    refused = sum(r.failed for r in rows.values())
    (b1, b5, b15), (a1, a5, a15) = load_before, load_after
    print(
        f"load average before {b1:.2f} {b5:.2f} {b15:.2f}, after {a1:.2f} {a5:.2f} {a15:.2f} "
        f"({os.cpu_count()} cores); calls refused or failed: {refused}; "
        f"{time.perf_counter() - started:.0f} s"
    )


def checker_table() -> None:
    """Issue 18's figures: decisions in the caller's process."""
    # In a process of its own: its memory figure is RSS growth, which the
    # memory this process freed would hide.
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "checker.json")
        subprocess.run(
            [sys.executable, "-m", "bench.local_checker", "--json", str(out)], check=True
        )
        m = local_checker.from_json(json.loads(out.read_text()))
    large = local_checker.LARGE
    f = {n: m.figures[(n, False)] for n in (100, large)}
    print()
    print(
        "LocalChecker: decisions in process, 70% CheckTransfer / 30% CheckProcessing, "
        "100 sub-processors (docs/local-checker.md)"
    )
    print(f"| figure | 100 controllers | {large:,} controllers | goal |")
    print("|---|---|---|---|")
    for label, key in (
        ("every request new", "distinct"),
        ("every request new, a second set", "again"),
        ("a mix, 20,000 drawn from 2,000", "mix"),
        ("the mix again, every answer remembered", "hot"),
    ):
        print(
            f"| per decision, {label}, p50 / p99 | "
            + " | ".join(f"{f[n][key + '_p50']:.1f} / {f[n][key + '_p99']:.1f} us" for n in f)
            + " | p99 <= 10 us |"
        )
    print(f"| memory per 1,000 controllers | | {local_checker.per_1000_mb(m.figures):.2f} MB | |")
    if m.lags:
        print(
            f"| write's commit -> all {m.checkers} checkers hold it, {len(m.lags)} writes, "
            f"p50 / max | {local_checker._p(m.lags, 0.5):.1f} / {max(m.lags):.1f} ms | | "
            "within 1 s |"
        )
    (b1, _, _), (a1, _, _) = m.load_before, m.load_after
    print(f"load average before {b1:.2f}, after {a1:.2f}")


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "run")
    only = sys.argv[1:]
    if not only:
        table()
        checker_table()
        return 0
    for name in names:
        if only != ["all"] and name not in only:
            continue
        print(f"== bench.{name}", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"== bench.{name} done in {time.perf_counter() - started:.1f} s\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
