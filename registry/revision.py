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
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import threading
from pathlib import Path

import peewee

from registry import db

log = logging.getLogger(__name__)

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
