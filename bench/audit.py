"""Audit-log benchmark: appends/s (single and batched, SQLite and PostgreSQL),
inclusion proofs at 1,000,000 entries (server side), offline verification rate.

    python -m bench.audit            # DPA_TEST_POSTGRES_URL adds PostgreSQL

Targets: >= 2,000 single appends/s on SQLite and >= 1,000/s on PostgreSQL
(issue 12; CPU per append from this process's own counters beside it),
>= 5,000/s batched on SQLite;
an inclusion proof at 1M entries < 2 ms server side; verification >= 50,000
entries/s.
"""

from __future__ import annotations

import base64
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpa_client.audit import EXPORT_FORMAT, LogVerifier
from dpa_client.transparency import merkle
from registry import db, keys
from registry.audit import log, store
from registry.audit.events import Change
from registry.auth import Caller, Role
from tests import harness

ACTOR = "spiffe://7plus.one/staff/bench"


def _change(i: int) -> Change:
    return Change("bench.write", f"bench/{i}", "acme", {"i": i})


def single_appends(url: str, n: int = 1500) -> tuple[float, float]:
    """``n`` appends of one event, each in its own write transaction (as every
    mutation appends): (appends/s, CPU of this process per append in us)."""
    db.migrate(db.open_database(url))
    try:
        for i in range(50):  # warm up: connection, statements
            with db.transaction():
                store.append([_change(i)], ACTOR, "", datetime.now(UTC))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            with db.transaction():
                store.append([_change(i)], ACTOR, "", datetime.now(UTC))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return n / wall, cpu / n * 1e6
    finally:
        db.database.close()


def commit_floor(url: str, n: int = 500) -> float:
    """Transactions/s of one bare one-row INSERT each, on the same database:
    what the storage allows a single writer (fsync at COMMIT on PostgreSQL),
    the ceiling for single appends on a busy machine."""
    database = db.open_database(url)
    try:
        database.execute_sql("CREATE TABLE IF NOT EXISTS bench_floor (i INTEGER)")
        t0 = time.perf_counter()
        for i in range(n):
            with database.atomic():
                database.execute_sql(
                    "INSERT INTO bench_floor (i) VALUES (%s)"
                    if db.is_postgres()
                    else "INSERT INTO bench_floor (i) VALUES (?)",
                    (i,),
                )
        rate = n / (time.perf_counter() - t0)
        database.execute_sql("DROP TABLE bench_floor")
        return rate
    finally:
        database.close()


def batched_appends(url: str, batches: int = 100, per: int = 100) -> float:
    db.migrate(db.open_database(url))
    try:
        t0 = time.perf_counter()
        for b in range(batches):
            with db.transaction():
                store.append(
                    [_change(b * per + i) for i in range(per)], ACTOR, "", datetime.now(UTC)
                )
        return batches * per / (time.perf_counter() - t0)
    finally:
        db.database.close()


def _backends() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield "SQLite", f"sqlite:///{Path(tmp)}/a.db"
    if os.environ.get(harness.PG_ENV):
        with harness.postgres_schema() as url:
            yield "PostgreSQL", url


def single_append_figures() -> dict[str, tuple[float, float, float]]:
    """Backend -> (single appends/s, CPU per append in us, bare INSERT +
    COMMIT transactions/s on the same database): the table's row."""
    figures = {}
    for backend, url in _backends():
        rate, cpu = single_appends(url)
        figures[backend] = (rate, cpu, commit_floor(url))
    return figures


def _bulk_log(size: int) -> list[bytes]:
    """Writes a log of ``size`` small events straight into the tables."""
    bodies = [b'{"seq":%d,"bench":true}' % i for i in range(size)]
    leaves = [merkle.leaf_hash(b) for b in bodies]
    rows = merkle.append_batch(0, leaves, merkle.MemoryNodes())
    now = datetime.now(UTC).replace(tzinfo=None)
    conn = db.database.connection()
    with db.database.atomic():
        conn.executemany(
            "INSERT INTO audit_event (seq, time, actor, tenant, action, resource, body) "
            "VALUES (?, ?, ?, NULL, 'bench.write', 'bench', ?)",
            ((i, now, ACTOR, b) for i, b in enumerate(bodies)),
        )
        conn.executemany(
            "INSERT INTO merkle_node (key, hash) VALUES (?, ?)",
            ((store.node_key(level, index), h) for level, index, h in rows),
        )
        store.LogHead.update(size=size).execute()
    return bodies


def proofs_and_verification(size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db.migrate(db.open_database(f"sqlite:///{tmp}/audit.db"))
        keys.activate(keys.from_private("bench.example/log", Ed25519PrivateKey.generate()))
        t0 = time.perf_counter()
        bodies = _bulk_log(size)
        print(f"seeded {size:,} entries in {time.perf_counter() - t0:.1f} s")
        signed = log.latest_checkpoint()
        caller = Caller("spiffe://7plus.one/auditor/bench", Role.AUDITOR, "bench")
        timings = []
        for i in range(0, size, size // 2000):
            t = time.perf_counter_ns()
            proof = log.inclusion_proof(caller, i, size, lambda _caller, names: set(names))
            timings.append(time.perf_counter_ns() - t)
            if i % (size // 20) == 0:
                merkle.verify_inclusion(
                    merkle.leaf_hash(bodies[i]), i, size, proof, signed.checkpoint.root_hash
                )
        timings.sort()
        print(
            f"inclusion proof at {size:,} entries (server side, incl. visibility lookup): "
            f"median {statistics.median(timings) / 1e6:.3f} ms, "
            f"p99 {timings[int(len(timings) * 0.99)] / 1e6:.3f} ms"
        )
        export = {
            "format": EXPORT_FORMAT,
            "keys": [keys.active().vkey],
            "checkpoints": [signed.note],
            "entries": [
                {"index": i, "body": base64.b64encode(b).decode()} for i, b in enumerate(bodies)
            ],
        }
        verifier = LogVerifier([keys.active().vkey])
        t0 = time.perf_counter()
        report = verifier.verify_export(export)
        rate = report.entries_verified / (time.perf_counter() - t0)
        print(f"offline verification of a full export: {rate:,.0f} entries/s")
        db.database.close()


def main() -> None:
    for backend, url in _backends():
        rate, cpu = single_appends(url)
        floor = commit_floor(url)
        batched = batched_appends(url)
        print(
            f"{backend}: single appends {rate:,.0f}/s ({cpu:.0f} us CPU each in this process; "
            f"a bare one-row INSERT + COMMIT: {floor:,.0f}/s); "
            f"batched (100/tx) {batched:,.0f} events/s"
        )
    proofs_and_verification(int(os.environ.get("DPA_BENCH_LOG_SIZE", "1000000")))


if __name__ == "__main__":
    main()
