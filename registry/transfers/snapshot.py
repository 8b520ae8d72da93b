"""The in-process snapshot CheckTransfer decides from, kept exactly in sync
with committed writes (docs/adr/0005-transfer-snapshot.md).

A :class:`Snapshot` is an immutable copy of everything
:func:`registry.transfers.decide.decide` needs: each controller's view (DPA
active, documented instructions), each sub-processor (locations, categories,
DPF status, safeguards, per-controller Art. 28(2) authorisations) and the
reference data (shipped file plus recorded changes). It carries the registry
revision it reflects: the audit log size, which every committed mutation
advances in the same transaction (docs/adr/0003).

:class:`SnapshotCache` serves the current snapshot. On every call it reads
the committed revision with one pre-built query; if the log has grown, it
reads the audit events in between as a change feed and reloads only the
entities they name, inside one read transaction that also re-reads the
revision, so the snapshot it publishes is exactly the committed state at that
revision. A check therefore never answers from a state older than what was
committed before it began, in this process or any other on the same
database. Readers never block: the lock is held only to refresh, and
snapshots are swapped whole.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast

from registry import db
from registry.transfers import store
from registry.transfers.decide import decide
from registry.transfers.model import (
    AuthorizationState,
    ControllerView,
    Decision,
    Subprocessor,
    SubprocessorStatus,
    TransferRequest,
)
from registry.transfers.overrides import apply_changes
from registry.transfers.reference import Reference, default_reference

log = logging.getLogger(__name__)

# A larger gap between snapshot and log is rebuilt from scratch.
FULL_REBUILD_GAP = 20_000
# Answers kept per snapshot (the same state gives the same answer).
MEMO_LIMIT = 200_000
_CHUNK = 500
_HEAD_SQL = "SELECT size FROM log_head WHERE id = 1"

# Audit actions that never change what a transfer decision reads.
_IGNORED_ACTIONS = ("log.", "notification.", "breach.", "transfer.check")
# Resource collections whose processor-wide events never change a decision.
_IGNORED_COLLECTIONS = frozenset({"log", "breaches", "notifications", "dpaTemplates", "templates"})


@dataclass(frozen=True, slots=True)
class SubprocessorEntry:
    record: Subprocessor
    platform: bool
    """Engaged for every controller (scope PLATFORM)."""
    authorizations: Mapping[str, AuthorizationState]
    """Explicit per-controller states (controller id -> state)."""

    def state_for(self, controller_id: str) -> AuthorizationState | None:
        """As ``registry.subprocessors.annex.engaged_states``: an explicit row
        wins; a platform-wide ACTIVE sub-processor without one is AUTHORIZED
        by the controller's signed DPA annex."""
        explicit = self.authorizations.get(controller_id)
        if explicit is not None:
            return explicit
        if self.platform and self.record.status is SubprocessorStatus.ACTIVE:
            return AuthorizationState.AUTHORIZED
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable; shared by every handler thread. Collections are never mutated."""

    revision: int
    reference: Reference
    controllers: Mapping[str, ControllerView]
    """Views without authorisations; those come from the sub-processor entry."""
    subprocessors: Mapping[str, SubprocessorEntry]
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)
    """Answers already given at this revision, by request (see ``remember``)."""

    def remember(self, key: Any, answer: Any) -> None:
        """Keeps an answer for this exact state; bounded, dropped with the snapshot."""
        if len(self.memo) < MEMO_LIMIT:
            self.memo[key] = answer

    def decide(self, request: TransferRequest) -> Decision:
        """:func:`decide` on this snapshot's state; pure."""
        controller = self.controllers.get(request.controller_id)
        sp_id = request.subprocessor_id
        entry = self.subprocessors.get(sp_id) if sp_id else None
        if controller is not None and entry is not None and sp_id:
            state = entry.state_for(controller.controller_id)
            controller = ControllerView(
                controller.controller_id,
                controller.dpa_active,
                controller.allowed_countries,
                controller.allowed_categories,
                {sp_id: state} if state is not None else {},
                controller.allowed_derogations,
            )
        record = entry.record if entry is not None else None
        return decide(request, controller, record, self.reference, self.revision)


# --- loading (I/O) ---------------------------------------------------------


def _rows(query: Any) -> Iterable[tuple[Any, ...]]:
    """A peewee ``.tuples()`` query, typed as what it yields."""
    return cast("Iterable[tuple[Any, ...]]", query)


def _in_chunks(ids: Collection[str] | None) -> Iterable[list[str] | None]:
    if ids is None:
        yield None
        return
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        yield wanted[i : i + _CHUNK]


def _instruction_limits(
    ids: Collection[str] | None,
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Controller id -> (countries, data categories) of its current documented
    instructions (Art. 28(3)(a)); controllers without one are absent."""
    from registry.agreements.model import AgreementLine, InstructionRow  # noqa: PLC0415

    result: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for chunk in _in_chunks(ids):
        query = (
            InstructionRow.select(InstructionRow.controller_id, InstructionRow.body)
            .join(
                AgreementLine,
                on=(
                    (AgreementLine.controller_id == InstructionRow.controller_id)
                    & (AgreementLine.instruction_version == InstructionRow.version)
                ),
            )
            .tuples()
        )
        if chunk is not None:
            query = query.where(InstructionRow.controller_id.in_(chunk))
        for controller_id, body in _rows(query):
            content: dict[str, Any] = json.loads(body) if body else {}
            result[controller_id] = (
                tuple(content.get("countries") or ()),
                tuple(content.get("data_categories") or ()),
            )
    return result


def load_controllers(ids: Collection[str] | None) -> dict[str, ControllerView]:
    """Views of the registered controllers among ``ids`` (every one if None)."""
    from registry.agreements.terms import active_terms  # noqa: PLC0415 - read only
    from registry.controllers.core import ControllerRow  # noqa: PLC0415

    existing: list[str] = []
    for chunk in _in_chunks(ids):
        query = ControllerRow.select(ControllerRow.controller_id).tuples()
        if chunk is not None:
            query = query.where(ControllerRow.controller_id.in_(chunk))
        existing.extend(cid for (cid,) in _rows(query))
    active = active_terms(None if ids is None else existing)
    limits = _instruction_limits(None if ids is None else existing)
    views: dict[str, ControllerView] = {}
    for cid in existing:
        countries, categories = limits.get(cid, (None, None))
        views[cid] = ControllerView(
            controller_id=cid,
            dpa_active=cid in active,
            allowed_countries=countries,
            allowed_categories=categories,
        )
    return views


def _authorizations(
    *, controllers: Collection[str] | None = None, subprocessors: Collection[str] | None = None
) -> list[tuple[str, str, AuthorizationState]]:
    from registry.subprocessors.model import AuthorizationRow  # noqa: PLC0415 - read only

    rows: list[tuple[str, str, AuthorizationState]] = []
    column = (
        AuthorizationRow.controller_id
        if controllers is not None
        else (AuthorizationRow.subprocessor_id)
    )
    ids = controllers if controllers is not None else subprocessors
    for chunk in _in_chunks(ids):
        query = AuthorizationRow.select(
            AuthorizationRow.controller_id, AuthorizationRow.subprocessor_id, AuthorizationRow.state
        ).tuples()
        if chunk is not None:
            query = query.where(column.in_(chunk))
        rows.extend((c, s, AuthorizationState(state.lower())) for c, s, state in _rows(query))
    return rows


def load_subprocessors(ids: Collection[str] | None) -> dict[str, SubprocessorEntry]:
    """Entries for the sub-processors among ``ids`` (every one if None)."""
    from registry.subprocessors.model import (  # noqa: PLC0415 - read only
        DpfStatus,
        Scope,
        SubprocessorRow,
    )

    safeguards = store.safeguards_of(ids)
    auth: dict[str, dict[str, AuthorizationState]] = {}
    for cid, sid, state in _authorizations(subprocessors=ids if ids is not None else None):
        auth.setdefault(sid, {})[cid] = state
    entries: dict[str, SubprocessorEntry] = {}
    S = SubprocessorRow
    for chunk in _in_chunks(ids):
        query = S.select(
            S.subprocessor_id,
            S.display_name,
            S.status,
            S.scope,
            S.country,
            S.locations,
            S.data_categories,
            S.dpf_status,
            S.dpf_checked_date,
        ).tuples()
        if chunk is not None:
            query = query.where(S.subprocessor_id.in_(chunk))
        for sid, name, status, scope, country, locations, categories, dpf, checked in _rows(query):
            record = Subprocessor(
                id=sid,
                name=name,
                status=SubprocessorStatus(status.lower()),
                locations=tuple(c for c in locations.split(",") if c),
                data_categories=tuple(c for c in categories.split("\n") if c),
                is_us_entity=country == "US",
                dpf_certified=dpf == DpfStatus.CERTIFIED.value,
                dpf_checked_on=checked,
                safeguards=tuple(safeguards.get(sid, ())),
            )
            entries[sid] = SubprocessorEntry(
                record=record,
                platform=scope == Scope.PLATFORM.value,
                authorizations=auth.get(sid, {}),
            )
    return entries


def _notice_subprocessors(notice_ids: Collection[str]) -> set[str]:
    from registry.subprocessors.model import NoticeRow  # noqa: PLC0415 - read only

    found: set[str] = set()
    for chunk in _in_chunks(notice_ids):
        query = NoticeRow.select(NoticeRow.subprocessor_id, NoticeRow.replaced_id).where(
            NoticeRow.notice_id.in_(chunk or [])
        )
        for sid, replaced in _rows(query.tuples()):
            found.add(sid)
            if replaced:
                found.add(replaced)
    return found


@dataclass
class _Plan:
    """What a run of audit events requires reloading."""

    controllers: set[str] = field(default_factory=set)
    subprocessors: set[str] = field(default_factory=set)
    notices: set[str] = field(default_factory=set)
    reference: bool = False
    full: bool = False

    def add(self, tenant: str | None, action: str, resource: str) -> None:
        if action.startswith(_IGNORED_ACTIONS):
            return
        parts = resource.split("/")
        collection = parts[0]
        ident = parts[1] if len(parts) > 1 else ""
        if tenant:
            # Anything about one controller: its view and its authorisations.
            self.controllers.add(tenant)
        if collection == "controllers" and ident:
            self.controllers.add(ident)
        elif collection == "subprocessors" and ident:
            self.subprocessors.add(ident)
        elif collection == "changeNotices" and ident:
            if not tenant:
                # Processor-wide notice events (propose, effective) change the
                # sub-processors' status and many controllers' authorisations.
                self.notices.add(ident)
        elif collection == "adequacyDecisions":
            self.reference = True
        elif not tenant and collection not in _IGNORED_COLLECTIONS:
            log.warning(
                "transfer snapshot: unrecognised processor-wide change %s on %s; rebuilding",
                action,
                resource,
            )
            self.full = True


def _read_transaction() -> AbstractContextManager[Any]:
    """One consistent read snapshot: REPEATABLE READ on PostgreSQL, a deferred
    (WAL snapshot) transaction on SQLite; neither takes a write lock."""
    if db.is_postgres():
        return db.database.atomic(isolation_level="REPEATABLE READ")
    return db.database.atomic(lock_type="DEFERRED")


_cursors = threading.local()


def read_revision() -> int:
    """The committed registry revision (audit log size): one pre-built
    statement on this thread's connection (its cursor kept), outside any
    transaction, so it sees every commit made before it ran."""
    conn = db.database.connection()
    cursor = getattr(_cursors, "cursor", None)
    if cursor is None or getattr(_cursors, "conn", None) is not conn:
        cursor = conn.cursor()
        _cursors.cursor, _cursors.conn = cursor, conn
    cursor.execute(_HEAD_SQL)
    return int(cursor.fetchone()[0])


def build(base: Reference) -> Snapshot:
    """A full snapshot at the current revision."""
    with _read_transaction():
        revision = read_revision()
        return Snapshot(
            revision=revision,
            reference=apply_changes(base, store.recorded_changes()),
            controllers=load_controllers(None),
            subprocessors=load_subprocessors(None),
        )


def advance(old: Snapshot, base: Reference) -> Snapshot:
    """``old`` brought forward to the current revision, incrementally."""
    from registry.audit.store import AuditEvent  # noqa: PLC0415

    with _read_transaction():
        revision = read_revision()
        if revision == old.revision:
            return old
        if revision < old.revision or revision - old.revision > FULL_REBUILD_GAP:
            return build(base)
        plan = _Plan()
        events = (
            AuditEvent.select(AuditEvent.tenant, AuditEvent.action, AuditEvent.resource)
            .where((AuditEvent.seq >= old.revision) & (AuditEvent.seq < revision))
            .tuples()
        )
        for tenant, action, resource in _rows(events):
            plan.add(tenant, action, resource)
            if plan.full:
                return build(base)
        if plan.notices:
            plan.subprocessors |= _notice_subprocessors(plan.notices)
        reference = old.reference
        if plan.reference:
            reference = apply_changes(base, store.recorded_changes())
        subprocessors: Mapping[str, SubprocessorEntry] = old.subprocessors
        if plan.subprocessors:
            fresh = load_subprocessors(plan.subprocessors)
            merged = dict(old.subprocessors)
            for sid in plan.subprocessors:
                if sid in fresh:
                    merged[sid] = fresh[sid]
                else:
                    merged.pop(sid, None)
            subprocessors = merged
        controllers: Mapping[str, ControllerView] = old.controllers
        if plan.controllers:
            views = load_controllers(plan.controllers)
            merged_views = dict(old.controllers)
            for cid in plan.controllers:
                if cid in views:
                    merged_views[cid] = views[cid]
                else:
                    merged_views.pop(cid, None)
            controllers = merged_views
            subprocessors = _with_authorizations(subprocessors, plan.controllers)
        return Snapshot(revision, reference, controllers, subprocessors)


def _with_authorizations(
    entries: Mapping[str, SubprocessorEntry], controller_ids: set[str]
) -> Mapping[str, SubprocessorEntry]:
    """Replaces the named controllers' authorisation states in every entry."""
    by_sp: dict[str, dict[str, AuthorizationState]] = {}
    for cid, sid, state in _authorizations(controllers=controller_ids):
        by_sp.setdefault(sid, {})[cid] = state
    result: dict[str, SubprocessorEntry] | None = None
    for sid, entry in entries.items():
        fresh = by_sp.get(sid, {})
        current = entry.authorizations
        if all(current.get(cid) == fresh.get(cid) for cid in controller_ids):
            continue
        updated = dict(current)
        for cid in controller_ids:
            new_state = fresh.get(cid)
            if new_state is None:
                updated.pop(cid, None)
            else:
                updated[cid] = new_state
        if result is None:
            result = dict(entries)
        result[sid] = SubprocessorEntry(entry.record, entry.platform, updated)
    return entries if result is None else result


class SnapshotCache:
    """The current snapshot, refreshed on demand; one per server process."""

    def __init__(
        self,
        base: Reference | None = None,
        revision: Callable[[], int] = read_revision,
    ) -> None:
        self._base = base or default_reference()
        self._revision = revision
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self.refreshes = 0

    @property
    def base(self) -> Reference:
        return self._base

    def current(self) -> Snapshot:
        """A snapshot at least as new as the revision committed when called."""
        committed = self._revision()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.revision >= committed:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and snapshot.revision >= committed:
                return snapshot  # another thread brought it forward meanwhile
            snapshot = build(self._base) if snapshot is None else advance(snapshot, self._base)
            self._snapshot = snapshot
            self.refreshes += 1
            # The snapshot lives long and holds ~10 objects per controller:
            # keep the cyclic collector from rescanning them (pauses of tens
            # of ms at 100,000 controllers). Reference counting frees them.
            gc.freeze()
            return snapshot

    def peek(self) -> Snapshot | None:
        return self._snapshot
