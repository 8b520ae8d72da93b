"""gRPC servicer for DecisionSnapshotService: decision snapshots and their
change stream, for local checkers (docs/local-checker.md).

``WatchDecisionChanges`` is served twice: on the stream host (docs/adr/0019)
as :class:`DecisionStreams`, an async generator woken by the process's
:mod:`registry.decisions.hub`; and on the main port, bounded, as the plain
generator :func:`changes`, driven by one primitive,
:meth:`registry.revision_wait.RevisionWatch.wait_beyond`, a thread each.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc

from dpa_decisions.state import SubprocessorEntry
from dpa_registry_api.v1 import agreements_pb2 as apb
from dpa_registry_api.v1 import decisions_pb2 as pb
from dpa_registry_api.v1 import decisions_pb2_grpc as pb_grpc
from dpa_registry_api.v1 import subprocessors_pb2 as spb
from dpa_registry_api.v1 import transfers_pb2 as tpb
from registry import auth, consistency, db, paging, taxonomy
from registry.agreements.decision import AgreementScope, InstructionScope, Situation
from registry.decisions import feed, hub
from registry.decisions.feed import Selection
from registry.errors import Aborted, InvalidArgument, Unavailable
from registry.revision_wait import RevisionWatch, watch_for
from registry.streams.fanout import Full
from registry.transfers.cache import SnapshotCache, shared_cache
from registry.transfers.model import AuthorizationState, ControllerView, SubprocessorStatus
from registry.transfers.reference import Reference
from registry.transfers.servicer import adequacy_to_proto, safeguard_message
from registry.transfers.snapshot import Snapshot, read_revision

DEFAULT_PAGE = 1000
MAX_PAGE = 5000
DEFAULT_HEARTBEAT_MS = 1000
MIN_HEARTBEAT_MS = 50
MAX_HEARTBEAT_MS = 60_000

_STATE = {
    s: spb.SubprocessorAuthorizationState.Value(f"SUBPROCESSOR_AUTHORIZATION_STATE_{s.name}")
    for s in AuthorizationState
}
_STATUS = {
    s: spb.SubprocessorStatus.Value(f"SUBPROCESSOR_STATUS_{s.name}") for s in SubprocessorStatus
}


def _operation(name: str) -> apb.ProcessingOperation.ValueType:
    return apb.ProcessingOperation.Value(f"PROCESSING_OPERATION_{name}")


def _scope(
    scope: AgreementScope | InstructionScope | None,
) -> pb.DecisionScope | None:
    if scope is None:
        return None
    if isinstance(scope, AgreementScope):
        return pb.DecisionScope(
            version=scope.version,
            purposes=scope.purposes,
            data_categories=scope.data_categories,
            data_subjects=scope.data_subjects,
            operations=[_operation(o.value) for o in sorted(scope.nature, key=lambda o: o.value)],
        )
    return pb.DecisionScope(
        version=scope.version,
        purposes=scope.purposes,
        data_categories=scope.data_categories,
        data_subjects=scope.data_subjects,
        operations=[_operation(o.value) for o in sorted(scope.operations, key=lambda o: o.value)],
        countries=sorted(scope.countries),
        flagged=scope.flagged,
    )


def _authorizations(
    pairs: list[tuple[str, str, AuthorizationState]],
) -> list[pb.DecisionAuthorization]:
    return [
        pb.DecisionAuthorization(controller_id=c, subprocessor_id=s, state=_STATE[state])
        for c, s, state in pairs
    ]


def controller_to_proto(
    view: ControllerView,
    situation: Situation,
    authorizations: list[tuple[str, AuthorizationState]],
) -> pb.DecisionController:
    cid = view.controller_id
    return pb.DecisionController(
        controller_id=cid,
        dpa_active=view.dpa_active,
        dpa_ended_version=view.dpa_ended_version or 0,
        instructed=view.allowed_countries is not None or view.allowed_categories is not None,
        allowed_countries=view.allowed_countries or (),
        allowed_categories=view.allowed_categories or (),
        allowed_derogations=[
            tpb.Art49Ground.Value(f"ART49_GROUND_{g.name}")
            for g in sorted(view.allowed_derogations, key=lambda g: g.value)
        ],
        agreement=_scope(situation.agreement),
        ended_version=situation.ended_version or 0,
        instruction=_scope(situation.instruction),
        authorizations=_authorizations([(cid, s, state) for s, state in authorizations]),
    )


def subprocessor_to_proto(
    entry: SubprocessorEntry, authorizations: list[tuple[str, AuthorizationState]] | None
) -> pb.DecisionSubprocessor:
    r = entry.record
    sid = r.id
    return pb.DecisionSubprocessor(
        subprocessor_id=sid,
        display_name=r.name,
        status=_STATUS[r.status],
        locations=r.locations,
        data_categories=r.data_categories,
        us_entity=r.is_us_entity,
        dpf_certified=r.dpf_certified,
        dpf_checked_date=r.dpf_checked_on.isoformat() if r.dpf_checked_on else "",
        safeguards=[safeguard_message(sg) for sg in r.safeguards],
        sector=tpb.RecipientSector.Value(f"RECIPIENT_SECTOR_{r.sector.name}"),
        platform=entry.platform,
        authorizations=_authorizations([(c, sid, state) for c, state in authorizations or ()]),
    )


def reference_to_proto(reference: Reference) -> pb.DecisionReference:
    return pb.DecisionReference(
        reviewed_date=reference.reviewed.isoformat(),
        eea=sorted(reference.eea),
        adequacy=[
            adequacy_to_proto(reference.adequacy[c], False) for c in sorted(reference.adequacy)
        ],
        international_organisations=sorted(reference.international_organisations),
        iso_countries=sorted(reference.iso_countries),
        scc_current=tpb.SccDecision.Value(f"SCC_DECISION_{reference.scc_current.name}"),
        scc_repealed=[
            tpb.SccDecision.Value(f"SCC_DECISION_{d.name}")
            for d in sorted(reference.scc_repealed, key=lambda d: d.value)
        ],
        scc_no_new_contracts_from=reference.scc_no_new_contracts_from.isoformat(),
        scc_invalid_from=reference.scc_invalid_from.isoformat(),
        dpf_max_age_days=reference.dpf_max_age_days,
    )


def vocabulary_to_proto() -> pb.DecisionVocabulary:
    v = taxonomy.vocabulary()
    return pb.DecisionVocabulary(
        data_categories=sorted(v.data_categories),
        data_uses=sorted(v.data_uses),
        data_subjects=sorted(v.data_subjects),
    )


def _controller(snapshot: Snapshot, cid: str) -> pb.DecisionController:
    return controller_to_proto(
        snapshot.controllers[cid],
        snapshot.situations.get(cid) or Situation(cid, None),
        feed.authorizations_of(snapshot, cid),
    )


def change_to_proto(
    change: feed.Change, snapshot: Snapshot, selection: Selection
) -> pb.DecisionChange:
    if change.resync:
        return pb.DecisionChange(revision=change.revision, resync=True)
    return pb.DecisionChange(
        revision=change.revision,
        reference=reference_to_proto(snapshot.reference) if change.reference else None,
        controllers=[_controller(snapshot, cid) for cid in change.controllers],
        removed_controllers=change.removed_controllers,
        subprocessors=[
            subprocessor_to_proto(
                snapshot.subprocessors[sid], feed.authorizations_for(snapshot, sid, selection)
            )
            for sid in change.subprocessors
        ],
        removed_subprocessors=change.removed_subprocessors,
    )


def changes(
    after: int,
    heartbeat_seconds: float,
    current: Callable[[], Snapshot],
    watch: RevisionWatch,
    active: Callable[[], bool],
    build: Callable[[int, Snapshot], pb.DecisionChange],
) -> Iterator[pb.DecisionChange]:
    """The change stream after revision ``after``: a plain generator.

    Each message brings a client at the previous message's revision to the
    message's revision (no gap: the audit events in between name everything
    touched; no duplicate: the cursor only moves forward). While the
    committed revision stays at the cursor, a heartbeat names it.
    ``build(cursor, snapshot)`` makes the change message (:class:`SharedChanges`).
    """
    cursor = after
    snapshot = current()
    consistency.require_reached(
        consistency.Requirement(consistency.Mode.AT_LEAST, after), snapshot.revision
    )
    while active():
        if snapshot.revision > cursor:
            yield build(cursor, snapshot)
            cursor = snapshot.revision
        committed = watch.wait_beyond(cursor, heartbeat_seconds)
        if committed > cursor:
            snapshot = current()
        elif committed == cursor and active():
            # Proved current: the watch read the committed revision this interval.
            yield pb.DecisionChange(revision=cursor, heartbeat=True)


class SharedChanges:
    """Change messages built once per (from, to, selection) and shared: the
    checkers at one revision all move to the next together, so a write
    followed by a hundred streams costs one change computation, not a hundred."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._built: OrderedDict[tuple[int, int, str, str | None], pb.DecisionChange] = (
            OrderedDict()
        )

    def get(self, after: int, snapshot: Snapshot, selection: Selection) -> pb.DecisionChange:
        key = (after, snapshot.revision, selection.key, selection.tenant)
        with self._lock:  # the first stream builds; the others wait and share
            found = self._built.get(key)
            if found is None:
                found = change_to_proto(
                    feed.change(after, snapshot, selection), snapshot, selection
                )
                self._built[key] = found
                while len(self._built) > self._size:
                    self._built.popitem(last=False)
            return found


class DecisionSnapshotService(pb_grpc.DecisionSnapshotServiceServicer):
    def __init__(self, cache: SnapshotCache | None = None) -> None:
        self._cache = cache
        self._held = feed.HeldSnapshots()
        self._changes = SharedChanges()

    @property
    def cache(self) -> SnapshotCache:
        return self._cache or shared_cache()

    def LoadDecisionSnapshot(
        self, request: pb.LoadDecisionSnapshotRequest, context: grpc.ServicerContext
    ) -> pb.DecisionSnapshotPage:
        selection = feed.select(auth.current_caller(), request.controller_ids)
        if request.page_size < 0:
            raise InvalidArgument.one("page_size", "must not be negative")
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        scope = f"decisionSnapshot:{selection.key}"
        first = not request.page_token
        if first:
            snapshot = self.cache.current()
            self._held.hold(snapshot)
            after = ""
        else:
            cursor = paging.decode(scope, request.page_token)
            revision_text, _, after = cursor.partition("/")
            found = self._held.get(int(revision_text))
            if found is None:
                raise Aborted(
                    f"the snapshot at revision {revision_text} is no longer held; "
                    "load again from the first page"
                )
            snapshot = found
        wanted = (
            sorted(snapshot.controllers)
            if selection.controllers is None
            else sorted(c for c in selection.controllers if c in snapshot.controllers)
        )
        ids = [c for c in wanted if c > after][:size]
        index = self._held.authorizations(snapshot)
        page = pb.DecisionSnapshotPage(
            revision=snapshot.revision,
            controllers=[
                controller_to_proto(
                    snapshot.controllers[cid],
                    snapshot.situations.get(cid) or Situation(cid, None),
                    index.get(cid, []),
                )
                for cid in ids
            ],
            next_page_token=paging.encode(scope, f"{snapshot.revision}/{ids[-1]}")
            if len(ids) == size
            else "",
        )
        if first:
            page.reference.CopyFrom(reference_to_proto(snapshot.reference))
            page.vocabulary.CopyFrom(vocabulary_to_proto())
            page.subprocessors.extend(
                subprocessor_to_proto(entry, None)
                for sid, entry in sorted(snapshot.subprocessors.items())
                if selection.visible(sid)
            )
        return page

    def WatchDecisionChanges(
        self, request: pb.WatchDecisionChangesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DecisionChange]:
        selection, after, heartbeat = watch_arguments(request)
        the_hub = hub.current()
        cache = self.cache

        def current() -> Snapshot:
            try:
                return cache.current()
            finally:
                db.release()  # a stream holds no pooled connection while it waits

        stream = changes(
            after,
            heartbeat,
            current,
            watch_for(read_revision),
            context.is_active,
            lambda after, snapshot: self._changes.get(after, snapshot, selection),
        )
        if the_hub is None:
            return stream
        return _counted(stream, the_hub)


def _counted(
    stream: Iterator[pb.DecisionChange], the_hub: hub.DecisionHub
) -> Iterator[pb.DecisionChange]:
    """``stream``, counted against the main port's bound (a thread each)."""
    the_hub.enter_main()
    try:
        yield from stream
    finally:
        the_hub.leave_main()


def watch_arguments(request: pb.WatchDecisionChangesRequest) -> tuple[Selection, int, float]:
    """The selection, the cursor and the heartbeat (s) of a change-stream request."""
    selection = feed.select(auth.current_caller(), request.controller_ids)
    if request.after_revision < 0:
        raise InvalidArgument.one("after_revision", "must not be negative")
    millis = request.heartbeat_millis or DEFAULT_HEARTBEAT_MS
    if not MIN_HEARTBEAT_MS <= millis <= MAX_HEARTBEAT_MS:
        raise InvalidArgument.one(
            "heartbeat_millis", f"must be between {MIN_HEARTBEAT_MS} and {MAX_HEARTBEAT_MS}"
        )
    return selection, request.after_revision, millis / 1000


Blocking = Callable[..., Awaitable[Any]]


def _current_snapshot() -> Snapshot:
    """On one of the stream host's I/O threads."""
    try:
        return shared_cache().current()
    finally:
        db.release()


class DecisionStreams:
    """``WatchDecisionChanges`` on the stream host (docs/adr/0019): the same
    messages as on the main port, as an async generator that holds no
    thread. The process's :class:`hub.DecisionHub` wakes it when the
    committed revision moves; between wakes it sleeps on its mailbox."""

    def __init__(self, blocking: Blocking) -> None:
        self._blocking = blocking
        self._changes = SharedChanges()  # this server's: one database

    async def WatchDecisionChanges(
        self,
        request: pb.WatchDecisionChangesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.DecisionChange]:
        selection, cursor, heartbeat = watch_arguments(request)
        the_hub = hub.current()
        streams = the_hub.streams if the_hub is not None else None
        if the_hub is None or streams is None:
            raise Unavailable("decision-change streams are not hosted on this port")
        try:
            # Subscribed before the first read: a commit after it wakes us.
            mailbox = streams.subscribe(selection.key)
        except Full as err:
            raise hub.exhausted(streams, err) from None
        try:
            snapshot: Snapshot = await self._blocking(_current_snapshot)
            consistency.require_reached(
                consistency.Requirement(consistency.Mode.AT_LEAST, cursor), snapshot.revision
            )
            while not mailbox.closed:
                if snapshot.revision > cursor:
                    change: pb.DecisionChange = await self._blocking(
                        self._changes.get, cursor, snapshot, selection
                    )
                    yield change
                    cursor = snapshot.revision
                _, stale = await mailbox.take(heartbeat)  # woken, closed or the heartbeat
                if stale or the_hub.known > cursor:
                    snapshot = await self._blocking(_current_snapshot)
                elif the_hub.alive(heartbeat):
                    # Proved current: the hub read the committed revision lately.
                    yield pb.DecisionChange(revision=cursor, heartbeat=True)
        finally:
            streams.unsubscribe(mailbox)


def watch_handler(blocking: Blocking) -> grpc.RpcMethodHandler[Any, Any]:
    """``WatchDecisionChanges`` as the stream host serves it."""
    return grpc.unary_stream_rpc_method_handler(
        DecisionStreams(blocking).WatchDecisionChanges,
        request_deserializer=pb.WatchDecisionChangesRequest.FromString,
        response_serializer=pb.DecisionChange.SerializeToString,
    )
