"""``make bench``: the hot-path table in one run, SQLite and (when
DPA_TEST_POSTGRES_URL is set) PostgreSQL.

    python -m bench.run              # the table (a few minutes)
    python -m bench.run all          # every benchmark module in bench/, in turn
    python -m bench.run audit wal    # the named modules

Every ratio in the table comes from one run of both of its sides on the same
server; CPU per call comes from the server processes' own counters (see
``bench.hotpath``) and, for audit appends, from this process's own counters.
The machine's load average before and after is printed with it: on a shared
machine, compare ratios and CPU per call rather than calls/s.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Callable

import bench
from bench import audit, hotpath


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def table() -> None:
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = {(r.backend, r.processes): r for r in hotpath.measure_all()}
    appends = audit.single_append_figures()
    load_after = os.getloadavg()
    backends = [b for b in ("SQLite", "PostgreSQL") if (b, 1) in rows]

    def cells(fn: Callable[[str], str]) -> str:
        return " | ".join(fn(b) for b in backends)

    one = {b: rows[b, 1] for b in backends}
    two = {b: rows.get((b, 2)) for b in backends}
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
        f"{cells(lambda b: f'{_ratio(one[b].check, one[b].health)} ({one[b].check:,.0f}/s)')} "
        f"| >= 0.90 SQLite, >= 0.85 PostgreSQL |"
    )
    print(
        f"| server CPU per call, CheckTransfer / Health | "
        f"{cells(lambda b: f'{_ratio(one[b].cpu_check_us, one[b].cpu_health_us)} ({one[b].cpu_check_us:.0f} / {one[b].cpu_health_us:.0f} us)')} "  # noqa: E501
        f"| <= 1.15 |"
    )
    print(
        f"| p99 at half of CheckTransfer's max rate, Check / Health | "
        f"{cells(lambda b: f'{_ratio(one[b].p99_check_ms, one[b].p99_health_ms)} ({one[b].p99_check_ms:.1f} / {one[b].p99_health_ms:.1f} ms)')} "  # noqa: E501
        f"| <= 1.2 |"
    )
    print(
        f"| decision time in the handler, p99, CPU (wall) | "
        f"{cells(lambda b: f'{one[b].decision_cpu_p99_us:.0f} us ({one[b].decision_p99_us:.0f} us)')} "  # noqa: E501
        f"| <= 50 us |"
    )

    def scale(b: str) -> str:
        both = two[b]
        return _ratio(both.check, one[b].check) if both else "-"

    print(f"| CheckTransfer throughput, 2 server processes / 1 | {cells(scale)} | |")
    if "PostgreSQL" in one:
        pg, lite = one["PostgreSQL"], one["SQLite"]
        print(
            f"| PostgreSQL CheckTransfer max throughput / SQLite | | "
            f"{_ratio(pg.check, lite.check)} | >= 0.9 |"
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
    refused = sum(r.failed for r in rows.values())
    (b1, b5, b15), (a1, a5, a15) = load_before, load_after
    print(
        f"load average before {b1:.2f} {b5:.2f} {b15:.2f}, after {a1:.2f} {a5:.2f} {a15:.2f} "
        f"({os.cpu_count()} cores); calls refused or failed: {refused}; "
        f"{time.perf_counter() - started:.0f} s"
    )


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "run")
    only = sys.argv[1:]
    if not only:
        table()
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
