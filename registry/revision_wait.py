"""Waiting for the registry revision to pass R: the one primitive a change
stream needs (docs/local-checker.md).

:meth:`RevisionWatch.wait_beyond` blocks until a revision above ``R`` is
committed, or a timeout passes, and returns the newest committed revision it
knows. One poller thread per process serves every waiter and runs only while
someone waits. It reads the shared revision map (``registry.revision``,
about 0.25 us) and confirms with the SQL query only when the map moved (the
map may run ahead of the commit, never behind), so it sees commits of every
process on the database; without a map (PostgreSQL) it queries every
``sql_poll_seconds``.

A stream handler is a plain generator around this call, so it can be hosted
on any stream host: today a worker thread of the sync server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from registry import db
from registry.revision import Signal, shared

log = logging.getLogger(__name__)

POLL_SECONDS = 0.005
SQL_POLL_SECONDS = 0.05


class RevisionWatch:
    def __init__(
        self,
        read: Callable[[], int],
        signal: Callable[[], Signal | None] = shared,
        poll_seconds: float = POLL_SECONDS,
        sql_poll_seconds: float = SQL_POLL_SECONDS,
    ) -> None:
        self._read = read
        self._signal = signal
        self._poll = poll_seconds
        self._sql_poll = sql_poll_seconds
        self._cond = threading.Condition()
        self._known = -1
        self._waiters = 0
        self._running = False
        self.queries = 0

    @property
    def known(self) -> int:
        """The newest committed revision seen (-1 before the first poll)."""
        return self._known

    def wait_beyond(self, revision: int, timeout: float) -> int:
        """Blocks until a revision above ``revision`` is committed or
        ``timeout`` seconds pass; returns the newest committed revision known
        (at most ``revision`` on a timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._waiters += 1
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="revision-watch", daemon=True).start()
            try:
                while self._known <= revision:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                return self._known
            finally:
                self._waiters -= 1

    def _run(self) -> None:
        last_sql = 0.0
        stopped = False
        try:
            while True:
                with self._cond:
                    if self._waiters == 0:
                        self._running, stopped = False, True
                        return
                signal = self._signal()
                hint = signal.read() if signal is not None else None
                now = time.monotonic()
                if (hint is None and now - last_sql >= self._sql_poll) or (
                    hint is not None and hint > self._known
                ):
                    last_sql = now
                    try:
                        committed = self._query()
                    except Exception as err:
                        log.warning("revision watch: reading the revision failed: %s", err)
                        committed = self._known
                    if committed > self._known:
                        with self._cond:
                            self._known = committed
                            self._cond.notify_all()
                time.sleep(self._poll)
        finally:
            if not stopped:  # died: let the next waiter start another
                with self._cond:
                    self._running = False
            db.database.close()

    def _query(self) -> int:
        self.queries += 1
        try:
            return self._read()
        finally:
            db.release()


_lock = threading.Lock()
_current: tuple[object, RevisionWatch | None] = (None, None)


def watch_for(read: Callable[[], int]) -> RevisionWatch:
    """This process's watch of the database it serves."""
    global _current  # noqa: PLW0603 - a one-entry cache per database
    database = db.database.obj
    with _lock:
        known, found = _current
        if known is not database or found is None:
            found = RevisionWatch(read)
            _current = (database, found)
        return found
