"""The audit append's short write path (built-once statements; on PostgreSQL
BEGIN, the write lock, the head and its frontier in one round trip) stores
exactly the RFC 9162 tree of the entries' bytes, whatever the batch sizes,
on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.mark.usefixtures("database")
def test_postgres_opens_every_write_with_the_head_and_its_frontier() -> None:
    if not db.is_postgres():
        pytest.skip("SQLite has no round trip to save")
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
