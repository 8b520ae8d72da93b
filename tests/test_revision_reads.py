"""Freshness on PostgreSQL: one read of the committed revision serves every
check waiting for it, and never one that began before the check did
(registry.revision.CommittedReads, docs/adr/0020-freshness-on-postgresql.md)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from registry import db, revision
from registry.audit import store
from registry.audit.events import Change
from registry.clock import now
from tests import harness

# -- the protocol, over a connection whose reads we hold -----------------------


class _GatedConnection:
    """A driver connection whose revision statement returns the next value
    of ``values`` once the test opens its gate: the real interface (cursor,
    execute, fetchall, close), so the protocol runs unchanged."""

    def __init__(self, values: list[int]) -> None:
        self.values = values
        self.entered = threading.Semaphore(0)
        self.gate = threading.Semaphore(0)
        self.closed = False
        self._row: list[tuple[int]] = []

    def cursor(self) -> _GatedConnection:
        return self

    def __enter__(self) -> _GatedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str) -> None:
        assert sql == revision.HEAD_SQL
        self.entered.release()
        self.gate.acquire()
        self._row = [(self.values.pop(0),)]

    def fetchall(self) -> list[tuple[int]]:
        return self._row

    def close(self) -> None:
        self.closed = True


def _call(reads: revision.CommittedReads, into: list[int]) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.append(reads.committed()))
    thread.start()
    return thread


def _waiting(reads: revision.CommittedReads, count: int) -> None:
    """Blocks until ``count`` threads wait on ``reads`` for a later read."""
    while True:
        wave: Any = reads._next
        if wave is not None:
            with wave.cond:
                if len(wave.cond._waiters) >= count:
                    return
        threading.Event().wait(0.001)


def test_a_call_never_takes_a_read_that_began_before_it_and_waiters_share_one() -> None:
    conn = _GatedConnection([10, 12, 13])
    reads = revision.CommittedReads(lambda: conn)
    first: list[int] = []
    leader = _call(reads, first)
    conn.entered.acquire()  # read 1 is in flight, begun before the others
    later: list[int] = []
    followers = [_call(reads, later) for _ in range(5)]
    _waiting(reads, 5)
    conn.gate.release()  # read 1 answers 10: only the leader may use it
    leader.join()
    assert first == [10]
    conn.entered.acquire()  # one follower leads read 2; the others wait for it
    conn.gate.release()
    for thread in followers:
        thread.join()
    assert later == [12] * 5
    assert reads.reads == 2
    # Alone, a call reads for itself.
    alone: list[int] = []
    thread = _call(reads, alone)
    conn.entered.acquire()
    conn.gate.release()
    thread.join()
    assert alone == [13]
    assert reads.reads == 3


def test_a_failed_read_fails_its_caller_and_the_next_call_reads_again() -> None:
    made: list[_GatedConnection] = []

    class Broken(_GatedConnection):
        def execute(self, sql: str) -> None:
            raise RuntimeError("connection lost")

    def connect() -> _GatedConnection:
        conn: _GatedConnection = Broken([]) if not made else _GatedConnection([21])
        made.append(conn)
        return conn

    reads = revision.CommittedReads(connect)
    with pytest.raises(RuntimeError, match="connection lost"):
        reads.committed()
    assert made[0].closed
    got: list[int] = []
    thread = _call(reads, got)
    made[1].entered.acquire()
    made[1].gate.release()
    thread.join()
    assert got == [21]


def test_a_failed_shared_read_fails_its_maker_and_the_others_read_again() -> None:
    class Flaky(_GatedConnection):
        def execute(self, sql: str) -> None:
            super().execute(sql)
            if self._row == [(-1,)]:
                raise RuntimeError("connection lost")

    # The kept connection fails, and so does the new one tried after it.
    conns = [Flaky([10, -1]), Flaky([-1]), _GatedConnection([30, 31])]
    made: list[_GatedConnection] = []

    def connect() -> _GatedConnection:
        made.append(conns[len(made)])
        return made[-1]

    reads = revision.CommittedReads(connect)
    first: list[int] = []
    leader = _call(reads, first)
    conns[0].entered.acquire()  # read 1 is in flight, begun before the others
    got: list[int] = []
    failed: list[str] = []

    def follow() -> None:
        try:
            got.append(reads.committed())
        except RuntimeError as err:
            failed.append(str(err))

    followers = [threading.Thread(target=follow) for _ in range(3)]
    for thread in followers:
        thread.start()
    _waiting(reads, 3)
    conns[0].gate.release()
    leader.join()
    assert first == [10]
    conns[0].entered.acquire()  # one follower makes read 2, which fails
    conns[1].gate.release()
    conns[2].gate.release(2)  # the reads after it answer at once
    conns[0].gate.release()
    for thread in followers:
        thread.join()
    # The one that made the failed read hears of it; the others read again,
    # never taking read 1, which began before them.
    assert failed == ["connection lost"]
    assert len(got) == 2 and set(got) <= {30, 31}
    assert conns[0].closed and conns[1].closed


# -- on PostgreSQL ----------------------------------------------------------------


@pytest.fixture
def postgres_at() -> Iterator[tuple[peewee.Database, str]]:
    """A migrated database on a fresh schema, and its URL."""
    if not harness.postgres_url():
        pytest.skip(f"{harness.PG_ENV} not set")
    with harness.postgres_schema() as url:
        database = db.open_database(url)
        db.migrate(database)
        try:
            yield database, url
        finally:
            reads = revision.committed_reads()
            if reads is not None:
                reads.close()
            revision.reset()
            database.close()


@pytest.fixture
def postgres(postgres_at: tuple[peewee.Database, str]) -> peewee.Database:
    return postgres_at[0]


def _append(n: int) -> None:
    with db.transaction():
        store.append(
            [Change("test.write", f"test/{i}", "acme", {"i": i}) for i in range(n)],
            "spiffe://test/staff/x",
            "",
            now(),
        )


def test_postgres_every_commit_before_the_call_is_counted(postgres: peewee.Database) -> None:
    reads = revision.committed_reads()
    assert reads is not None
    assert reads.committed() == store.size()
    for n in (1, 3, 1):
        before = store.size()
        _append(n)
        assert reads.committed() == before + n
    # Many threads at once: each sees at least what was committed before it.
    committed = store.size()
    results: list[int] = []
    threads = [_call(reads, results) for _ in range(16)]
    for thread in threads:
        thread.join()
    assert results == [committed] * 16
    db.release()


def test_postgres_a_connection_lost_while_idle_is_replaced(postgres: peewee.Database) -> None:
    reads = revision.committed_reads()
    assert reads is not None
    reads.committed()
    backend = reads._conn.get_backend_pid()
    db.execute("SELECT pg_terminate_backend(%s)", (backend,))
    _append(1)
    assert reads.committed() == store.size()
    assert reads._conn.get_backend_pid() != backend
    db.release()


# -- the revision lease (PostgreSQL): a host's map, trusted while it holds it ------

_OTHER_HOST_WRITE = """
import sys, time
from registry import db, revision
import registry.models
from registry.audit import store
from registry.audit.events import Change
from registry.clock import now
db.open_database(sys.argv[1])
began = time.monotonic()
with db.transaction():
    far = Change("test.write", "test/far", "acme", {})
    (event,) = store.append([far], "spiffe://t/x", "", now())
    revision.before_commit(event.seq + 1)
print(time.monotonic() - began, event.seq + 1)
"""


def _holder() -> str | None:
    ((holder,),) = db.execute("SELECT holder FROM revision_lease WHERE id = 1").fetchall()
    db.release()
    return holder  # type: ignore[no-any-return]


def _leased(monkeypatch: pytest.MonkeyPatch, seconds: float) -> revision.LeasedMap:
    monkeypatch.setenv(revision.LEASE_ENV, str(seconds))
    revision.reset()
    signal = revision.shared()
    assert isinstance(signal, revision.LeasedMap)
    deadline = time.monotonic() + 30
    while not signal.holds():  # the first read starts the renewals
        signal.read()
        assert time.monotonic() < deadline, "the lease was never taken"
        time.sleep(0.01)
    return signal


def test_postgres_a_host_holding_the_lease_trusts_its_map_and_writes_without_waiting(
    postgres: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal = _leased(monkeypatch, 60.0)
    try:
        assert signal.read() == store.size()
        with db.transaction():
            (event,) = store.append(
                [Change("test.write", "test/near", "acme", {})], "spiffe://t/x", "", now()
            )
            revision.before_commit(event.seq + 1)
        # A writer of this host raises the map itself: no wait, the lease kept.
        assert signal.read() == event.seq + 1 == store.size()
        assert _holder() == signal.host
    finally:
        revision.reset()
        db.release()


def test_postgres_a_write_from_another_host_waits_out_the_lease(
    postgres_at: tuple[peewee.Database, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> None:
    """Another host (another map: another directory) writes while this one
    holds the lease: its write waits the lease out, and no read here ever
    trusts a map that misses its commit."""
    seconds = 1.0
    signal = _leased(monkeypatch, seconds)
    url = postgres_at[1]
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("XDG_RUNTIME_DIR", None)
    stale: list[tuple[int, int]] = []
    done = threading.Event()
    far: list[int] = []

    def watch() -> None:
        # Every read this host trusts counts every commit finished before it.
        while not done.is_set():
            committed = db.execute(revision.HEAD_SQL).fetchall()[0][0]
            db.release()
            seen = signal.read()
            if seen is not None and seen < committed:
                stale.append((seen, committed))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = subprocess.run(
            [sys.executable, "-c", _OTHER_HOST_WRITE, url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
        waited, far[:] = float(out[0]), [int(out[1])]
        assert waited >= seconds * 0.99
        deadline = time.monotonic() + 30
        while (signal.read() or 0) < far[0]:  # taken again, the map raised past it
            assert time.monotonic() < deadline, "the lease was never taken again"
            time.sleep(0.01)
    finally:
        done.set()
        watcher.join()
        revision.reset()
        db.release()
    assert stale == []
    assert _holder() == signal.host
