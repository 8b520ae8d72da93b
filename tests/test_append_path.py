"""The audit append's short write path (built-once statements; on PostgreSQL
BEGIN, the write lock, the head and its frontier in one round trip) stores
exactly the RFC 9162 tree of the entries' bytes, whatever the batch sizes,
on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from dpa_client.transparency import merkle
from registry import db
from registry.audit import store
from registry.audit.events import Change
from registry.clock import now
from tests import harness

ACTOR = "spiffe://test/staff/x"


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    if request.param == "sqlite":
        db.migrate(db.open_database(f"sqlite:///{tmp_path}/a.db"))
        yield
        db.database.close()
        return
    if not harness.postgres_url():
        pytest.skip(f"{harness.PG_ENV} not set")
    with harness.postgres_schema() as url:
        db.migrate(db.open_database(url))
        try:
            yield
        finally:
            db.database.close()


def _changes(n: int, first: int) -> list[Change]:
    return [Change("test.write", f"test/{first + i}", "acme", {"i": first + i}) for i in range(n)]


@pytest.mark.usefixtures("database")
def test_every_batch_size_stores_the_tree_of_the_entries_bytes() -> None:
    sizes = [1, 1, 1, 2, 3, 1, 5, 8, 1, 1, 13, 4, 1, 7, 16, 1, 2, 31]
    appended = 0
    for n in sizes:
        with db.transaction():
            events = store.append(_changes(n, appended), ACTOR, "", now())
        assert [e.seq for e in events] == list(range(appended, appended + n))
        appended += n
        bodies = store.bodies(range(appended))
        entries = [bodies[i] for i in range(appended)]
        assert store.size() == appended
        assert merkle.root_hash(appended, store.StoredNodes()) == merkle.root_from_leaves(entries)


@pytest.mark.usefixtures("database")
def test_appends_in_one_transaction_follow_each_other() -> None:
    with db.transaction():
        store.append(_changes(3, 0), ACTOR, "", now())
    with db.transaction():
        assert store.lock_head() == 3  # the head the transaction opened with
        first = store.append(_changes(2, 3), ACTOR, "", now())
        second = store.append(_changes(1, 5), ACTOR, "", now())
        assert store.lock_head() == 6
    assert [e.seq for e in first + second] == [3, 4, 5]
    entries = [b for _, b in sorted(store.bodies(range(6)).items())]
    assert merkle.root_hash(6, store.StoredNodes()) == merkle.root_from_leaves(entries)


@pytest.mark.usefixtures("database")
def test_a_rolled_back_append_leaves_no_trace_and_the_next_one_takes_its_index() -> None:
    with db.transaction():
        store.append(_changes(5, 0), ACTOR, "", now())
    with pytest.raises(RuntimeError), db.transaction():
        store.append(_changes(2, 5), ACTOR, "", now())
        raise RuntimeError("rolled back")
    with db.transaction():
        (event,) = store.append(_changes(1, 5), ACTOR, "", now())
    assert event.seq == 5
    entries = [b for _, b in sorted(store.bodies(range(6)).items())]
    assert merkle.root_hash(6, store.StoredNodes()) == merkle.root_from_leaves(entries)


def _postgres_only() -> None:
    if not db.is_postgres():
        pytest.skip("SQLite has no round trip to save")


@pytest.mark.usefixtures("database")
def test_postgres_opens_every_write_with_the_head_and_its_frontier() -> None:
    _postgres_only()
    with db.transaction():
        store.append(_changes(11, 0), ACTOR, "", now())
    with db.transaction():
        row = db.opening_row()
        assert row is not None
        assert db.opening_row() is None  # once per transaction
    size, frontier_size, frontier = row
    # 11 = 0b1011: the subtrees (3, 0), (1, 4) and (0, 10), kept with the head.
    assert (size, frontier_size) == (11, 11)
    assert bytes(frontier) == b"".join(store.StoredNodes().get_nodes([(3, 0), (1, 4), (0, 10)]))


@pytest.mark.usefixtures("database")
def test_a_head_moved_without_its_frontier_reads_the_frontier_from_the_tree() -> None:
    """A log written before the frontier was kept with the head, or a head
    set by hand (a rollback drill): the stored frontier belongs to another
    size, so the next append reads the frontier from the node table, and the
    tree stays exactly that of the entries."""
    with db.transaction():
        store.append(_changes(13, 0), ACTOR, "", now())
    store.LogHead.update(frontier_size=12, frontier=b"\0" * 64).execute()  # another size's
    with db.transaction():
        store.append(_changes(3, 13), ACTOR, "", now())
    store.LogHead.update(frontier_size=None, frontier=None).execute()  # never kept
    with db.transaction():
        store.append(_changes(2, 16), ACTOR, "", now())
    entries = [b for _, b in sorted(store.bodies(range(18)).items())]
    assert merkle.root_hash(18, store.StoredNodes()) == merkle.root_from_leaves(entries)
    assert store.LogHead.get_by_id(1).frontier_size == 18


class _Counted:
    """Counts the statements (round trips) the driver sends on a connection:
    instrumentation of the real driver, which still does the work."""

    def __init__(self) -> None:
        import psycopg2.extensions

        sent: list[str] = []

        class Cursor(psycopg2.extensions.cursor):  # type: ignore[misc]
            def execute(self, query: str, params: object = None) -> object:
                sent.append(query)
                return super().execute(query, params)

        self.sent = sent
        self.cursor = Cursor


@pytest.mark.usefixtures("database")
def test_postgres_writes_an_append_behind_in_the_round_trip_of_commit() -> None:
    _postgres_only()
    with db.transaction():
        store.append(_changes(2, 0), ACTOR, "", now())
    counted = _Counted()
    db.database.connection().cursor_factory = counted.cursor
    try:
        with db.transaction():
            store.append(_changes(1, 2), ACTOR, "", now())
        # BEGIN + write lock + head; the entry, its nodes, the head + COMMIT.
        assert len(counted.sent) == 2
        assert counted.sent[0].startswith("BEGIN") and counted.sent[1].endswith("; COMMIT")
        counted.sent.clear()
        with db.transaction():
            store.append(_changes(1, 3), ACTOR, "", now())
            # The next statement carries the write: it sees it, as any read would.
            assert store.size() == 4
        # BEGIN...; the write + the size; COMMIT alone.
        assert len(counted.sent) == 3
        assert counted.sent[1].startswith("INSERT INTO audit_event")
        assert counted.sent[2] == "COMMIT"
        counted.sent.clear()
        with db.transaction():
            store.append(_changes(1, 4), ACTOR, "", now())
            cursor = db.database.cursor()  # a caller on its own cursor: written first
            cursor.execute("SELECT count(*) FROM audit_event")
            assert cursor.fetchall() == [(5,)]
        # BEGIN...; the write, sent as the cursor is handed out; the count; COMMIT.
        assert len(counted.sent) == 4
        assert counted.sent[1].startswith("INSERT INTO audit_event")
        assert counted.sent[2] == "SELECT count(*) FROM audit_event"
    finally:
        db.database.connection().cursor_factory = None
    entries = [b for _, b in sorted(store.bodies(range(5)).items())]
    assert merkle.root_hash(5, store.StoredNodes()) == merkle.root_from_leaves(entries)


@pytest.mark.usefixtures("database")
def test_an_append_that_fails_at_commit_leaves_nothing_of_its_transaction() -> None:
    """The entry's index is taken (planted by hand): on PostgreSQL the write
    behind fails with COMMIT, on SQLite at once; either way the transaction's
    other write and the head stay as they were, and the error is a retryable
    integrity error."""
    db.execute("CREATE TABLE other_write (i INTEGER)")
    with db.transaction():
        store.append(_changes(3, 0), ACTOR, "", now())
    (planted,) = store.bodies([2]).values()
    store.AuditEvent.insert(
        seq=3, time=now(), actor=ACTOR, tenant=None, action="x", resource="x", body=planted
    ).execute()
    with pytest.raises(peewee.IntegrityError) as raised, db.transaction():
        db.execute(db.sql("INSERT INTO other_write (i) VALUES (%s)"), (1,))
        store.append(_changes(1, 3), ACTOR, "", now())
    assert db.is_retryable(raised.value)
    assert db.execute("SELECT count(*) FROM other_write").fetchall() == [(0,)]
    assert store.size() == 3
    with db.transaction():  # and the connection goes on
        assert store.lock_head() == 3
