"""The in-process snapshot CheckTransfer decides from, kept exactly in sync
with committed writes (docs/adr/0005-transfer-snapshot.md).

A :class:`Snapshot` is an immutable copy of everything
:func:`registry.transfers.decide.decide` needs: each controller's view (DPA
active, documented instructions), each sub-processor (locations, categories,
DPF status, safeguards, per-controller Art. 28(2) authorisations) and the
reference data (shipped file plus recorded changes). It carries the registry
revision it reflects: the audit log size, which every committed mutation
advances in the same transaction (docs/adr/0003).

:class:`SnapshotCache` serves the current snapshot. On every call it proves
freshness from the shared revision map (``registry.revision``, no query) or,
when the map cannot prove it, reads the committed revision with one
pre-built query (on PostgreSQL, one read shared by every check waiting for
it); if the log has grown, it reads the audit events in between as a
change feed and reloads only the entities they name, inside one read
transaction that also re-reads the revision, so the snapshot it publishes is
exactly the committed state at that revision. A check therefore never
answers from a state older than what was committed before it began, in this
process or any other on the same database. Readers never block: the lock is
held only to refresh, and snapshots are swapped whole. A check may ask for
less (``registry.consistency``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from dpa_decisions.state import SubprocessorEntry, decide_transfer, decide_usual
from dpa_decisions.taxonomy import Vocabulary
from dpa_decisions.transfer import Memo
from registry import changefeed, db
from registry.agreements import check as processing_check
from registry.agreements import terms
from registry.agreements.decision import Situation
from registry.agreements.types import DpaStanding
from registry.audit import store as audit
from registry.controllers import core as controllers
from registry.revision import HEAD_SQL, committed_reads
from registry.subprocessors import core as subprocessors
from registry.subprocessors import engagement
from registry.subprocessors.types import DpfStatus, Scope
from registry.transfers import adequacy, store
from registry.transfers.model import (
    AuthorizationState,
    ControllerView,
    Decision,
    Subprocessor,
    TransferRequest,
)
from registry.transfers.overrides import apply_changes
from registry.transfers.reference import Reference

log = logging.getLogger(__name__)

# A larger gap between snapshot and log is rebuilt from scratch.
FULL_REBUILD_GAP = 20_000
_CHUNK = 500

# Audit actions that never change what a transfer decision reads.
_IGNORED_ACTIONS = ("log.", "notification.", "breach.", "transfer.check")
# Resource collections whose processor-wide events never change a decision.
_IGNORED_COLLECTIONS = frozenset({"log", "breaches", "notifications", "dpaTemplates", "templates"})


_MEMO = Memo()
"""The per-sub-processor work of every snapshot's decisions: entries are
checked against the record and reference objects, so snapshots share it."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable; shared by every handler thread. Collections are never mutated."""

    revision: int
    reference: Reference
    controllers: Mapping[str, ControllerView]
    """Views without authorisations; those come from the sub-processor entry."""
    subprocessors: Mapping[str, SubprocessorEntry]
    situations: Mapping[str, Situation] = field(default_factory=dict)
    """What CheckProcessing reads, per registered controller (for the
    decision snapshots local checkers load: ``registry.decisions``)."""

    def decide(self, request: TransferRequest) -> Decision:
        """:func:`decide` on this snapshot's state; pure."""
        return decide_transfer(
            request, self.controllers, self.subprocessors, self.reference, self.revision, _MEMO
        )

    def usual(
        self,
        controller_id: str,
        subprocessor_id: str,
        categories: tuple[str, ...],
        purpose: str,
        on: date,
        vocabulary: Vocabulary,
    ) -> Decision | None:
        """The answer to the usual request (``dpa_decisions.state.decide_usual``),
        a sub-processor's with no one-off fields, when it is one, at once;
        None: build the request, validate it and :meth:`decide`."""
        return decide_usual(
            self.controllers,
            self.subprocessors,
            self.reference,
            vocabulary,
            self.revision,
            _MEMO,
            controller_id,
            subprocessor_id,
            categories,
            purpose,
            on,
        )


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


def load_controllers(ids: Collection[str] | None) -> dict[str, ControllerView]:
    """Views of the registered controllers among ``ids`` (every one if None),
    from the controller and DPA domains' read APIs."""
    existing = sorted(controllers.existing(ids))
    wanted = None if ids is None else existing
    standing = terms.standings(wanted)
    limits = terms.instruction_limits(wanted)
    views: dict[str, ControllerView] = {}
    for cid in existing:
        countries, categories = limits.get(cid, (None, None))
        st = standing.get(cid)
        active = st is not None and st.standing is DpaStanding.ACTIVE
        views[cid] = ControllerView(
            controller_id=cid,
            dpa_active=active,
            allowed_countries=countries,
            allowed_categories=categories,
            dpa_ended_version=st.version if st is not None and not active else None,
        )
    return views


def load_situations(ids: Collection[str] | None) -> dict[str, Situation]:
    """CheckProcessing's situation of each registered controller among ``ids``
    (every one if None), from the DPA domain's read API."""
    existing = sorted(controllers.existing(ids))
    found = (
        processing_check.all_situations() if ids is None else processing_check.situations(existing)
    )
    return {cid: found.get(cid) or Situation(cid, None) for cid in existing}


def _states(
    *, controllers: Collection[str] | None = None, subprocessors: Collection[str] | None = None
) -> list[tuple[str, str, AuthorizationState]]:
    return [
        (c, s, state)
        for c, s, state in engagement.explicit_states(
            controllers=controllers, subprocessors=subprocessors
        )
    ]


def load_subprocessors(
    ids: Collection[str] | None, *, for_controllers: Collection[str] | None = None
) -> dict[str, SubprocessorEntry]:
    """Entries for the sub-processors among ``ids`` (every one if None), with
    every controller's authorisations, or only those of ``for_controllers``."""
    safeguards = store.safeguards_of(ids)
    auth: dict[str, dict[str, AuthorizationState]] = {}
    states = (
        _states(subprocessors=ids)
        if for_controllers is None
        else [t for t in _states(controllers=for_controllers) if ids is None or t[1] in ids]
    )
    for cid, sid, state in states:
        auth.setdefault(sid, {})[cid] = state
    entries: dict[str, SubprocessorEntry] = {}
    for sp in subprocessors.records(ids):
        d = sp.details
        sid = sp.subprocessor_id
        record = Subprocessor(
            id=sid,
            name=d.display_name,
            status=sp.status,
            locations=d.locations,
            data_categories=d.data_categories,
            is_us_entity=d.country == "US",
            dpf_certified=d.dpf_status is DpfStatus.CERTIFIED,
            dpf_checked_on=d.dpf_checked_date,
            safeguards=tuple(safeguards.get(sid, ())),
        )
        entries[sid] = SubprocessorEntry(
            record=record, platform=d.scope is Scope.PLATFORM, authorizations=auth.get(sid, {})
        )
    return entries


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
    cursor.execute(HEAD_SQL)
    # fetchall, not fetchone: it runs the statement to its end. A statement
    # left unfinished keeps a SQLite read snapshot open on this connection,
    # which a later BEGIN would inherit (a stale read) and which blocks WAL
    # checkpoints.
    (row,) = cursor.fetchall()
    return int(row[0])


def committed_revision() -> int:
    """The committed revision, for a freshness check outside any transaction:
    on PostgreSQL one shared read serves every check waiting for it
    (``registry.revision.CommittedReads``), elsewhere ``read_revision``."""
    reads = committed_reads()
    return reads.committed() if reads is not None else read_revision()


def build(base: Reference) -> Snapshot:
    """A full snapshot at the current revision."""
    with _read_transaction():
        revision = read_revision()
        return Snapshot(
            revision=revision,
            reference=apply_changes(base, adequacy.recorded_changes()),
            controllers=load_controllers(None),
            subprocessors=load_subprocessors(None),
            situations=load_situations(None),
        )


def build_slice(
    base: Reference, controller_id: str | None, subprocessor_id: str | None
) -> Snapshot:
    """The part of a full snapshot at the current revision that one check
    reads: the reference data, one controller's view and one sub-processor
    with that controller's authorisation (absent when not registered). A
    handful of indexed reads, whatever the registry's size; it decides
    exactly as the full snapshot at the same revision would. It holds no
    processing situations (CheckTransfer does not read them) and is never
    published as the cache's snapshot."""
    with _read_transaction():
        cids = [controller_id] if controller_id else []
        sids = [subprocessor_id] if subprocessor_id else []
        return Snapshot(
            revision=read_revision(),
            reference=apply_changes(base, adequacy.recorded_changes()),
            controllers=load_controllers(cids) if cids else {},
            subprocessors=load_subprocessors(sids, for_controllers=cids) if sids else {},
        )


def advance(old: Snapshot, base: Reference) -> Snapshot:
    """``old`` brought forward to the current revision, incrementally."""
    return advance_or_none(old, base) or build(base)


def advance_or_none(old: Snapshot, base: Reference) -> Snapshot | None:
    """``old`` brought forward incrementally; None when only a full rebuild
    can (a gap too long, the log shorter, a change the feed cannot map)."""
    with _read_transaction():
        revision = read_revision()
        if revision == old.revision:
            return old
        if revision < old.revision or revision - old.revision > FULL_REBUILD_GAP:
            return None
        plan = changefeed.touched(audit.events_between(old.revision, revision))
        if plan.everything:
            return None
        reference = old.reference
        if plan.reference:
            reference = apply_changes(base, adequacy.recorded_changes())
        entries: Mapping[str, SubprocessorEntry] = old.subprocessors
        if plan.subprocessors:
            fresh = load_subprocessors(plan.subprocessors)
            merged = dict(old.subprocessors)
            for sid in plan.subprocessors:
                if sid in fresh:
                    merged[sid] = fresh[sid]
                else:
                    merged.pop(sid, None)
            entries = merged
        views_now: Mapping[str, ControllerView] = old.controllers
        situations_now: Mapping[str, Situation] = old.situations
        if plan.controllers:
            found = load_situations(plan.controllers)
            merged_situations = dict(old.situations)
            for cid in plan.controllers:
                if cid in found:
                    merged_situations[cid] = found[cid]
                else:
                    merged_situations.pop(cid, None)
            situations_now = merged_situations
            views = load_controllers(plan.controllers)
            merged_views = dict(old.controllers)
            for cid in plan.controllers:
                if cid in views:
                    merged_views[cid] = views[cid]
                else:
                    merged_views.pop(cid, None)
            views_now = merged_views
            entries = _with_authorizations(entries, plan.controllers)
        return Snapshot(revision, reference, views_now, entries, situations_now)


def _with_authorizations(
    entries: Mapping[str, SubprocessorEntry], controller_ids: set[str]
) -> Mapping[str, SubprocessorEntry]:
    """Replaces the named controllers' authorisation states in every entry."""
    by_sp: dict[str, dict[str, AuthorizationState]] = {}
    for cid, sid, state in _states(controllers=controller_ids):
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
