"""``LocalChecker``: CheckTransfer and CheckProcessing in the caller's process.

It loads the registry's decision snapshot (every controller, or a chosen
set, as of one revision), keeps it exactly in step with the registry through
a stream of changes that resumes by revision (no gap, no duplicate; it
reconnects by itself), and answers with the very code the server decides
with (``dpa_decisions``). Every answer names the revision it was decided at.

Never silently stale:

* ``min_revision=R`` (a write's ``last_receipt.revision``) waits up to
  ``min_revision_wait`` seconds for the snapshot to reach R, then asks the
  server (``at_least_revision=R``);
* when the registry has not been heard from (a change or a heartbeat) for
  ``max_staleness`` seconds, the checker does not answer locally: with
  ``on_stale="refuse"`` (the default) it raises :class:`dpa_client.errors.StaleSnapshot`
  saying why; with ``on_stale="rpc"`` it asks the server instead.

docs/local-checker.md has a worked example.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import grpc

from dpa_client import errors
from dpa_client._base import translate
from dpa_client._checks import (
    DecisionReceipt,
    ProcessingDecision,
    TransferDecision,
    processing_decision,
    transfer_decision,
)
from dpa_client._local_wire import (
    Violations,
    authorizations,
    controller,
    operation,
    parse_day,
    reference,
    subprocessor,
    transfer_request,
    vocabulary,
)
from dpa_client._transfers import transfer_request_message
from dpa_client.types.transfers import Safeguard
from dpa_decisions import processing, transfer
from dpa_decisions.common import RESOURCE_ID, AuthorizationState
from dpa_decisions.processing import ProcessingRequest, Situation
from dpa_decisions.reference import Reference
from dpa_decisions.state import SubprocessorEntry, decide_transfer, decide_usual
from dpa_decisions.taxonomy import Vocabulary
from dpa_decisions.transfer import Memo
from dpa_decisions.transfer_types import ControllerView, subprocessor_request
from dpa_registry_api.v1 import agreements_pb2 as apb
from dpa_registry_api.v1 import decisions_pb2 as pb
from dpa_registry_api.v1 import decisions_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from dpa_client.client import RegistryClient

log = logging.getLogger(__name__)

_Answer = TypeVar("_Answer", TransferDecision, ProcessingDecision)

MEMO_LIMIT = 100_000
"""Answers remembered per revision (the same request on the same state gets
the same answer); the memo is dropped whenever the revision moves."""

_DOOR_SLOTS = 1 << 18
"""The memo's doorkeeper (TinyLFU's): one byte per slot, set by a request's
first sighting, so only a request seen before is remembered. A one-off
request costs a byte already in memory instead of a memo entry that grows
into memory the process has not touched. Emptied when an eighth is set."""
_DOOR_ZEROS = bytes(_DOOR_SLOTS)


@dataclass(frozen=True, slots=True)
class _State:
    """One consistent decision state; replaced whole, never changed."""

    revision: int
    reference: Reference
    vocabulary: Vocabulary
    controllers: Mapping[str, ControllerView]
    situations: Mapping[str, Situation]
    subprocessors: Mapping[str, SubprocessorEntry]


@dataclass(frozen=True, slots=True)
class Status:
    """Where the checker stands (for health checks and logs)."""

    revision: int
    """The revision the checker decides at."""
    seconds_since_contact: float
    """Since the last change or heartbeat from the registry."""
    connected: bool
    reconnects: int
    resyncs: int
    last_error: str


class LocalChecker:
    """Decides transfers and processing in process; see the module docstring.

    >>> checker = LocalChecker(client)   # loads, then follows the registry
    >>> checker.check_transfer("acme", subprocessor_id="llmcorp", ...)

    ``client``: a ``RegistryClient`` (its channel and identity are used).
    ``controller_ids``: load only these controllers (default: every one; a
    controller's own certificate loads itself). ``max_staleness``: seconds
    without word from the registry after which no local answer is given, and
    ``on_stale`` what happens then. ``min_revision_wait``: how long a check
    with ``min_revision`` waits before asking the server. ``heartbeat``:
    seconds between the server's heartbeats. ``memo``: remember answers per
    revision. ``load_timeout``: the deadline of each snapshot page.
    ``freeze_gc``: call ``gc.freeze()`` after each load and each applied
    change, so the cyclic collector never rescans the state (nor anything
    else the process holds at that moment): shorter pauses in the caller's
    decisions, but cyclic garbage that exists at a freeze is never
    collected (docs/local-checker.md weighs it).
    The constructor loads the snapshot (raising the library's errors if it
    cannot) and starts one follower thread; ``close()`` stops it.
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        controller_ids: Sequence[str] | None = None,
        max_staleness: float = 5.0,
        on_stale: Literal["refuse", "rpc"] = "refuse",
        min_revision_wait: float = 1.0,
        heartbeat: float = 1.0,
        page_size: int = 1000,
        memo: bool = True,
        load_timeout: float = 120.0,
        freeze_gc: bool = False,
    ) -> None:
        if on_stale not in ("refuse", "rpc"):
            raise ValueError('on_stale is "refuse" or "rpc"')
        if max_staleness <= heartbeat:
            raise ValueError("max_staleness must exceed the heartbeat interval")
        self._client = client
        self._stub = pb_grpc.DecisionSnapshotServiceStub(client.channel)
        self._selection = sorted(set(controller_ids)) if controller_ids is not None else []
        self._scoped = controller_ids is not None
        self.max_staleness = max_staleness
        self.on_stale = on_stale
        self.min_revision_wait = min_revision_wait
        self._heartbeat_ms = int(heartbeat * 1000)
        self._page_size = page_size
        self._load_timeout = load_timeout
        self._memo_on = memo
        self._freeze_gc = freeze_gc
        self._memo: dict[Any, TransferDecision | ProcessingDecision] = {}
        self._memo_revision = -1
        self._door = bytearray(_DOOR_SLOTS)
        self._door_marks = 0
        self._work = Memo()
        self._day, self._day_ends = date.min, 0.0
        self._processing = processing.Memo()
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._call: Any = None
        self._connected = False
        self.reconnects = 0
        self.resyncs = 0
        self._last_error = ""
        self._receipts: dict[int, DecisionReceipt] = {}
        self._state = self._load()
        self._contact = time.monotonic()
        self._settle()
        self._thread = threading.Thread(target=self._follow, name="local-checker", daemon=True)
        self._thread.start()

    # --- public ------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The registry revision the checker currently decides at."""
        return self._state.revision

    def status(self) -> Status:
        return Status(
            revision=self._state.revision,
            seconds_since_contact=time.monotonic() - self._contact,
            connected=self._connected,
            reconnects=self.reconnects,
            resyncs=self.resyncs,
            last_error=self._last_error,
        )

    def wait_for(self, revision: int, timeout: float) -> bool:
        """Waits up to ``timeout`` s until the checker holds ``revision``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state.revision < revision:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed.is_set():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_transfer(
        self,
        controller_id: str,
        *,
        data_categories: Sequence[str],
        purpose: str,
        subprocessor_id: str = "",
        recipient: str = "",
        destination_country: str = "",
        transfer_date: date | str | None = None,
        safeguards: Sequence[Safeguard] = (),
        derogation: str | None = None,
        recipient_sector: str | None = None,
        recipient_dpf_certified: bool = False,
        recipient_dpf_checked: date | str | None = None,
        min_revision: int | None = None,
        receipt: bool = False,
    ) -> TransferDecision:
        """``RegistryClient.check_transfer``, decided in process (same
        arguments, same answer on the same state). ``receipt=True`` binds the
        answer to the signed audit log (:class:`DecisionReceipt`)."""
        state: _State | None = self._state
        if min_revision is not None or time.monotonic() - self._contact > self.max_staleness:
            state = self._usable(min_revision)
        if state is None:
            return self._remote_transfer(
                controller_id,
                data_categories=data_categories,
                purpose=purpose,
                subprocessor_id=subprocessor_id,
                recipient=recipient,
                destination_country=destination_country,
                transfer_date=transfer_date,
                safeguards=safeguards,
                derogation=derogation,
                recipient_sector=recipient_sector,
                recipient_dpf_certified=recipient_dpf_certified,
                recipient_dpf_checked=recipient_dpf_checked,
                at_least_revision=min_revision,
                receipt=receipt,
            )
        today = self._day if time.time() < self._day_ends else self._today()
        key: Any = None
        if not (safeguards or recipient or destination_country or derogation) and (
            recipient_sector is None and not recipient_dpf_certified and not recipient_dpf_checked
        ):
            # The hot path (a sub-processor): a remembered answer, the usual
            # request answered at once, or the request the server would build.
            categories = tuple(data_categories)
            if self._memo_on:
                # Six items: never equal to a processing key (seven). One
                # category stands for itself (a str never equals a tuple):
                # one object fewer to remember.
                named = categories[0] if len(categories) == 1 else categories
                key = (controller_id, named, purpose, subprocessor_id, transfer_date, today)
                found = self._memo.get(key) if self._memo_revision == state.revision else None
                if found is not None:
                    assert isinstance(found, TransferDecision)
                    return self._with_receipt(found, receipt) if receipt else found
            # A date, or none (today); a time of day (a datetime) is read as
            # the server reads its text: not a date (below).
            if transfer_date is None or type(transfer_date) is date:
                on = transfer_date or today
                usual = decide_usual(
                    state.controllers,
                    state.subprocessors,
                    state.reference,
                    state.vocabulary,
                    state.revision,
                    self._work,
                    controller_id,
                    subprocessor_id,
                    categories,
                    purpose,
                    on,
                )
                if usual is not None:
                    answer = transfer_decision(usual, on)
                    if key is not None:
                        self._remember(state, key, answer)
                    return self._with_receipt(answer, receipt) if receipt else answer
            violations = Violations()
            if type(transfer_date) is date:
                on = transfer_date
            else:
                # The text the server would get (a datetime's has a time of day).
                text = (
                    transfer_date.isoformat()
                    if isinstance(transfer_date, date)
                    else transfer_date or ""
                )
                on = parse_day("transfer_date", text, violations) or today
            request = subprocessor_request(
                controller_id, categories, purpose, on, subprocessor_id or None
            )
        else:
            msg = transfer_request_message(
                controller_id,
                data_categories=data_categories,
                purpose=purpose,
                subprocessor_id=subprocessor_id,
                recipient=recipient,
                destination_country=destination_country,
                transfer_date=transfer_date,
                safeguards=safeguards,
                derogation=derogation,
                recipient_sector=recipient_sector,
                recipient_dpf_certified=recipient_dpf_certified,
                recipient_dpf_checked=recipient_dpf_checked,
            )
            request, violations = transfer_request(msg, today)
        transfer.validate_request(request, state.reference, state.vocabulary, violations)
        if violations:
            _raise_if_any(violations)
        if request.controller_id not in state.controllers:
            self._outside(request.controller_id)
        sp = request.subprocessor_id
        if sp is not None and sp not in state.subprocessors:
            raise errors.NotFound(f"subprocessors/{sp} not found")
        decision = decide_transfer(
            request,
            state.controllers,
            state.subprocessors,
            state.reference,
            state.revision,
            self._work,
        )
        answer = transfer_decision(decision, request.on)
        if key is not None:
            self._remember(state, key, answer)
        return self._with_receipt(answer, receipt) if receipt else answer

    def check_processing(
        self,
        controller_id: str,
        *,
        purpose: str,
        data_categories: Sequence[str],
        operation: str,
        country: str = "",
        data_subjects: Sequence[str] = (),
        min_revision: int | None = None,
        receipt: bool = False,
    ) -> ProcessingDecision:
        """``RegistryClient.check_processing``, decided in process."""
        state: _State | None = self._state
        if min_revision is not None or time.monotonic() - self._contact > self.max_staleness:
            state = self._usable(min_revision)
        if state is None:
            answer = self._client.check_processing(
                controller_id,
                purpose=purpose,
                data_categories=data_categories,
                operation=operation,
                country=country,
                data_subjects=data_subjects,
                at_least_revision=min_revision,
            )
            return self._with_receipt(answer, receipt)
        key: Any = None
        categories = tuple(data_categories)
        if self._memo_on:
            key = (
                "p",
                controller_id,
                purpose,
                categories[0] if len(categories) == 1 else categories,
                operation,
                country,
                tuple(data_subjects) if data_subjects else (),
            )
            found = self._memo.get(key) if self._memo_revision == state.revision else None
            if found is not None:
                assert isinstance(found, ProcessingDecision)
                return self._with_receipt(found, receipt) if receipt else found
        op = _OPERATIONS.get(operation) or _operation_of(operation)
        subjects = tuple(data_subjects)
        violations = Violations()
        situation = state.situations.get(controller_id)
        # As the server reads the request: the controller's name first, alone
        # (``controllers/{id}`` is well formed exactly when the id is one; a
        # registered controller's always is).
        if situation is None and not RESOURCE_ID.fullmatch(controller_id):
            processing.controller_of(f"controllers/{controller_id}", violations)
            _raise_if_any(violations)
        processing.validate_request(
            purpose,
            categories,
            op,
            country or None,
            subjects,
            state.vocabulary,
            state.reference.iso_countries,
            violations,
        )
        if violations:
            _raise_if_any(violations)
        assert op is not None
        if situation is None:
            self._outside(controller_id)
            raise AssertionError("unreachable")
        # ProcessingRequest(controller_id, purpose, data_categories,
        # operation, country, data_subjects), as a plain tuple.
        request = _new(
            ProcessingRequest, (controller_id, purpose, categories, op, country or None, subjects)
        )
        decision = self._processing.decide(situation, request, state.revision)
        answer = processing_decision(controller_id, decision)
        if key is not None:
            self._remember(state, key, answer)
        return self._with_receipt(answer, receipt) if receipt else answer

    # --- deciding ----------------------------------------------------------

    def _usable(self, min_revision: int | None) -> _State | None:
        """The state to decide on, or None to ask the server instead."""
        state = self._state
        silent = time.monotonic() - self._contact
        if silent > self.max_staleness:
            if self.on_stale == "rpc":
                return None
            raise errors.StaleSnapshot(
                f"no word from the registry for {silent:.1f} s (bound {self.max_staleness} s); "
                f"the local snapshot is at revision {state.revision}"
                + (f"; last error: {self._last_error}" if self._last_error else ""),
                state.revision,
                silent,
            )
        if min_revision is not None and state.revision < min_revision:
            if not self.wait_for(min_revision, self.min_revision_wait):
                return None
            state = self._state
        return state

    def _today(self) -> date:
        """Today (UTC), read from the clock only when the day may have changed."""
        now = time.time()
        if now >= self._day_ends:
            today = datetime.fromtimestamp(now, UTC).date()
            self._day, self._day_ends = today, (now // 86_400 + 1) * 86_400
        return self._day

    def _outside(self, controller_id: str) -> None:
        if self._scoped and controller_id not in self._selection:
            raise errors.NotFound(f"controllers/{controller_id} is not in this checker's selection")
        raise errors.NotFound(f"controllers/{controller_id} not found")

    def _remember(
        self, state: _State, key: Any, answer: TransferDecision | ProcessingDecision
    ) -> None:
        if self._memo_revision != state.revision:
            self._memo = {}
            self._memo_revision = state.revision
        slot = hash(key) & (_DOOR_SLOTS - 1)
        if not self._door[slot]:
            # First sighting (or a slot's false share): mark it, remember
            # nothing. Sightings outlive a revision: a request repeated
            # before a change is as likely to repeat after it.
            self._door[slot] = 1
            self._door_marks += 1
            if self._door_marks > _DOOR_SLOTS >> 3:
                self._door[:] = _DOOR_ZEROS
                self._door_marks = 0
            return
        if len(self._memo) < MEMO_LIMIT:
            self._memo[key] = answer

    def _with_receipt(self, answer: _Answer, wanted: bool) -> _Answer:
        if not wanted:
            return answer
        found = self._receipts.get(answer.revision)
        if found is None:
            # One receipt per revision: every answer at it shares the proof.
            found = self._client.decision_receipt(answer.revision)
            self._receipts = {answer.revision: found}
        return answer._replace(receipt=found)

    def _remote_transfer(
        self, controller_id: str, *, receipt: bool, **kwargs: Any
    ) -> TransferDecision:
        answer = self._client.check_transfer(controller_id, **kwargs)
        return self._with_receipt(answer, receipt)

    # --- following the registry ---------------------------------------------

    def _metadata(self) -> Any:
        return self._client._metadata

    def _stream_stub(self) -> pb_grpc.DecisionSnapshotServiceStub:
        """The change stream's stub: on the stream port the registry names
        (asked on every reconnect, as ``watch_notifications`` does), else on
        the main channel."""
        main = self._stub

        def discover(metadata: tuple[tuple[str, str], ...]) -> object:
            return main.WatchDecisionChanges(
                pb.WatchDecisionChangesRequest(), timeout=self._client.timeout, metadata=metadata
            )

        return pb_grpc.DecisionSnapshotServiceStub(self._client._stream_channel(discover))

    def _load(self) -> _State:
        """The whole snapshot at the revision of its first page."""
        token = ""
        revision = -1
        ref: Reference | None = None
        vocab: Vocabulary | None = None
        views: dict[str, ControllerView] = {}
        situations: dict[str, Situation] = {}
        records: dict[str, tuple[Any, bool]] = {}
        auth: dict[str, dict[str, AuthorizationState]] = {}
        interned: dict[Any, Any] = {}
        for attempt in range(5):
            try:
                while True:
                    page: pb.DecisionSnapshotPage = self._stub.LoadDecisionSnapshot(
                        pb.LoadDecisionSnapshotRequest(
                            controller_ids=self._selection,
                            page_size=self._page_size,
                            page_token=token,
                        ),
                        # The first page may wait for the server to build its
                        # snapshot (seconds at 100,000 controllers).
                        timeout=self._load_timeout,
                        metadata=self._metadata(),
                    )
                    if not token:
                        revision = page.revision
                        ref = reference(page.reference)
                        vocab = vocabulary(page.vocabulary)
                        for sp in page.subprocessors:
                            records[sp.subprocessor_id] = subprocessor(sp)
                    for msg in page.controllers:
                        view, situation = controller(msg, interned)
                        views[view.controller_id] = view
                        situations[view.controller_id] = situation
                        for cid, sid, state in authorizations(msg.authorizations):
                            auth.setdefault(sid, {})[cid] = state
                    token = page.next_page_token
                    if not token:
                        break
                break
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.ABORTED or attempt == 4:
                    raise translate(err) from None
                token, views, situations, records, auth = "", {}, {}, {}, {}
        assert ref is not None and vocab is not None
        entries = {
            sid: SubprocessorEntry(record, platform, auth.get(sid, {}))
            for sid, (record, platform) in records.items()
        }
        return _State(revision, ref, vocab, views, situations, entries)

    def _settle(self) -> None:
        """With ``freeze_gc``: the state lives long and holds several objects
        per controller; keep the cyclic collector from rescanning them (and
        everything else alive now). Reference counting still frees replaced
        states."""
        if self._freeze_gc:
            gc.freeze()

    def _publish(self, state: _State) -> None:
        with self._cond:
            self._state = state
            self._contact = time.monotonic()
            self._cond.notify_all()
        self._settle()

    def _follow(self) -> None:
        backoff = 0.05
        need_load = False
        while not self._closed.is_set():
            try:
                if need_load:
                    self._publish(self._load())
                    self.resyncs += 1
                    need_load = False
                call = self._stream_stub().WatchDecisionChanges(
                    pb.WatchDecisionChangesRequest(
                        controller_ids=self._selection,
                        after_revision=self._state.revision,
                        heartbeat_millis=self._heartbeat_ms,
                    ),
                    metadata=self._metadata(),
                )
                self._call = call
                if self._closed.is_set():
                    call.cancel()  # type: ignore[no-untyped-call]
                for change in _messages(call):
                    self._connected = True
                    backoff = 0.05
                    if change.resync:
                        need_load = True
                        call.cancel()  # type: ignore[no-untyped-call]
                        break
                    if change.heartbeat:
                        with self._cond:
                            self._contact = time.monotonic()
                        continue
                    self._publish(_apply(self._state, change))
            except grpc.RpcError as err:
                if self._closed.is_set():
                    return
                self._last_error = f"{err.code().name}: {err.details()}"
                log.warning("decision stream ended: %s; reconnecting", self._last_error)
            except errors.RpcError as err:  # reloading the snapshot failed
                self._last_error = f"{err.code_name}: {err.message}"
                log.warning("decision snapshot reload failed: %s; retrying", self._last_error)
            except Exception as err:  # a bad message must not stop the follower
                self._last_error = repr(err)
                log.exception("decision stream failed; reloading the snapshot")
                need_load = True
            finally:
                self._connected = False
                self._call = None
            if self._closed.is_set():
                return
            self.reconnects += 1
            self._closed.wait(backoff * (0.5 + random.random()))  # noqa: S311
            backoff = min(2.0, backoff * 2)


def _messages(call: Any) -> Iterator[pb.DecisionChange]:
    yield from call


def _apply(old: _State, change: pb.DecisionChange) -> _State:
    """``old`` with ``change`` applied: entities replaced whole, as the server
    holds them at ``change.revision``."""
    ref = reference(change.reference) if change.HasField("reference") else old.reference
    views: Mapping[str, ControllerView] = old.controllers
    situations: Mapping[str, Situation] = old.situations
    entries: Mapping[str, SubprocessorEntry] = old.subprocessors
    if change.subprocessors or change.removed_subprocessors:
        merged_entries = dict(entries)
        for sid in change.removed_subprocessors:
            merged_entries.pop(sid, None)
        for sp in change.subprocessors:
            record, platform = subprocessor(sp)
            states = {cid: state for cid, _, state in authorizations(sp.authorizations)}
            merged_entries[record.id] = SubprocessorEntry(record, platform, states)
        entries = merged_entries
    if change.controllers or change.removed_controllers:
        merged_views = dict(views)
        merged_situations = dict(situations)
        touched: dict[str, dict[str, AuthorizationState]] = {}
        for cid in change.removed_controllers:
            merged_views.pop(cid, None)
            merged_situations.pop(cid, None)
            touched[cid] = {}
        for msg in change.controllers:
            view, situation = controller(msg)
            merged_views[view.controller_id] = view
            merged_situations[view.controller_id] = situation
            touched[view.controller_id] = {
                sid: state for _, sid, state in authorizations(msg.authorizations)
            }
        views, situations = merged_views, merged_situations
        entries = _with_authorizations(entries, touched)
    return _State(change.revision, ref, old.vocabulary, views, situations, entries)


def _with_authorizations(
    entries: Mapping[str, SubprocessorEntry],
    touched: Mapping[str, Mapping[str, AuthorizationState]],
) -> Mapping[str, SubprocessorEntry]:
    """Replaces the touched controllers' states in every entry."""
    result: dict[str, SubprocessorEntry] | None = None
    for sid, entry in entries.items():
        current = entry.authorizations
        if all(current.get(cid) == states.get(sid) for cid, states in touched.items()):
            continue
        updated = dict(current)
        for cid, states in touched.items():
            state = states.get(sid)
            if state is None:
                updated.pop(cid, None)
            else:
                updated[cid] = state
        if result is None:
            result = dict(entries)
        result[sid] = SubprocessorEntry(entry.record, entry.platform, updated)
    return entries if result is None else result


def _operation_of(name: str) -> Any:
    """The operation named (``STORE`` or ``store``); remembered once valid."""
    number = apb.ProcessingOperation.Value(f"PROCESSING_OPERATION_{name.upper()}")
    found = operation(number)
    if found is not None:
        _OPERATIONS[name] = found
    return found


_OPERATIONS: dict[str, Any] = {}
_new = tuple.__new__


def _raise_if_any(violations: Violations) -> None:
    if not violations:
        return
    found = tuple(errors.FieldViolation(f, d) for f, d in violations)
    summary = "; ".join(f"{v.field}: {v.description}" for v in found[:10])
    raise errors.InvalidArgument(f"invalid argument: {summary}", found)
