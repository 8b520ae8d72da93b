"""Large bulk inserts on PostgreSQL go in by COPY: the rows read back exactly
as the same rows inserted by statements, for every kind of value the write
paths pass (and values COPY cannot say the same way fall back to statements)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from registry import db
from tests import harness

pytestmark = pytest.mark.skipif(not harness.postgres_url(), reason=f"{harness.PG_ENV} not set")

COLUMNS = ("k", "t", "n", "b", "raw", "at", "day")
TRICKY = [
    "",
    "plain",
    "tab\there",
    "new\nline",
    "cr\rlf\r\n",
    "back\\slash \\N \\x00 \\\\",
    "\\",
    "ünïcödé ✓ 𝄞",
    "quote ' \" ,;",
]


class Kind(enum.StrEnum):
    A = "kind-a"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.fixture
def database() -> Iterator[None]:
    with harness.postgres_schema() as url:
        opened = db.open_database(url)
        db.migrate(opened)
        opened.execute_sql(
            "CREATE TABLE copy_rows (k INTEGER PRIMARY KEY, t TEXT, n BIGINT, b BOOLEAN, "
            "raw BYTEA, at TIMESTAMP, day DATE)"
        )
        try:
            yield
        finally:
            opened.close()


def _rows(start: int, count: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for i in range(count):
        rows.append(
            (
                start + i,
                None if i % 11 == 0 else (Kind.A if i % 13 == 0 else TRICKY[i % len(TRICKY)]),
                None
                if i % 7 == 0
                else (Level.HIGH if i % 17 == 0 else (-1) ** i * 2**62 // (i + 1)),
                None if i % 5 == 0 else i % 2 == 0,
                None if i % 3 == 0 else bytes(range(i % 256)) + b"\\\t\n",
                None if i % 4 == 0 else datetime(2026, 1, 1 + i % 28, i % 24, 0, 0, i * 7),
                None if i % 6 == 0 else date(2026, 1 + i % 12, 1 + i % 28),
            )
        )
    return rows


def _read(lo: int, hi: int) -> list[tuple[Any, ...]]:
    cursor = db.database.execute_sql(
        f"SELECT {', '.join(COLUMNS)} FROM copy_rows WHERE k >= %s AND k < %s ORDER BY k",
        (lo, hi),
    )
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in cursor]


def test_rows_copied_read_back_as_rows_inserted_by_statements(database: None) -> None:
    count = db.COPY_ABOVE + 50
    given = _rows(0, count)
    again = [(10_000 + r[0], *r[1:]) for r in given]
    with db.transaction():
        db.bulk_insert("copy_rows", COLUMNS, given)  # by COPY
        for i in range(0, count, 10):  # by statements, ten at a time
            db.bulk_insert("copy_rows", COLUMNS, again[i : i + 10])
    copied = _read(0, count)
    stated = _read(10_000, 10_000 + count)
    assert len(copied) == count
    assert [r[1:] for r in copied] == [r[1:] for r in stated]
    # And as they were given.
    assert copied[1][1:] == tuple(given[1][1:])
    assert {r[1] for r in copied} >= {*TRICKY, Kind.A.value}


def test_write_rows_copies_large_batches_and_states_the_rest(database: None) -> None:
    count = db.COPY_ABOVE + 1
    with db.transaction():
        db.write_rows(
            [("copy_rows", COLUMNS, _rows(0, count)), ("copy_rows", COLUMNS, _rows(50_000, 3))],
            then=("UPDATE copy_rows SET t = %s WHERE k = %s", ("then", 0)),
        )
    assert len(_read(0, count)) == count
    assert len(_read(50_000, 50_003)) == 3
    assert _read(0, 1)[0][1] == "then"


def test_values_copy_cannot_say_alike_go_by_statements(database: None) -> None:
    """An aware time (the driver sends its offset) or a float: no COPY."""
    count = db.COPY_ABOVE + 1
    aware = [
        (i, "x", 1, True, b"", datetime(2026, 1, 1, 12, tzinfo=UTC), None) for i in range(count)
    ]
    with db.transaction():
        db.bulk_insert("copy_rows", COLUMNS, aware)
    assert len(_read(0, count)) == count
    with pytest.raises(TypeError):
        db._copy_field(1.5)


def test_write_rows_keeps_the_tables_order_around_a_copy(database: None) -> None:
    """A small batch before a copied one still goes in first: the copied
    rows may refer to it."""
    db.database.execute_sql("CREATE TABLE copy_parent (k INTEGER PRIMARY KEY)")
    db.database.execute_sql(
        "CREATE TABLE copy_child (k INTEGER PRIMARY KEY, parent INTEGER NOT NULL "
        "REFERENCES copy_parent (k))"
    )
    count = db.COPY_ABOVE + 1
    with db.transaction():
        db.write_rows(
            [
                ("copy_parent", ("k",), [(1,), (2,)]),
                ("copy_child", ("k", "parent"), [(i, 1 + i % 2) for i in range(count)]),
            ]
        )
    ((children,),) = db.database.execute_sql("SELECT count(*) FROM copy_child").fetchall()
    assert children == count


def test_text_with_nul_goes_by_statements_and_fails_as_it_did(database: None) -> None:
    """The driver refuses NUL in text; a batch holding one is not copied, so
    it fails exactly as before, and nothing of it is written."""
    with pytest.raises(TypeError):
        db._copy_field("a\x00b")
    rows = _rows(0, db.COPY_ABOVE + 1)
    rows[-1] = (rows[-1][0], "a\x00b", *rows[-1][2:])
    with pytest.raises(ValueError, match="NUL"), db.transaction():
        db.bulk_insert("copy_rows", COLUMNS, rows)
    assert _read(0, len(rows)) == []


def test_columns_render_as_each_field_would(database: None) -> None:
    """Columns are rendered whole (strings checked at once, distinct values
    once): the text is the field-by-field text, True and 1 apart, and a
    column of plain strings with NULLs reads back as inserted by statements."""
    at = datetime(2026, 5, 1, 8, 30, 0, 5)
    rows = [
        (
            None if i % 4 == 0 else f"plain-{i % 9}",
            TRICKY[i % len(TRICKY)] if i % 5 else None,
            i,
            True if i % 3 == 0 else i % 2,
            bytearray(b"\\\x01") if i % 2 else b"\x02",
            at,
            Kind.A if i % 2 else "kind-a",
            date(2026, 1, 1 + i % 28),
        )
        for i in range(db.COPY_ABOVE + 7)
    ]
    by_field = "".join("\t".join(map(db._copy_field, row)) + "\n" for row in rows)
    assert db._copy_text(rows) == by_field
    plain = [(i, None if i % 4 == 0 else f"plain-{i % 9}", *[None] * 5) for i in range(len(rows))]
    again = [(10_000 + r[0], *r[1:]) for r in plain]
    with db.transaction():
        db.bulk_insert("copy_rows", COLUMNS, plain)  # by COPY
        for i in range(0, len(again), 10):
            db.bulk_insert("copy_rows", COLUMNS, again[i : i + 10])
    assert [r[1:] for r in _read(0, len(plain))] == [
        r[1:] for r in _read(10_000, 10_000 + len(plain))
    ]
    assert _read(0, 2) == [tuple(plain[0]), tuple(plain[1])]
