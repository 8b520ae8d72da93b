"""The registry revision in a shared memory map: freshness without a query
per check (docs/adr/0014-consistency-and-revision-map.md).

The registry revision is the audit-log size (``log_head.size``). Reading it
with SQL costs a statement per check; reading this map costs one
``struct.unpack_from`` (about 0.25 us). The map is a 16-byte file next to a
SQLite database (``<real path of the database>.rev``), mapped shared by every
process on the host that opens the database through this package. It holds
``M`` and ``~M`` (a torn read does not match and is treated as unknown).

The one rule that makes it exact: **a writer raises M to its revision R
before it commits**, while it holds SQLite's write lock (which serialises
writers across processes, so no other lock is needed), and M never goes
down. Hence whenever a commit at R has completed, M >= R; a reader that
reads M after its request arrived and holds a snapshot at a revision >= M
has every change committed before it began. If M is ahead (a commit in
flight, rolled back, or the writer died before committing; a database
restored from a backup), readers merely fall back to the SQL query until the
log reaches M: M may be too high, never too low. (Delete the ``.rev`` file
with the database, while no server runs, to start it afresh.)

PostgreSQL (writers may run on other hosts), in-memory SQLite, or a map that
cannot be opened give ``None``: callers then use the SQL query. All writers
must be this code: ``registry.ledger`` raises M in every mutation, and the
audit log only grows there.

On PostgreSQL nothing on this host can prove that no other host committed:
only a read that begins after the check began can. :class:`CommittedReads`
makes that read once for every check waiting at the time, on a connection
of its own (docs/adr/0020-freshness-on-postgresql.md).
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee

from registry import db

log = logging.getLogger(__name__)

HEAD_SQL = "SELECT size FROM log_head WHERE id = 1"
"""The committed registry revision: the audit-log size."""

_LAYOUT = struct.Struct("<qq")
_SIZE = _LAYOUT.size


class RevisionMap:
    """One mapped ``.rev`` file; see the module docstring for the protocol."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:
                # A new map: zeros read as torn (~0 != 0) until the first
                # raise, so nothing is proved before a writer has written.
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> int | None:
        """M, or None when the read was torn (a writer was halfway)."""
        value, check = _LAYOUT.unpack_from(self._map, 0)
        return int(value) if check == ~value else None

    def raise_to(self, revision: int) -> None:
        """Makes M at least ``revision``; call holding the database write lock,
        before the commit."""
        current = self.read()
        if current is None or current < revision:
            _LAYOUT.pack_into(self._map, 0, revision, ~revision)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


_lock = threading.Lock()
_maps: dict[str, RevisionMap | None] = {}


def map_path(database_file: str) -> Path:
    """``<real path>.rev``: every path of one database names one map."""
    return Path(os.path.realpath(database_file) + ".rev")


def _database_file(database: peewee.Database) -> str | None:
    if db.is_postgres(database) or not isinstance(database, peewee.SqliteDatabase):
        return None
    name = str(database.database)
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return name


_last: tuple[object, RevisionMap | None] = (None, None)


def shared() -> RevisionMap | None:
    """The map of the database this process uses, or None when there is none
    to trust (PostgreSQL, in-memory SQLite, the file cannot be mapped)."""
    global _last  # noqa: PLW0603 - a one-entry cache of the lookup below
    database = db.database.obj
    known, found = _last
    if known is database:
        return found
    name = _database_file(database)
    if name is None:
        found = None
    else:
        with _lock:
            if name not in _maps:
                try:
                    _maps[name] = RevisionMap(map_path(name))
                except OSError as err:
                    log.warning("revision map unusable, checks query the database: %s", err)
                    _maps[name] = None
            found = _maps[name]
    _last = (database, found)
    return found


def before_commit(revision: int) -> None:
    """Raises M to ``revision`` (the log size this transaction commits): the
    last step of a write transaction, before COMMIT."""
    signal = shared()
    if signal is not None:
        signal.raise_to(revision)


def reset() -> None:
    """Forgets the maps this process opened (after a fork, in tests)."""
    global _last  # noqa: PLW0603
    with _lock:
        for found in _maps.values():
            if found is not None:
                found.close()
        _maps.clear()
        _last = (None, None)


# A wave's states: waiting for the read in flight to end; one of its calls is
# to make the read now; that read is under way; answered; failed (its calls
# start over).
_WAITING, _LEAD, _READING, _DONE, _FAILED = range(5)


class _Wave:
    """The calls waiting for one read that has not begun yet: they share it."""

    __slots__ = ("cond", "state", "value")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.state = _WAITING
        self.value = 0


class CommittedReads:
    """The committed revision, read by one statement for every check waiting.

    ``committed()`` returns the revision read by a statement that *began
    after* ``committed()`` was called, so it counts every commit that finished
    before: exact, across processes and hosts. Calls that arrive while a read
    is in flight form the next wave and share the read that begins when it
    ends (the one in flight may have begun before them): one of them makes
    it, and each of the others wakes once, to its answer. Under load one
    round trip serves many checks; alone, a call makes its own read (no
    thread hand-off). The connection is this object's own, in autocommit
    (each statement sees the latest commits), outside the pool.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = False
        """A read is in flight."""
        self._next: _Wave | None = None
        """The calls that arrived while it was: the next read is theirs."""
        self._finished = 0
        self._closed = False

    @property
    def reads(self) -> int:
        """Statements answered so far (for tests and metrics)."""
        return self._finished

    def committed(self) -> int:
        while True:
            with self._lock:
                wave = self._next if self._busy else None
                if self._busy and wave is None:
                    wave = self._next = _Wave()
                self._busy = True
            if wave is None:
                return self._lead(None)
            with wave.cond:
                while wave.state in (_WAITING, _READING):
                    wave.cond.wait()
                state = wave.state
                if state == _LEAD:
                    wave.state = _READING
                elif state == _DONE:
                    return wave.value
            if state == _LEAD:
                return self._lead(wave)
            # _FAILED: the read that began after this call failed; start over.

    def _lead(self, wave: _Wave | None) -> int:
        """Makes the read for ``wave`` (None: this call alone), hands the read
        after it to the wave that formed meanwhile, then wakes ``wave``."""
        value: int | None = None
        try:
            value = self._read()
        finally:
            with self._lock:
                if value is not None:
                    self._finished += 1
                waiting, self._next = self._next, None
                if waiting is None:
                    self._busy = False
                    self._idle.notify_all()
            if waiting is not None:
                with waiting.cond:
                    waiting.state = _LEAD
                    waiting.cond.notify()
            if wave is not None:
                with wave.cond:
                    wave.state, wave.value = (_FAILED, 0) if value is None else (_DONE, value)
                    wave.cond.notify_all()
        return value

    def _read(self) -> int:
        """One statement; made by one thread at a time (``_busy``)."""
        if self._closed:
            raise RuntimeError("revision reads closed")
        if self._pid != os.getpid():
            # Forked: the socket is the parent's. Never close it from here
            # (that would end the parent's session); open our own.
            _abandoned.append(self._conn)
            self._conn, self._pid = None, os.getpid()
        for attempt in (1, 2):
            fresh = self._conn is None
            try:
                if fresh:
                    self._conn = self._connect()
                # Not a named prepared statement: it would not survive
                # PgBouncer's transaction pooling (docs/operations.md).
                with self._conn.cursor() as cursor:
                    cursor.execute(HEAD_SQL)
                    (row,) = cursor.fetchall()
                return int(row[0])
            except Exception:
                self._drop()
                # A kept connection may have died idle (server restart): one
                # retry on a new one; a new one that fails is the answer.
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing the revision connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            while self._busy:
                self._idle.wait()
            self._closed = True
            if self._pid == os.getpid():
                self._drop()


_abandoned: list[Any] = []
"""Connections inherited over fork: kept referenced so they are never closed here."""

_reads: tuple[object, CommittedReads | None] = (None, None)


def committed_reads() -> CommittedReads | None:
    """The coalesced revision reads of this process's database when it is
    PostgreSQL; None otherwise (SQLite reads on its own connection, in-process)."""
    global _reads  # noqa: PLW0603 - one reader per process, for the database in use
    database = db.database.obj
    known, found = _reads
    if known is database:
        return found
    with _lock:
        known, found = _reads
        if known is database:
            return found
        if found is not None:
            found.close()
        found = (
            CommittedReads(lambda: db.dedicated_connection(database))
            if db.is_postgres(database)
            else None
        )
        _reads = (database, found)
    return found
