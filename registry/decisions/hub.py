"""This process's decision-change streams: how many there may be, and the one
producer that wakes those on the stream host (docs/adr/0019).

A decision change is not a row to hand over: it is "the snapshot moved past
your cursor", computed per (from, to, selection) and shared
(``servicer.SharedChanges``). So the producer publishes nothing; it waits on
the process's :class:`registry.revision_wait.RevisionWatch` and, when the
committed revision moves, marks every hosted stream stale (``Fanout.stale``):
each re-reads the snapshot on the host's I/O threads. It runs only while a
hosted stream is open.

The limits (``--max-decision-streams``) are per process: the stream host's
``Fanout`` holds at most that many; the main port, a thread each, at most
``main_limit`` (32 while the stream host is on). Past either, a new stream is
RESOURCE_EXHAUSTED, saying which limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from registry import db
from registry.errors import ResourceExhausted, Unavailable
from registry.revision_wait import RevisionWatch, watch_for
from registry.streams.fanout import Fanout, Full
from registry.transfers.snapshot import read_revision

log = logging.getLogger(__name__)

WAIT_SECONDS = 0.25
"""The producer's longest wait: it proves it is alive at least this often."""
IDLE_SECONDS = 0.2
"""How often an idle producer (no hosted stream) looks for one."""


class DecisionHub:
    def __init__(
        self,
        main_limit: int,
        streams: Fanout[str, None] | None = None,
        watch: Callable[[], RevisionWatch] | None = None,
    ) -> None:
        self.main_limit = main_limit
        self.streams = streams
        """The stream host's mailboxes by selection; None when it is off."""
        self._watch = watch
        self._lock = threading.Lock()
        self._main = 0
        self.known = -1
        """The newest committed revision the producer has seen."""
        self.checked = 0.0
        """When the producer last confirmed ``known`` (monotonic seconds)."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-hub", daemon=True)

    @property
    def main_count(self) -> int:
        return self._main

    def start(self) -> None:
        if self.streams is not None:
            self._thread.start()

    def enter_main(self) -> None:
        """One more stream on the main port, or RESOURCE_EXHAUSTED."""
        if self._stopping.is_set():
            raise Unavailable("the server is shutting down; reconnect")
        with self._lock:
            if self._main >= self.main_limit:
                raise ResourceExhausted(
                    f"this server process already serves {self._main} decision-change streams "
                    f"on its main port (limit {self.main_limit}); "
                    + (
                        "connect to the stream port it advertises, or retry later"
                        if self.streams is not None
                        else "retry later or raise --max-decision-streams"
                    )
                )
            self._main += 1

    def leave_main(self) -> None:
        with self._lock:
            self._main -= 1

    def alive(self, within: float) -> bool:
        """The producer confirmed the committed revision within ``within`` s."""
        return time.monotonic() - self.checked <= within + WAIT_SECONDS

    def close(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.streams is not None:
            self.streams.close()

    def _run(self) -> None:
        assert self.streams is not None
        streams = self.streams
        try:
            while not self._stopping.is_set():
                if streams.count == 0:
                    self._stopping.wait(IDLE_SECONDS)
                    continue
                try:
                    watch = self._watch() if self._watch is not None else _process_watch()
                    committed = watch.wait_beyond(self.known, WAIT_SECONDS)
                except Exception:
                    log.exception("decision hub: waiting for the revision failed")
                    self._stopping.wait(1.0)
                    continue
                if committed > self.known:
                    self.known = committed
                    streams.stale()
                self.checked = time.monotonic()
        finally:
            db.database.close()


def _process_watch() -> RevisionWatch:
    return watch_for(read_revision)


def exhausted(streams: Fanout[str, None], err: Full) -> ResourceExhausted | Unavailable:
    """The error for a stream the stream host has no room for."""
    if streams.closed:
        return Unavailable(str(err))
    return ResourceExhausted(
        f"this server process already serves {streams.count} decision-change streams "
        f"(limit {streams.limit}, --max-decision-streams); retry later"
    )


_current: DecisionHub | None = None


def start(main_limit: int, streams: Fanout[str, None] | None = None) -> DecisionHub:
    """Starts this process's hub (the server does, at start-up)."""
    global _current  # noqa: PLW0603
    hub = DecisionHub(main_limit, streams)
    hub.start()
    _current = hub
    return hub


def stop() -> None:
    global _current
    hub, _current = _current, None
    if hub is not None:
        hub.close()


def current() -> DecisionHub | None:
    """This process's hub; None outside a server (tests that build servicers)."""
    return _current
