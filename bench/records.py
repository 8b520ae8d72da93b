"""Art. 30(2) record benchmark: what the record's journal costs a write, and a
record rebuilt as of a past revision against the live one.

    python -m bench.records          # DPA_TEST_POSTGRES_URL adds PostgreSQL

In process, through the one write path (no gRPC): a registry of CONTROLLERS
controllers; then WRITES controller updates with the journal kept (as the
server does) and with it switched off, alternating in rounds so that load
on a shared machine hits both alike; then the whole processor's record built
live and as of a past revision. Reports ratios within one run and the load
average.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from registry import db, ledger
from registry.auth import Caller, Role
from registry.controllers import core as controllers
from registry.records import gather
from tests import harness

CONTROLLERS = 300
WRITES = 200
ROUNDS = 4
STAFF = Caller(spiffe_id="spiffe://7plus.one/staff/bench", role=Role.STAFF, name="bench")


def _write(apply: Callable[[ledger.Mutation], Any]) -> None:
    ledger.mutate(STAFF, "Bench", "", "", ledger.NOTHING, apply)


def _details(i: int, n: int = 0) -> controllers.Details:
    return controllers.Details(
        legal_name=f"Controller {i} AS",
        country="EE",
        contact_email=f"privacy{i}@c{i}.example",
        dpo_email=f"dpo{n}@c{i}.example",
    )


def _updates(count: int, offset: int) -> float:
    """Seconds per controller update."""
    fields = frozenset({"dpo_email"})
    t0 = time.perf_counter()
    for k in range(count):
        i = k % CONTROLLERS
        _write(
            lambda m, i=i, k=k: controllers.update(m, f"c{i}", "", _details(i, offset + k), fields)
        )
    return (time.perf_counter() - t0) / count


def run(label: str, url: str) -> None:
    db.migrate(db.open_database(url))
    for i in range(CONTROLLERS):
        _write(lambda m, i=i: controllers.create(m, f"c{i}", _details(i)))
    kept: list[float] = []
    off: list[float] = []
    saved = ledger._IN_TRANSACTION
    per = WRITES // ROUNDS
    for r in range(ROUNDS):
        ledger._IN_TRANSACTION = saved
        kept.append(_updates(per, 2 * r * per))
        ledger._IN_TRANSACTION = ()
        off.append(_updates(per, (2 * r + 1) * per))
    ledger._IN_TRANSACTION = saved
    _write(lambda m: controllers.update(m, "c0", "", _details(0, 10**6), frozenset({"dpo_email"})))
    past = gather.build(STAFF, None, 0)["revision"] - 1
    t0 = time.perf_counter()
    gather.build(STAFF, None, 0)
    live = time.perf_counter() - t0
    t0 = time.perf_counter()
    gather.build(STAFF, None, past)
    rebuilt = time.perf_counter() - t0
    k, o = statistics.median(kept), statistics.median(off)
    print(
        f"{label}: controller update {k * 1e3:.2f} ms with the journal, {o * 1e3:.2f} ms "
        f"without (ratio {k / o:.2f}); record of {CONTROLLERS} controllers live "
        f"{live * 1e3:.0f} ms, as of revision {past} {rebuilt * 1e3:.0f} ms "
        f"(ratio {rebuilt / live:.2f})"
    )
    db.database.close()


def main() -> None:
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/records.db")
    if harness.postgres_url():
        with harness.postgres_schema() as url:
            run("PostgreSQL", url)
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
