"""Statements built once (``db.built``): the SQL of a peewee query with its
values as parameters in a known order, run again with other values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from registry import db
from registry.subprocessors import core
from registry.subprocessors.model import SubprocessorRow


@pytest.fixture
def opened(database_url: str) -> Iterator[peewee.Database]:
    database = db.open_database(database_url)
    db.migrate(database)
    try:
        yield database
    finally:
        database.close()


def _named(subprocessor_id: str, status: str) -> Any:
    s = SubprocessorRow
    return s.select(s.subprocessor_id).where(
        (s.subprocessor_id == subprocessor_id) & (s.status == status)
    )


def _with_a_literal(subprocessor_id: str) -> Any:
    s = SubprocessorRow
    return s.select().where((s.status == "ACTIVE") & (s.subprocessor_id == subprocessor_id))


def test_built_once_and_run_with_other_values(opened: peewee.Database) -> None:
    sql = db.built(_named, "id", "status")
    assert db.built(_named, "other", "marks") is sql  # kept, not rebuilt
    assert db.execute(sql, ("sp-none", "ACTIVE")).fetchall() == []
    assert core.get_row("sp-none") is None


def test_a_value_that_is_no_mark_is_refused(opened: peewee.Database) -> None:
    with pytest.raises(RuntimeError, match="parameters"):
        db.built(_with_a_literal, "id")


def test_hand_written_statements_take_the_databases_marks(opened: peewee.Database) -> None:
    """``db.sql``: a statement from code with ``%s`` marks (and ``{marks}``
    for an IN list) runs as written on either backend."""
    statement = "SELECT controller_id FROM controller WHERE controller_id IN ({marks}) AND %s = 1"
    sql = db.sql(statement, 3)
    assert db.sql(statement, 3) is sql  # converted once
    param = str(opened.param)
    assert sql.count(param) == 4 and ("%s" not in sql or param == "%s")
    assert db.execute(sql, ("a", "b", "c", 1)).fetchall() == []
    assert db.sql("SELECT %s", 0) == f"SELECT {param}"


def test_in_lists_are_distinct_sorted_and_bounded() -> None:
    """``db.in_chunks``: every value once, in order, no list over the bound."""
    values = [f"c{i:05d}" for i in reversed(range(db.IN_LIST * 2 + 7))] * 2
    chunks = list(db.in_chunks(values))
    assert [len(c) for c in chunks] == [db.IN_LIST, db.IN_LIST, 7]
    assert [v for c in chunks for v in c] == sorted(set(values))
    assert list(db.in_chunks([], 3)) == []
    assert list(db.in_chunks([("b", 2), ("a", 1), ("b", 2)], 1)) == [[("a", 1)], [("b", 2)]]
