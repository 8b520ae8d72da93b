"""Soak: mixed reads, checks and writes through two server processes.

    python -m bench.soak                         # DPA_SOAK_SECONDS (default 60)
    DPA_SOAK_SECONDS=600 DPA_TEST_POSTGRES_URL=... python -m bench.soak

Two ``dpa-registry serve`` child processes share one database (PostgreSQL when
``DPA_TEST_POSTGRES_URL`` is set, else a SQLite file). A paced load of
``DPA_SOAK_RATE`` calls per second (default 150, about half of what two
processes serve on this 2-core machine with the load generator beside them)
alternates between them: 80 % CheckTransfer, 15 % reads (GetSubprocessorList,
ListNotifications), 5 % writes (UpdateSubprocessor, IssueInstruction).
Every status is counted; the server processes' resident memory and the
database's WAL (SQLite) are sampled every 10 s. The run passes when no call
fails and memory ends within 20 % of its first sample after warm-up.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import grpc

from registry import clock

SECONDS = float(os.environ.get("DPA_SOAK_SECONDS", "60"))
RATE = float(os.environ.get("DPA_SOAK_RATE", "150"))


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def _database(tmp: Path) -> Iterator[tuple[str, Path | None]]:
    from tests import harness

    if harness.postgres_url():
        with harness.postgres_schema() as url:
            yield url, None
        return
    path = tmp / "soak.db"
    yield f"sqlite:///{path}", path


def main() -> None:  # noqa: PLR0915 - one linear scenario, read top to bottom
    from tests import factories, harness

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        made = harness.make_pki(tmp / "pki")
        with _database(tmp) as (url, sqlite_path):
            a = harness.start(made, url)
            b = harness.ServerProcess(made, url)
            try:
                staff = a.staff
                for cid in ("acme", "globex"):
                    factories.active_dpa(a, cid)
                factories.engaged_subprocessor_direct(a, "hostco")
                clients = [
                    (a.client("service", "checker"), a.client("controller", "acme"), a.staff),
                    (
                        b.client("service", "checker"),
                        b.client("controller", "acme"),
                        b.client("staff", "admin"),
                    ),
                ]
                statuses: Counter[str] = Counter()
                memory: list[tuple[int, int]] = []
                wal: list[int] = []
                rng = random.Random(7)
                sp = staff.get_subprocessor("hostco")
                started = time.monotonic()
                next_sample = started
                i = 0
                while (now := time.monotonic()) - started < SECONDS:
                    if now >= next_sample:
                        memory.append((os.getpid(), _rss_kb(b.proc.pid)))
                        if sqlite_path is not None:
                            w = Path(f"{sqlite_path}-wal")
                            wal.append(w.stat().st_size if w.exists() else 0)
                        next_sample += 10
                    checker, acme, admin = clients[i % 2]
                    i += 1
                    roll = rng.random()
                    try:
                        if roll < 0.80:
                            checker.check_transfer(
                                rng.choice(["acme", "globex"]),
                                subprocessor_id="hostco",
                                data_categories=["user.contact.email"],
                                purpose="essential.service",
                                transfer_date=date(2026, 6, 1),
                            )
                        elif roll < 0.95:
                            acme.get_subprocessor_list("acme")
                            list(acme.list_notifications(page_size=10))
                        elif roll < 0.975:
                            sp = admin.get_subprocessor("hostco")
                            sp = replace(sp, purpose=f"Hosting, soak {i}")
                            admin.update_subprocessor(sp, fields=["purpose"])
                        else:
                            factories.instruction(a, "acme")
                        statuses["OK"] += 1
                    except grpc.RpcError as err:
                        statuses[err.code().name] += 1
                    except Exception as err:
                        statuses[type(err).__name__] += 1
                    delay = started + i / RATE - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                elapsed = time.monotonic() - started
            finally:
                stderr = b.stop()
                a.close()
                clock.reset()
    rss = [kb for _, kb in memory]
    warm = rss[1] if len(rss) > 1 else rss[0]
    print(
        f"{elapsed:.0f} s, {i} calls ({i / elapsed:.0f}/s) through 2 processes on "
        f"{'PostgreSQL' if sqlite_path is None else 'SQLite'}: {dict(statuses)}"
    )
    print(f"process B memory (MB): {[round(kb / 1024) for kb in rss]}")
    if wal:
        print(f"WAL (MB): {[round(x / 2**20, 1) for x in wal]}")
    errors = sum(n for s, n in statuses.items() if s != "OK")
    flat = rss[-1] <= warm * 1.2
    print(f"errors {errors}; memory {'flat' if flat else 'GREW'}; load {os.getloadavg()[0]:.1f}")
    if "Traceback" in stderr:
        print("server B logged a traceback:\n" + stderr[-2000:])


if __name__ == "__main__":
    main()
