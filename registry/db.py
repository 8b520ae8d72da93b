"""Storage: one peewee ``DatabaseProxy``, connection set-up and schema migration.

SQLite (WAL) is the embedded default; PostgreSQL is the production backend,
shared by several stateless server processes. SQL stays portable; the few
backend-specific statements (row locks, append-only triggers) live here.

Write transactions are serialised on both backends and across processes
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory
lock), so a domain's read-check-write runs on the latest committed state
(docs/adr/0010). On PostgreSQL each process borrows connections from one
bounded pool (docs/operations.md).
"""

from __future__ import annotations

import functools
import io
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import peewee
from playhouse.db_url import parse as parse_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from registry.errors import Unavailable

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row per applied migration."""

    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = peewee.DateTimeField()


Migration = Callable[[peewee.Database], None]
_MIGRATIONS: list[tuple[int, str, Migration]] = []
_migrate_lock = threading.Lock()


def migration(version: int, name: str) -> Callable[[Migration], Migration]:
    """Registers a schema migration; versions are applied in order, once."""

    def register(fn: Migration) -> Migration:
        if any(v == version for v, _, _ in _MIGRATIONS):
            raise RuntimeError(f"duplicate migration version {version}")
        _MIGRATIONS.append((version, name, fn))
        _MIGRATIONS.sort(key=lambda m: m[0])
        return fn

    return register


def is_postgres(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database.obj
    return isinstance(target, peewee.PostgresqlDatabase)


DEFAULT_POOL_SIZE = 20
DEFAULT_POOL_TIMEOUT = 10.0


class _Pool(PooledPostgresqlDatabase):  # type: ignore[misc]  # playhouse is untyped
    """PostgreSQL connections of this process: at most ``max_connections``; a
    caller waits up to the pool timeout, then gets UNAVAILABLE."""

    def connect(self, reuse_if_open: bool = False) -> bool:
        try:
            return bool(super().connect(reuse_if_open))
        except MaxConnectionsExceeded as err:
            raise Unavailable("database pool exhausted, retry") from err

    # Write-behind (``write_rows`` in a write transaction): the deferred
    # statement travels in the round trip of the next one, or of COMMIT.

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        deferred = _take_deferred()
        if deferred is not None:  # (the driver formats every statement: '%%' as ever)
            sql, params = deferred[0] + "; " + sql, (*deferred[1], *(params or ()))
        return super().execute_sql(sql, params)

    def cursor(self, named_cursor: Any = None) -> Any:
        deferred = _take_deferred()
        cursor = super().cursor(named_cursor)
        if deferred is not None:  # a caller that executes on its own cursor
            with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
                cursor.execute(*deferred)
        return cursor

    def commit(self) -> None:
        deferred = _take_deferred()
        if deferred is None:
            super().commit()
            return
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            super().cursor().execute(deferred[0] + "; COMMIT", deferred[1])

    def rollback(self) -> None:
        _begin.deferred = None
        super().rollback()

    def begin(self, isolation_level: Any = None) -> None:
        if isolation_level is None and getattr(_begin, "write", False):
            # A write transaction (``transaction``): BEGIN, the write lock and
            # the opening statement in one round trip.
            sql = "BEGIN; " + _LOCK_SQL + "".join("; " + s for s in _opening)
            with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
                cursor = self.cursor()
                cursor.execute(sql, (_WRITE_LOCK,))
                _begin.row = cursor.fetchall()[0] if _opening else None
            return
        super().begin(isolation_level)


def open_database(
    url: str, pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = DEFAULT_POOL_TIMEOUT
) -> peewee.Database:
    """Opens a database from a playhouse ``db_url`` URL and binds the proxy.

    On PostgreSQL, ``pool_size`` bounds this process's connections and a caller
    waits at most ``pool_timeout`` seconds for one."""
    parsed = urlparse(url)
    db: peewee.Database
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = peewee.SqliteDatabase(
            path or ":memory:",
            # Writers take the lock at BEGIN: no deadlock-prone lock upgrades.
            lock_type="IMMEDIATE",
            check_same_thread=False,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
            },
        )
    elif parsed.scheme in ("postgresql", "postgres"):
        if pool_size < 1 or pool_timeout <= 0:
            raise ValueError("the pool needs at least one connection and a positive timeout")
        db = _Pool(
            max_connections=pool_size,
            timeout=max(1, round(pool_timeout)),
            stale_timeout=300,
            **parse_url(url),
        )
    else:
        raise ValueError(f"unsupported database URL scheme {parsed.scheme!r}")
    database.initialize(db)
    return db


def migrate(db: peewee.Database) -> int:
    """Applies pending migrations; returns the schema version now in force."""
    from datetime import UTC, datetime  # noqa: PLC0415

    import registry.models  # noqa: F401, PLC0415 - registers every migration

    with _migrate_lock, db.atomic():
        if is_postgres(db):
            # Several server processes may start at once on one database.
            db.execute_sql("SELECT pg_advisory_xact_lock(7281528)")
        db.create_tables([SchemaVersion], safe=True)
        applied = {row.version for row in SchemaVersion.select(SchemaVersion.version)}
        for version, name, fn in _MIGRATIONS:
            if version in applied:
                continue
            log.info("applying schema migration %d (%s)", version, name)
            fn(db)
            SchemaVersion.create(version=version, name=name, applied_at=datetime.now(UTC))
        current = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(current or 0)


# Key of the advisory lock that serialises PostgreSQL write transactions.
_WRITE_LOCK = 7281529
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"


_begin = threading.local()
"""``write``: the next BEGIN on this thread opens a write transaction;
``row``: the opening statement's row, until ``opening_row`` takes it;
``deferred``: (sql, params) written behind, sent with the next statement."""


def _take_deferred() -> tuple[str, tuple[Any, ...]] | None:
    """The write held behind on this thread, once (runs before every
    PostgreSQL statement: nothing is written when nothing is held)."""
    deferred: tuple[str, tuple[Any, ...]] | None = getattr(_begin, "deferred", None)
    if deferred is not None:
        _begin.deferred = None
    return deferred


def _defer(sql: str, params: Sequence[Any]) -> None:
    """Holds a write of the current transaction (PostgreSQL) until the next
    statement or COMMIT on this thread, which carries it in its own round
    trip. An error in it surfaces there; the transaction then rolls back."""
    held = _take_deferred()
    if held is not None:
        sql, params = held[0] + "; " + sql, (*held[1], *params)
    _begin.deferred = (sql, tuple(params))


_opening: list[str] = []


def open_every_write_with(sql: str) -> None:
    """On PostgreSQL, makes ``sql`` (a one-row SELECT, from code) the first
    statement of every outermost write transaction, right after the write
    lock and in the same round trip as BEGIN. ``opening_row`` hands its row
    to the first caller that asks in that transaction. (SQLite has no round
    trip to save: there ``opening_row`` is always None.)"""
    _opening[:] = [sql]


def opening_row() -> tuple[Any, ...] | None:
    """The opening statement's row in this write transaction, once: the
    first call gets it; later calls, calls outside ``transaction`` and SQLite
    get None. It is the state right after the write lock was taken, before
    any other statement of the transaction ran."""
    row: tuple[Any, ...] | None = getattr(_begin, "row", None)
    _begin.row = None
    return row


@contextmanager
def transaction() -> Iterator[None]:
    """A write transaction, one at a time per database: on SQLite it begins
    IMMEDIATE; on PostgreSQL it first takes the write lock (held to commit or
    rollback), so every statement after it sees every earlier write. The
    outermost one sends BEGIN, the lock and the opening statement
    (``open_every_write_with``) in one round trip."""
    postgres = is_postgres()
    outermost = not database.in_transaction()
    if outermost:
        _begin.row = _begin.deferred = None
    _begin.write = postgres and outermost
    try:
        with database.atomic():
            _begin.write = False
            if postgres and not outermost:
                database.execute_sql(_LOCK_SQL, (_WRITE_LOCK,))
            yield
    finally:
        _begin.write = False
        if outermost:
            _begin.row = None
            _begin.deferred = None


# serialization_failure, deadlock_detected, unique_violation
_RETRYABLE_PGCODES = frozenset({"40001", "40P01", "23505"})


def is_retryable(err: peewee.DatabaseError) -> bool:
    """A failure that re-running the whole transaction may resolve: a
    serialisation failure, deadlock, unique violation, or SQLite busy."""
    cause = getattr(err, "orig", None) or err.__cause__ or err.__context__
    pgcode = getattr(cause, "pgcode", None)
    if pgcode is not None:
        return pgcode in _RETRYABLE_PGCODES
    text = str(err)
    if isinstance(err, peewee.IntegrityError):
        return "UNIQUE constraint failed" in text
    return isinstance(err, peewee.OperationalError) and (
        "database is locked" in text or "database is busy" in text
    )


def dedicated_connection(db: peewee.Database | None = None) -> Any:
    """A new PostgreSQL driver connection (autocommit) with the pool's
    settings, outside the pool: for a reader that keeps one for good."""
    target = db if db is not None else database.obj
    if not is_postgres(target):
        raise ValueError("a dedicated connection is for PostgreSQL")
    return peewee.PostgresqlDatabase._connect(target)  # type: ignore[attr-defined]  # bypasses the pool


def release() -> None:
    """Returns this thread's connection to the pool (PostgreSQL); called when
    an RPC ends so idle worker threads hold no connection. SQLite keeps its
    per-thread connections. Reads the proxy's target once: each attribute
    read through the proxy costs about 0.5 us, and this runs on every RPC."""
    target = database.obj
    if is_postgres(target) and not target.is_closed() and not target.in_transaction():
        target.close()


def execute(sql: str, params: tuple[Any, ...] = ()) -> Any:
    return database.execute_sql(sql, params)


IN_LIST = 500
"""The most values one ``IN (...)`` list carries (SQLite's limit on bound
parameters is 32,766 by default, PostgreSQL's 65,535; a statement this size
is planned quickly on both)."""


_Key = TypeVar("_Key", str, int, tuple[str, int])


def in_chunks(values: Iterable[_Key], size: int = IN_LIST) -> Iterator[list[_Key]]:
    """``values`` distinct and sorted, in lists of at most ``size``: one
    ``IN (...)`` list each."""
    wanted = sorted(set(values))
    for i in range(0, len(wanted), size):
        yield wanted[i : i + size]


_STATEMENTS: dict[tuple[str, str, int], str] = {}


def sql(statement: str, count: int = 0) -> str:
    """``statement``, SQL from code with ``%s`` marks, in this database's
    parameter style, with ``count`` marks in place of ``{marks}`` (an IN
    list); converted once per statement, style and count. Every hand-written
    statement goes through here (peewee's queries: :func:`built`)."""
    param = str(database.param)
    key = (param, statement, count)
    found = _STATEMENTS.get(key)
    if found is None:
        found = statement.replace("{marks}", ", ".join(["%s"] * count))
        found = _STATEMENTS[key] = found if param == "%s" else found.replace("%s", param)
    return found


_BUILT: dict[tuple[Callable[..., Any], str], str] = {}


def built(build: Callable[..., Any], *marks: str) -> str:
    """The SQL of the peewee query ``build(*marks)``, built once per query
    and parameter style: peewee spends most of a small read building its
    SQL. Run it with the values in the order of ``marks`` (checked here:
    each mark must become one parameter, in that order)."""
    param = str(database.param)
    sql = _BUILT.get((build, param))
    if sql is None:
        sql, params = build(*marks).sql()
        if list(params) != list(marks):
            raise RuntimeError(f"{build.__qualname__}: parameters {params!r}, not {marks!r}")
        _BUILT[build, param] = sql
    return sql


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


@functools.cache
def _check_identifiers(names: tuple[str, ...]) -> None:
    """Table and column names of the bulk writers come from code, never
    from input (checked once per set of names: they are a few constants)."""
    if not all(_IDENTIFIER.fullmatch(n) for n in names):
        raise ValueError("bulk writes take identifiers from code, never from input")


def bulk_insert(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Inserts many rows without building SQL per row (hot bulk paths only).

    Values go to the driver as they are: pass naive UTC datetimes and bytes.
    """
    if not rows:
        return
    _check_identifiers((table, *columns))
    names = ", ".join(columns)
    cursor = database.cursor()
    if is_postgres():
        text = _copy_text(rows)
        if text is not None:
            _copy(cursor, table, columns, text)
            return
        from psycopg2.extras import execute_values  # noqa: PLC0415

        sql = f"INSERT INTO {table} ({names}) VALUES %s"  # noqa: S608 - checked identifiers
        execute_values(cursor, sql, rows, page_size=1000)
    else:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - checked identifiers
        cursor.executemany(sql, rows)


COPY_ABOVE = 200
"""PostgreSQL: more rows than this go in by ``COPY`` (a breach's tens of
thousands of rows): it skips building and parsing one statement of every
value, about 40% of the time of ``INSERT ... VALUES`` on this kind of
machine. Fewer go in one statement, in the round trip of the others."""


def _copy_field(value: Any) -> str:
    """``value`` in PostgreSQL's COPY text format, as the driver would send
    it; TypeError for a value it cannot say the same way (the caller then
    inserts the rows as statements)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\x00" in value:  # refused by the driver, with its own error
            raise TypeError("NUL in text")
        return _escape(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat(" ")
    elif isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no COPY text for {type(value).__name__}")


def _copy_text(rows: Sequence[Sequence[Any]]) -> str | None:
    """``rows`` as ``COPY`` text when there are more than ``COPY_ABOVE`` and
    every value has a COPY text; None: insert them as statements."""
    if len(rows) <= COPY_ABOVE:
        return None
    try:
        columns = [_copy_column(values) for values in zip(*rows, strict=True)]
    except TypeError:
        return None
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


_SPECIAL = ("\\", "\t", "\n", "\r", "\x00")
"""Characters a COPY text field cannot hold as they are (NUL: not at all)."""


def _escape(text: str) -> str:
    """``text`` with COPY's escapes: checked first, as most text needs none
    (``str.translate`` costs ~5 ns a character even then)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def _copy_column(values: tuple[Any, ...]) -> list[str]:
    """One column's values as COPY text fields, TypeError as ``_copy_field``.
    Strings that need no escape are checked as one text; other values are
    rendered once per distinct value (a write stamps thousands of rows with
    one time, a notice's thousands of inbox rows share one text)."""
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:
        nulls = type(None) in kinds
        text = "".join([v for v in values if v is not None] if nulls else values)
        if not any(c in text for c in _SPECIAL):
            return ["\\N" if v is None else v for v in values] if nulls else list(values)
    elif kinds == {int}:
        return list(map(str, values))
    # One type: the values are their own keys; several: True and 1 differ.
    keys = values if len(kinds) == 1 else [(type(v), v) for v in values]
    try:
        rendered = dict.fromkeys(keys, "")
    except TypeError:  # unhashable (bytearray, memoryview)
        return list(map(_copy_field, values))
    for key in rendered:
        rendered[key] = _copy_field(key if len(kinds) == 1 else key[1])
    return list(map(rendered.__getitem__, keys))


def _copy(cursor: Any, table: str, columns: Sequence[str], text: str) -> None:
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(text))


def write_rows(
    inserts: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
    then: tuple[str, tuple[Any, ...]] | None = None,
) -> None:
    """Inserts rows into several tables (``(table, columns, rows)`` each), in
    that order, then runs ``then``: no round trip of its own on PostgreSQL
    in a transaction (written behind: the statements go with the next one,
    or with COMMIT; plus one ``COPY`` per table of more than ``COPY_ABOVE``
    rows), no SQL built per row on SQLite (the audit-log append). ``then``
    is a statement from code with ``%s`` parameters."""
    for table, columns, _ in inserts:
        _check_identifiers((table, *columns))
    if is_postgres():
        parts: list[str] = []
        params: list[Any] = []
        for table, columns, rows in inserts:
            if not rows:
                continue
            text = _copy_text(rows)
            if text is not None:
                if parts:  # the tables before it go first (foreign keys)
                    database.execute_sql("; ".join(parts), params)
                    parts, params = [], []
                _copy(database.cursor(), table, columns, text)
            else:
                row = "(" + ", ".join("%s" for _ in columns) + ")"
                values = ", ".join(row for _ in rows)
                parts.append(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}")  # noqa: S608 - checked identifiers
                for r in rows:
                    params.extend(r)
        if then is not None:
            parts.append(then[0])
            params.extend(then[1])
        if parts and database.in_transaction():
            _defer("; ".join(parts), params)
        elif parts:
            database.execute_sql("; ".join(parts), params)
        return
    cursor = database.cursor()
    with peewee.__exception_wrapper__:  # type: ignore[attr-defined]  # peewee's errors, as every query's
        for table, columns, rows in inserts:
            if rows:
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - checked identifiers
                    rows,
                )
        if then is not None:
            cursor.execute(sql(then[0]), then[1])


def insert_rows(model: type[BaseModel], rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts many rows of ``model``: the one bulk insert for domain tables.

    Each value goes through its field's ``db_value``; columns missing from a
    row take the field's constant default. Peewee's ``insert_many`` would
    spend most of its time building SQL for large batches.
    """
    if not rows:
        return
    fields = model._meta.fields
    columns = list(rows[0].keys())
    defaults = {
        name: f.default
        for name, f in fields.items()
        if name not in columns and f.default is not None and not callable(f.default)
    }
    columns += list(defaults)
    chosen = [fields[c] for c in columns]
    converted = []
    for c, f in zip(columns, chosen, strict=True):
        given = [r[c] if c in r else defaults[c] for r in rows]
        try:
            # Each distinct value of the column is converted once.
            once = {v: f.db_value(v) for v in set(given)}
        except TypeError:  # an unhashable value
            converted.append(list(map(f.db_value, given)))
            continue
        converted.append(list(map(once.__getitem__, given)))
    values = list(zip(*converted, strict=True))
    bulk_insert(model._meta.table_name, [f.column_name for f in chosen], values)


class UtcDateTimeField(peewee.DateTimeField):
    """Stores aware datetimes as naive UTC; reads them back as aware UTC."""

    def db_value(self, value: Any) -> Any:
        from datetime import UTC, datetime  # noqa: PLC0415

        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)  # type: ignore[no-untyped-call]

    def python_value(self, value: Any) -> Any:
        from datetime import UTC, datetime  # noqa: PLC0415

        value = super().python_value(value)  # type: ignore[no-untyped-call]
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
