"""Live delivery: one hub per server process (docs/adr/0004, 0015).

The hub thread keeps a high-water mark (the largest notification id it has
seen) and fetches the rows above it (which ids, and whose, then in full only
the watched controllers' rows): at once when poked after a local commit,
and otherwise every ``POLL_SECONDS``, so notifications committed by other
server processes on the same PostgreSQL arrive too. It hands each row to the
watchers registered for that row's controller: the thread-held watchers of
the main port's stream, and the stream host's mailboxes (``Fanout``), which
get every batch in one hop into their event loop. Ids commit in id order (see
``registry.notifications.core``), so the high-water mark never passes a row
that is still to come.

A watcher registers *before* it reads its backlog from the database; anything
committed after that is pushed to it, and the Watch loop drops ids at or below
its cursor, so the union is gap-free and has no duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from registry import db
from registry.notifications import core
from registry.notifications.model import NotificationRow
from registry.streams.fanout import Fanout

log = logging.getLogger(__name__)

POLL_SECONDS = 0.15
FETCH = 5000
MAX_QUEUED = 10_000
"""A watcher that falls this far behind is told to re-read from the database."""


class Unavailable(Exception):
    """The hub is not running (the server is starting or stopping)."""


class Watcher:
    """One Watch stream's mailbox. Only the hub thread pushes; one RPC thread takes."""

    def __init__(self, controller_id: str) -> None:
        self.controller_id = controller_id
        self._cond = threading.Condition()
        self._items: deque[core.Notification] = deque()
        self.overflowed = False
        self.closed = False

    def push(self, items: Iterable[core.Notification]) -> None:
        with self._cond:
            self._items.extend(items)
            if len(self._items) > MAX_QUEUED:
                self._items.clear()
                self.overflowed = True
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify()

    def take(self, timeout: float) -> tuple[list[core.Notification], bool]:
        """Waits up to ``timeout`` s; returns (items, overflowed) and clears both."""
        with self._cond:
            if not self._items and not self.overflowed and not self.closed:
                self._cond.wait(timeout)
            items = list(self._items)
            self._items.clear()
            overflowed, self.overflowed = self.overflowed, False
        return items, overflowed


class Hub:
    def __init__(
        self,
        poll_seconds: float = POLL_SECONDS,
        max_watchers: int = 1000,
        streams: Fanout[str, core.Notification] | None = None,
    ) -> None:
        self._poll_seconds = poll_seconds
        self.streams = streams
        """The stream host's mailboxes by controller id; None when it is off."""
        self._max_watchers = max_watchers
        self._count = 0
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Watcher]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._hwm = 0
        self._thread = threading.Thread(target=self._run, name="notification-hub", daemon=True)

    @property
    def watcher_count(self) -> int:
        """Live streams in this process, on the main port and the stream host."""
        return self._count + (self.streams.count if self.streams is not None else 0)

    def start(self) -> None:
        with db.database.connection_context():
            self._hwm = core.max_id()
        self._thread.start()

    def register(self, controller_id: str) -> Watcher:
        if self._stopping.is_set():
            raise Unavailable("the server is shutting down; reconnect")
        watcher = Watcher(controller_id)
        with self._lock:
            if self._count >= self._max_watchers:
                raise Unavailable("too many live watchers on this server; retry later")
            self._watchers.setdefault(controller_id, set()).add(watcher)
            self._count += 1
        return watcher

    def unregister(self, watcher: Watcher) -> None:
        with self._lock:
            group = self._watchers.get(watcher.controller_id)
            if group is not None and watcher in group:
                group.discard(watcher)
                self._count -= 1
                if not group:
                    del self._watchers[watcher.controller_id]

    def poke(self) -> None:
        """Something was committed: poll now."""
        self._wake.set()

    def close(self) -> None:
        """Stops the thread and ends every Watch stream (they reconnect elsewhere)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with self._lock:
            watchers = [w for ws in self._watchers.values() for w in ws]
            self._watchers.clear()
            self._count = 0
        for w in watchers:
            w.close()
        if self.streams is not None:
            self.streams.close()

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wake.wait(self._poll_seconds)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    self._poll()
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("notification hub poll failed (%d in a row)", failures)
                    self._stopping.wait(min(5.0, 0.1 * 2**failures))
                finally:
                    db.release()  # hold no pooled connection between polls
        finally:
            db.database.close()

    def _poll(self) -> None:
        with self._lock:
            watched = bool(self._watchers)
        if not watched and not (self.streams is not None and self.streams.count):
            self._hwm = max(self._hwm, core.max_id())
            return
        while True:
            # Which rows are new, and whose: two narrow columns. Only the
            # watched controllers' rows are read in full.
            keys = list(
                core.tuples(
                    NotificationRow.select(NotificationRow.id, NotificationRow.controller_id)
                    .where(NotificationRow.id > self._hwm)
                    .order_by(NotificationRow.id)
                    .limit(FETCH)
                )
            )
            if not keys:
                return
            # Who watches is read after the rows: a watcher that registers
            # later reads its backlog later too, and finds them there.
            streamed = self.streams.keys() if self.streams is not None else frozenset()
            with self._lock:
                wanted = [int(key) for key, cid in keys if cid in self._watchers or cid in streamed]
            by_controller: dict[str, list[tuple[Any, ...]]] = {}
            for t in self._rows(wanted):
                by_controller.setdefault(t[1], []).append(t)
            self._hwm = int(keys[-1][0])  # only once they are all read
            with self._lock:
                targets = [(set(self._watchers.get(cid, ())), cid) for cid in by_controller]
            published: dict[str, list[core.Notification]] = {}
            for ws, cid in targets:
                decoded = [core.from_tuple(t) for t in by_controller[cid]]
                for w in ws:
                    w.push(decoded)
                if cid in streamed:
                    published[cid] = decoded
            if self.streams is not None:
                self.streams.publish(published)
            if len(keys) < FETCH:
                return

    @staticmethod
    def _rows(ids: list[int]) -> list[tuple[Any, ...]]:
        """The rows with these internal keys, in key order."""
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(ids), 500):
            rows.extend(
                core.tuples(
                    core.select()
                    .where(NotificationRow.id.in_(ids[i : i + 500]))
                    .order_by(NotificationRow.id)
                )
            )
        return rows


_current: Hub | None = None


def start(
    poll_seconds: float = POLL_SECONDS,
    max_watchers: int = 1000,
    streams: Fanout[str, core.Notification] | None = None,
) -> Hub:
    """Starts this process's hub (the server does, at start-up). ``streams``:
    the stream host's mailboxes, woken beside the thread-held watchers."""
    global _current  # noqa: PLW0603
    hub = Hub(poll_seconds, max_watchers, streams)
    hub.start()
    _current = hub
    return hub


def stop() -> None:
    global _current
    hub, _current = _current, None
    if hub is not None:
        hub.close()


def current() -> Hub:
    hub = _current
    if hub is None:
        raise Unavailable("notification delivery is not running; reconnect")
    return hub


def poke() -> None:
    hub = _current
    if hub is not None:
        hub.poke()
