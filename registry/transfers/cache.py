"""The process's transfer snapshot cache: the current snapshot, proved
fresh by the revision map or the committed-reads ticket (docs/adr/0014,
0020), built in the background on start and on full rebuilds while checks
are answered from slices (docs/adr/0023); one per database per process,
shared by CheckTransfer and the decision snapshots local checkers load.
The snapshot itself and how it is built and advanced: ``snapshot``.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable

from registry import consistency, db
from registry.consistency import Mode, Requirement
from registry.revision import Signal, shared
from registry.transfers.reference import Reference, default_reference
from registry.transfers.snapshot import (
    Snapshot,
    advance_or_none,
    build,
    build_slice,
    committed_revision,
)

log = logging.getLogger(__name__)

BUILD_SWITCH_INTERVAL = 0.0005
"""The interpreter's switch interval while a build runs in the background."""
_switch_lock = threading.Lock()
_switch_builds = 0
_switch_saved = 0.0


def _short_switches(on: bool) -> None:
    """While a build runs in the background (seconds at 100,000 controllers,
    holding the interpreter lock between its reads), a check's thread waits
    for the lock after each of its own reads: a shorter switch interval
    bounds each wait at 0.5 ms instead of 5 ms. Counted, so overlapping
    builds restore the interval once, when the last one ends."""
    global _switch_builds, _switch_saved  # noqa: PLW0603 - one interpreter setting
    with _switch_lock:
        if on:
            if _switch_builds == 0:
                _switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_saved, BUILD_SWITCH_INTERVAL))
            _switch_builds += 1
        else:
            _switch_builds -= 1
            if _switch_builds == 0:
                sys.setswitchinterval(_switch_saved)


class SnapshotCache:
    """The current snapshot, refreshed on demand; one per server process."""

    def __init__(
        self,
        base: Reference | None = None,
        revision: Callable[[], int] = committed_revision,
        signal: Callable[[], Signal | None] = shared,
    ) -> None:
        self._base = base or default_reference()
        self._revision = revision
        self._signal = signal
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._builder: threading.Thread | None = None
        self.refreshes = 0
        self.slices = 0
        """Checks answered from a slice while no full snapshot was in place."""
        self.queries = 0
        """Freshness proved by the SQL query (the map could not prove it)."""

    @property
    def base(self) -> Reference:
        return self._base

    def current(self, requirement: Requirement = consistency.FULLY_CONSISTENT) -> Snapshot:
        """A snapshot meeting ``requirement``: by default at least as new as
        the revision committed when called. The revision map proves that
        without a query when it can (``registry.revision``); an ``AT_LEAST``
        revision beyond the log is FAILED_PRECONDITION. Waits for a full
        build when there is none yet (:meth:`for_check` does not)."""
        snapshot = self._proved(requirement)
        if snapshot is not None:
            return snapshot
        builder = self._builder
        if self._snapshot is None and builder is not None:
            builder.join()  # the build under way, rather than a second one
        self.queries += 1
        committed = self._revision()
        snapshot = self._snapshot
        if snapshot is None or snapshot.revision < committed:
            snapshot = self._refresh(committed)
            assert snapshot is not None  # full: a rebuild when nothing else can
        consistency.require_reached(requirement, snapshot.revision)
        return snapshot

    def for_check(
        self,
        requirement: Requirement,
        controller_id: str | None,
        subprocessor_id: str | None,
    ) -> Snapshot:
        """What one check of ``controller_id`` and ``subprocessor_id`` decides
        from, meeting ``requirement`` exactly as :meth:`current` does, without
        waiting for a full build: while none is in place (after start, or
        when the change feed calls for a rebuild) one is built in the
        background and the check reads its slice with a few indexed queries
        (:func:`build_slice`), at the committed revision."""
        snapshot = self._proved(requirement)
        if snapshot is not None:
            return snapshot
        self.queries += 1
        committed = self._revision()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.revision >= committed:
            consistency.require_reached(requirement, snapshot.revision)
            return snapshot
        if snapshot is not None and self._builder is None:
            advanced = self._refresh(committed, full=False)
            if advanced is not None:
                consistency.require_reached(requirement, advanced.revision)
                return advanced
        self.warm()
        self.slices += 1
        part = build_slice(self._base, controller_id, subprocessor_id)
        consistency.require_reached(requirement, part.revision)
        return part

    def warm(self) -> None:
        """Starts a full build in the background unless one is running."""
        with self._lock:
            if self._builder is not None:
                return
            self._builder = threading.Thread(
                target=self._build_in_background, name="transfer-snapshot", daemon=True
            )
            self._builder.start()

    def _build_in_background(self) -> None:
        _short_switches(True)
        try:
            started = time.perf_counter()
            with db.database.connection_context():
                fresh = build(self._base)
            self._publish(fresh)
            log.info(
                "transfer snapshot built at revision %d: %d controllers, %d sub-processors, %.2f s",
                fresh.revision,
                len(fresh.controllers),
                len(fresh.subprocessors),
                time.perf_counter() - started,
            )
        except Exception:
            log.exception("transfer snapshot build failed; the next check starts another")
        finally:
            _short_switches(False)
            with self._lock:
                self._builder = None
            db.release()

    def _proved(self, requirement: Requirement) -> Snapshot | None:
        """The held snapshot if ``requirement`` or the revision map proves it
        fresh enough without a query."""
        snapshot = self._snapshot
        if snapshot is None:
            return None
        # The usual requirement (the default, one object) goes straight to
        # the map: a call and an enum lookup fewer on the hot path.
        if requirement is not consistency.FULLY_CONSISTENT:
            if requirement.met_by(snapshot.revision):
                return snapshot
            if requirement.mode is not Mode.FULLY_CONSISTENT:
                return None
        signal = self._signal()
        if signal is not None:
            floor = signal.read()
            if floor is not None and snapshot.revision >= floor:
                return snapshot
        return None

    def _refresh(self, committed: int, *, full: bool = True) -> Snapshot | None:
        """The snapshot brought to ``committed`` or later, incrementally or,
        when ``full``, by a rebuild; None when only a rebuild could."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.revision >= committed:
                return snapshot  # another thread brought it forward meanwhile
            fresh = advance_or_none(snapshot, self._base) if snapshot is not None else None
            if fresh is None and full:
                fresh = build(self._base)
            return None if fresh is None else self._publish_locked(fresh)

    def _publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._publish_locked(snapshot)

    def _publish_locked(self, snapshot: Snapshot) -> Snapshot:
        """Swaps ``snapshot`` in unless the one held is as new (a slower
        background build may finish after a newer refresh); the one held."""
        held = self._snapshot
        if held is not None and (held is snapshot or held.revision >= snapshot.revision):
            return held
        self._snapshot = snapshot
        self.refreshes += 1
        # The snapshot lives long and holds ~10 objects per controller:
        # keep the cyclic collector from rescanning them (pauses of tens
        # of ms at 100,000 controllers). Reference counting frees them.
        gc.freeze()
        return snapshot

    def peek(self) -> Snapshot | None:
        return self._snapshot


_shared_lock = threading.Lock()
_shared: tuple[object, SnapshotCache | None] = (None, None)


def shared_cache() -> SnapshotCache:
    """This process's snapshot cache for the database it serves: CheckTransfer
    and the decision snapshots local checkers load read the same one."""
    global _shared  # noqa: PLW0603 - a one-entry cache per database
    database = db.database.obj
    with _shared_lock:
        known, cache = _shared
        if known is not database or cache is None:
            cache = SnapshotCache()
            _shared = (database, cache)
        return cache
