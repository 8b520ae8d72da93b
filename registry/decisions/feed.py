"""Which controllers a caller's decision snapshot holds, and what changed
between two revisions of it.

The state itself is the server's transfer snapshot
(``registry.transfers.snapshot``), immutable at one revision: a load reads
every page from one such snapshot; a change names the entities the audit
events in between touched (``registry.changefeed``), and the client takes
their states from the newer snapshot. Replacing exactly those entities turns
the older state into the newer one, so a client that applies every change
in order holds the server's state at each change's revision.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dpa_decisions.common import AuthorizationState
from registry import changefeed, db
from registry.audit import store as audit
from registry.auth import Caller
from registry.errors import InvalidArgument
from registry.subprocessors import core as subprocessors
from registry.transfers.snapshot import FULL_REBUILD_GAP, Snapshot

MAX_SELECTED = 100_000
MAX_CHANGE_AUTHORIZATIONS = 20_000
"""A sub-processor change carrying more per-controller states than this is
sent as a resync instead (it would not fit one message)."""


@dataclass(frozen=True)
class Selection:
    """The controllers a snapshot holds; ``None``: every one."""

    controllers: frozenset[str] | None
    tenant: str | None = None
    """A controller caller: sub-processors are filtered to those it may see."""

    def has(self, controller_id: str) -> bool:
        return self.controllers is None or controller_id in self.controllers

    @property
    def key(self) -> str:
        """Binds a page token to the selection."""
        if self.controllers is None:
            return "*"
        return ",".join(sorted(self.controllers))

    def visible(self, subprocessor_id: str) -> bool:
        if self.tenant is None:
            return True
        with db.database.connection_context():
            return subprocessors.visible_to_controller(self.tenant, subprocessor_id)


def select(caller: Caller, controller_ids: Sequence[str]) -> Selection:
    """The selection a request asks for. A controller may select only itself
    (another id is NOT_FOUND: its existence is not leaked)."""
    tenant = caller.tenant
    ids = frozenset(controller_ids)
    if tenant is not None:
        for cid in sorted(ids):
            caller.require(cid, f"controllers/{cid}")
        return Selection(frozenset({tenant}), tenant)
    if len(ids) > MAX_SELECTED:
        raise InvalidArgument.one("controller_ids", f"at most {MAX_SELECTED} ids")
    return Selection(ids or None)


def authorizations_of(
    snapshot: Snapshot, controller_id: str
) -> list[tuple[str, AuthorizationState]]:
    """(sub-processor, state) of every explicit state of one controller."""
    return [
        (sid, state)
        for sid, entry in sorted(snapshot.subprocessors.items())
        if (state := entry.authorizations.get(controller_id)) is not None
    ]


def authorizations_for(
    snapshot: Snapshot, subprocessor_id: str, selection: Selection
) -> list[tuple[str, AuthorizationState]]:
    """(controller, state) of one sub-processor, within the selection."""
    entry = snapshot.subprocessors[subprocessor_id]
    return sorted((cid, state) for cid, state in entry.authorizations.items() if selection.has(cid))


@dataclass
class Change:
    revision: int
    resync: bool = False
    reference: bool = False
    controllers: list[str] = field(default_factory=list)
    removed_controllers: list[str] = field(default_factory=list)
    subprocessors: list[str] = field(default_factory=list)
    removed_subprocessors: list[str] = field(default_factory=list)


def _events(first: int, end: int) -> list[tuple[str | None, str]]:
    with db.database.connection_context():
        return audit.events_between(first, end)


def change(after: int, snapshot: Snapshot, selection: Selection) -> Change:
    """What a client at ``after`` replaces to reach ``snapshot.revision``."""
    result = Change(snapshot.revision)
    if snapshot.revision - after > FULL_REBUILD_GAP:
        result.resync = True
        return result
    plan = changefeed.touched(_events(after, snapshot.revision))
    if plan.everything:
        result.resync = True
        return result
    result.reference = plan.reference
    touched_controllers = sorted(c for c in plan.controllers if selection.has(c))
    for cid in touched_controllers:
        if cid in snapshot.controllers:
            result.controllers.append(cid)
        else:
            result.removed_controllers.append(cid)
    sps: Iterable[str] = plan.subprocessors
    if selection.tenant is not None and touched_controllers:
        # The controller itself changed: what it may see may have changed too.
        sps = set(sps) | set(snapshot.subprocessors)
    for sid in sorted(sps):
        if sid in snapshot.subprocessors and selection.visible(sid):
            if len(authorizations_for(snapshot, sid, selection)) > MAX_CHANGE_AUTHORIZATIONS:
                result.resync = True
                return result
            result.subprocessors.append(sid)
        else:
            result.removed_subprocessors.append(sid)
    return result


class HeldSnapshots:
    """Recent snapshots by revision, so every page of a load is served from
    the revision of its first page."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._held: OrderedDict[int, Snapshot] = OrderedDict()
        self._by_controller: dict[int, Mapping[str, list[tuple[str, AuthorizationState]]]] = {}

    def hold(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._held[snapshot.revision] = snapshot
            self._held.move_to_end(snapshot.revision)
            while len(self._held) > self._size:
                revision, _ = self._held.popitem(last=False)
                self._by_controller.pop(revision, None)

    def get(self, revision: int) -> Snapshot | None:
        with self._lock:
            found = self._held.get(revision)
            if found is not None:
                self._held.move_to_end(revision)
            return found

    def authorizations(
        self, snapshot: Snapshot
    ) -> Mapping[str, list[tuple[str, AuthorizationState]]]:
        """Controller id -> its explicit states, computed once per snapshot."""
        with self._lock:
            found = self._by_controller.get(snapshot.revision)
        if found is not None:
            return found
        index: dict[str, list[tuple[str, AuthorizationState]]] = {}
        for sid, entry in sorted(snapshot.subprocessors.items()):
            for cid, state in entry.authorizations.items():
                index.setdefault(cid, []).append((sid, state))
        with self._lock:
            if snapshot.revision in self._held:
                self._by_controller[snapshot.revision] = index
        return index
