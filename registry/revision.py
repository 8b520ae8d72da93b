"""The registry revision in a shared memory map: freshness without a query
per check (docs/adr/0014-consistency-and-revision-map.md).

The registry revision is the audit-log size (``log_head.size``). Reading it
with SQL costs a statement per check; reading this map costs two word
reads (about 0.07 us quiet). The map is a 16-byte file next to a
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

In-memory SQLite, or a map that cannot be opened give ``None``: callers
then use the SQL query. All writers must be this code: ``registry.ledger``
raises M in every mutation, and the audit log only grows there.

On PostgreSQL writers may run on other hosts, whose commits no map here
sees. The map is trusted there only under the **revision lease**
(:class:`LeasedMap`, docs/adr/0028-revision-lease-on-postgresql.md): a row
naming the one host whose processes may trust their map. A writer of any
other host, holding the log's write lock, waits out the lease before it
commits and clears it; the holder renews it, under the same lock, every
quarter lease, raising its map to the committed size each time, and trusts
its map only until a safe fraction of the lease after a renewal began.
Without the lease (it lapsed, or another host holds it) a check proves
freshness with a read that begins after it did: :class:`CommittedReads`
makes that read once for every check waiting at the time, on a connection
of its own (docs/adr/0020-freshness-on-postgresql.md).
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import peewee

from registry import db

log = logging.getLogger(__name__)

HEAD_SQL = "SELECT size FROM log_head WHERE id = 1"
"""The committed registry revision: the audit-log size."""

_SIZE = 16
"""Two signed 64-bit words, native order: M, then ~M."""


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
        # The two words as native integers (the file never leaves its host):
        # two index reads, half the cost of unpacking a struct.
        self._words = memoryview(self._map).cast("q")

    def read(self) -> int | None:
        """M, or None when the read was torn (a writer was halfway)."""
        words = self._words
        value = words[0]
        return value if words[1] == ~value else None

    def raise_to(self, revision: int) -> None:
        """Makes M at least ``revision``; call holding the database write lock,
        before the commit."""
        current = self.read()
        if current is None or current < revision:
            words = self._words
            words[0] = revision  # M first, then its check: a read between sees them differ
            words[1] = ~revision

    def close(self) -> None:
        self._words.release()
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


class Signal(Protocol):
    """What a check and a writer use of this host's revision map."""

    def read(self) -> int | None:
        """M when it may be trusted now, else None (prove it with a query)."""

    def raise_to(self, revision: int) -> None:
        """Called by a writer holding the write lock, before its commit."""


_last: tuple[object, Signal | None] = (None, None)
_leased: tuple[object, LeasedMap | None] = (None, None)


def shared() -> Signal | None:
    """The map of the database this process uses, or None when there is none
    to trust (in-memory SQLite, the file cannot be mapped, PostgreSQL with
    the lease turned off)."""
    global _last  # noqa: PLW0603 - a one-entry cache of the lookup below
    database = db.database.obj
    known, found = _last
    if known is database:
        return found
    if db.is_postgres(database):
        found = _lease_for(database)
        _last = (database, found)
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


def prime() -> None:
    """Writes the committed revision into a map no writer has written yet
    (zeros, read as torn), holding the write lock as a writer would: checks
    are then proved by the map from the start, not only after the first
    write. Without this a database filled or restored beside a new map (a
    bulk load, a backup brought to a new host) is checked with a query per
    call until something is written. Nothing to do when the map holds a
    revision, on PostgreSQL (the lease's renewals raise its map) or without
    a map. Best effort: when the write lock cannot be had (a long write of
    another process), checks keep proving freshness with the query until
    the next write raises the map."""
    signal = shared()
    if not isinstance(signal, RevisionMap) or signal.read() is not None:
        return
    try:
        with db.transaction():
            if signal.read() is None:  # still unwritten, now under the lock
                rows = db.execute(HEAD_SQL).fetchall()
                signal.raise_to(int(rows[0][0]) if rows else 0)
    except peewee.OperationalError as err:
        log.warning("revision map not primed, checks query until the next write: %s", err)


def reset() -> None:
    """Forgets the maps this process opened (after a fork, in tests)."""
    global _last  # noqa: PLW0603
    with _lock:
        for found in _maps.values():
            if found is not None:
                found.close()
        _maps.clear()
        _last = (None, None)
    _lease_for(None)


# --- the revision lease (PostgreSQL) ------------------------------------------

LEASE_ENV = "DPA_REVISION_LEASE_SECONDS"
LEASE_SECONDS = 2.0
"""How long a lease lasts: the longest a write from a host that does not
hold it waits. 0 turns the lease off (every check reads)."""
TRUST = 0.75
"""The part of a lease its holder trusts its map for, from when a renewal
began: the rest covers the clocks of two hosts running at different rates."""
IDLE_RENEWALS = 40
"""Renewals without a check in between after which a process stops renewing
(a later check starts again)."""
FAILED_RENEWALS = 3
"""Failed renewals in a row after which a process stops renewing."""

_LEASE_ROW = "SELECT holder, seconds FROM revision_lease WHERE id = 1"
_CLEAR_LEASE = "UPDATE revision_lease SET holder = NULL WHERE id = 1"


@db.migration(166, "the revision lease: which host may trust its revision map")
def _create_lease(database: peewee.Database) -> None:
    database.execute_sql(
        "CREATE TABLE IF NOT EXISTS revision_lease "
        "(id INTEGER PRIMARY KEY, holder TEXT, seconds DOUBLE PRECISION NOT NULL)"
    )
    database.execute_sql("INSERT INTO revision_lease (id, holder, seconds) VALUES (1, NULL, 0)")


def lease_seconds() -> float:
    raw = os.environ.get(LEASE_ENV, "")
    try:
        return max(0.0, float(raw)) if raw else LEASE_SECONDS
    except ValueError:
        log.warning("%s=%r is not a number; using %s", LEASE_ENV, raw, LEASE_SECONDS)
        return LEASE_SECONDS


def _lease_for(database: peewee.Database | None) -> LeasedMap | None:
    """The leased map of ``database``, one per process: the one of a
    database used before is closed (its renewals stop)."""
    global _leased  # noqa: PLW0603 - one lease keeper per process, for the database in use
    with _lock:
        known, found = _leased
        if known is database:
            return found
        if found is not None:
            found.close()
        found = None if database is None else _open_lease(database)
        _leased = (database, found)
    return found


def _open_lease(database: peewee.Database) -> LeasedMap | None:
    seconds = lease_seconds()
    if seconds <= 0:
        return None
    key = repr((database.database, sorted(database.connect_params.items())))
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    directory = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    try:
        revision_map = RevisionMap(Path(directory) / f"dpa-registry-{digest}.rev")
    except OSError as err:
        log.warning("revision map unusable, checks read the database: %s", err)
        return None
    return LeasedMap(revision_map, lambda: db.dedicated_connection(database), seconds)


def _host_of(path: Path) -> str:
    """The lease's name for every process on this host that opens the map at
    ``path``: the host, its boot and the file itself (a map deleted and made
    again is another holder)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    st = path.stat()
    return f"{socket.gethostname()}/{boot}/{st.st_dev}/{st.st_ino}"


class LeasedMap:
    """A host's revision map on PostgreSQL, trusted while this process holds
    the revision lease for its host (module docstring).

    The rule that makes it exact: a renewal, under the log's write lock,
    finds the lease free or already its host's, takes it and reads the
    committed size; the map is raised to that size before the trust is
    extended to ``TRUST`` of a lease past the moment the renewal began.
    A writer of another host that finds the lease held, under the same lock,
    sleeps a whole lease before it commits (any renewal that could have
    vouched for a map missing its commit has been distrusted by then) and
    clears it; a writer of this host raises the map before its commit, as on
    SQLite. Either way no commit completes unseen while the map is trusted."""

    def __init__(
        self, revision_map: RevisionMap, connect: Callable[[], Any], seconds: float
    ) -> None:
        self.map = revision_map
        self.host = _host_of(revision_map.path)
        self.seconds = seconds
        self._connect = connect
        self._conn: Any = None
        self._trusted_until = 0
        """time.monotonic_ns() before which the map may be trusted."""
        self._used = True
        self._keeper: threading.Thread | None = None
        self._keeper_pid = 0
        self._stop = threading.Event()
        self.renewals = 0

    def read(self) -> int | None:
        self._used = True
        if time.monotonic_ns() < self._trusted_until:
            return self.map.read()
        self._keep()
        return None

    def raise_to(self, revision: int) -> None:
        if self.holds():
            # Under the write lock, while this process trusts its renewal, the
            # lease is this host's: a writer of another host clears it only a
            # whole term after that renewal began (the class docstring).
            self.map.raise_to(revision)
            return
        ((holder, seconds),) = db.execute(_LEASE_ROW).fetchall()
        if holder is not None and holder != self.host:
            # Another host may trust its map: outlast that trust, then free it.
            time.sleep(float(seconds))
            db.execute(_CLEAR_LEASE)
        self.map.raise_to(revision)

    def holds(self) -> bool:
        """Whether this process trusts the map right now."""
        return time.monotonic_ns() < self._trusted_until

    def _keep(self) -> None:
        """Starts renewing in this process unless it already does."""
        pid = os.getpid()
        if self._keeper_pid == pid and self._keeper is not None and self._keeper.is_alive():
            return
        with _lock:
            if self._keeper_pid == pid and self._keeper is not None and self._keeper.is_alive():
                return
            if self._keeper_pid != pid:
                _abandoned.append(self._conn)  # the parent's socket: never close it here
                self._conn = None
            self._stop.clear()
            self._keeper_pid = pid
            self._keeper = threading.Thread(
                target=self._renewing, name="revision-lease", daemon=True
            )
            self._keeper.start()

    def _renewing(self) -> None:
        idle = failed = 0
        try:
            while not self._stop.is_set() and idle < IDLE_RENEWALS and failed < FAILED_RENEWALS:
                idle = 0 if self._used else idle + 1
                self._used = False
                failed = 0 if self.renew() is not None else failed + 1
                self._stop.wait(self.seconds / 4)
        finally:
            self._drop()

    def renew(self) -> bool | None:
        """One renewal (module docstring): whether this host holds the lease;
        None when the renewal failed."""
        began = time.monotonic_ns()
        try:
            size = self._take()
        except Exception as err:
            log.warning("revision lease: renewal failed, checks read the database: %s", err)
            self._drop()
            return None
        if size is None:
            return False
        self.map.raise_to(size)
        self._trusted_until = began + int(self.seconds * TRUST * 1e9)
        self.renewals += 1
        return True

    def _take(self) -> int | None:
        """The committed size if the lease is (now) this host's, else None."""
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        with conn.cursor() as cursor:
            try:
                cursor.execute("BEGIN")
                cursor.execute("SELECT size FROM log_head WHERE id = 1 FOR UPDATE")
                cursor.fetchall()
                cursor.execute(
                    "UPDATE revision_lease SET holder = %s, seconds = %s "
                    "WHERE id = 1 AND (holder IS NULL OR holder = %s)",
                    (self.host, self.seconds, self.host),
                )
                taken = cursor.rowcount == 1
                cursor.execute(HEAD_SQL)  # a new statement: every commit before the lock
                ((size,),) = cursor.fetchall()
                cursor.execute("COMMIT")
            except BaseException:
                if not conn.closed:
                    cursor.execute("ROLLBACK")
                raise
        return int(size) if taken else None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._keeper_pid == os.getpid():
            try:
                conn.close()
            except Exception:
                log.debug("closing the lease connection failed", exc_info=True)

    def close(self) -> None:
        """Stops renewing in this process; the map is no longer trusted."""
        self._trusted_until = 0
        self._stop.set()
        keeper = self._keeper
        if keeper is not None and keeper.is_alive() and keeper is not threading.current_thread():
            keeper.join(timeout=5)
        self.map.close()


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
