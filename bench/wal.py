"""SQLite WAL stays bounded during a long write run with readers active.

    python -m bench.wal            # DPA_BENCH_SECONDS (default 5) x 6 of writes

A real mTLS server on a SQLite file; one writer updates a safeguard as fast
as it can while two readers run CheckTransfer in a loop. Every half second
the size of the ``-wal`` file is sampled. SQLite checkpoints the WAL back into
the database when it passes 1,000 pages, but only past the oldest open read
snapshot: a reader that leaves a statement unfinished (a kept cursor) pins it
and the WAL grows without bound. The figure to watch is the largest size seen
against the final one: bounded means the maximum stays near the 1,000-page
threshold (about 4 MB) however long the run.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from registry import clock

DURATION = float(os.environ.get("DPA_BENCH_SECONDS", "5")) * 6


def main() -> None:
    from tests import factories, harness

    with tempfile.TemporaryDirectory() as tmp:
        made = harness.make_pki(Path(tmp) / "pki")
        path = Path(tmp) / "registry.db"
        h = harness.start(made, f"sqlite:///{path}")
        try:
            staff = h.staff
            factories.active_dpa(h, "acme")
            factories.engaged_subprocessor_direct(h, "hostco")
            checker = h.client("service", "checker")
            stop = threading.Event()
            counts = {"writes": 0, "checks": 0}
            samples: list[int] = []

            def write() -> None:
                current = staff.get_subprocessor("hostco")
                i = 0
                while not stop.is_set():
                    i += 1
                    current = replace(current, purpose=f"Hosting of the platform, revision {i}")
                    current = staff.update_subprocessor(current, fields=["purpose"])
                    counts["writes"] += 1

            def read() -> None:
                while not stop.is_set():
                    checker.check_transfer(
                        "acme",
                        subprocessor_id="hostco",
                        data_categories=["user.contact.email"],
                        purpose="essential.service",
                        transfer_date=date(2026, 6, 1),
                    )
                    counts["checks"] += 1

            threads = [threading.Thread(target=f) for f in (write, read, read)]
            for t in threads:
                t.start()
            wal = Path(f"{path}-wal")
            end = time.monotonic() + DURATION
            while time.monotonic() < end:
                time.sleep(0.5)
                samples.append(wal.stat().st_size if wal.exists() else 0)
            stop.set()
            for t in threads:
                t.join()
        finally:
            h.close()
            clock.reset()
    mb = 1024 * 1024
    print(
        f"{DURATION:.0f} s: {counts['writes']} writes, {counts['checks']} checks; "
        f"WAL max {max(samples) / mb:.1f} MB, final {samples[-1] / mb:.1f} MB, "
        f"median {sorted(samples)[len(samples) // 2] / mb:.1f} MB "
        f"over {len(samples)} samples; load average {os.getloadavg()[0]:.1f}"
    )
    growing = all(b >= a for a, b in itertools.pairwise(samples))
    print(
        "WAL " + ("GREW THROUGHOUT (unbounded?)" if growing and samples[-1] > 8 * mb else "bounded")
    )


if __name__ == "__main__":
    main()
