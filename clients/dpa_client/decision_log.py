"""Signed records of a gateway's own decisions, and their offline verification.

A gateway that decides with ``LocalChecker`` (or asks ``RegistryClient``)
keeps a :class:`DecisionRecorder`: each answer is recorded with the request
it answered, and batches of records are signed with the gateway's own
Ed25519 key into a hash-chained JSON-lines file. :func:`verify_decision_log`
checks such a file offline against pinned keys and returns its records. The
form is described in ``dpa_client._decision_batch``; docs/local-checker.md
has a worked example, docs/adr/0025-decision-records-by-the-gateway.md the why.

``record`` only appends to a buffer; a background thread turns the buffer
into signed batches every ``batch_size`` records or ``interval`` seconds,
and ``close`` writes the rest. Reopening a file continues its chain.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpa_client import _keyfile, errors
from dpa_client._checks import ProcessingDecision, TransferDecision
from dpa_client._decision_batch import Decision, Head, head_of, record_document, seal
from dpa_client._decision_verify import LoggedDecision, VerifiedBatch, verify_lines
from dpa_client.documents import canonical
from dpa_client.transparency.note import NoteSigner

if TYPE_CHECKING:
    from dpa_client.client import RegistryClient
    from dpa_client.local_checker import LocalChecker

__all__ = [
    "DecisionLogReport",
    "DecisionRecorder",
    "Head",
    "LoggedDecision",
    "RecordedChecks",
    "VerifiedBatch",
    "create_key",
    "load_key",
    "verify_decision_log",
]

log = logging.getLogger(__name__)


def create_key(path: str | Path, name: str) -> NoteSigner:
    """A new Ed25519 key for the decision log, written to ``path`` (PEM,
    mode 0600, never overwriting). ``name`` says whose key it is (e.g.
    ``gateway.example/decisions``); its ``vkey`` is what auditors pin."""
    return NoteSigner(name, _keyfile.create(Path(path)))


def load_key(path: str | Path, name: str) -> NoteSigner:
    """The key :func:`create_key` wrote (``ValueError`` if not Ed25519)."""
    return NoteSigner(name, _keyfile.load(Path(path)))


class DecisionRecorder:
    """Records answers and writes them as signed batches to ``path``.

    ``signer``: the gateway's own key (:func:`create_key`, :func:`load_key`;
    not the mTLS key). A batch is written every ``batch_size`` records or
    ``interval`` seconds, whichever comes first, by one background thread;
    ``flush()`` writes now and ``close()`` writes the rest. A write that
    fails keeps its records for the next (the background thread logs the
    error; ``flush`` and ``close`` raise it), up to ``max_pending``
    records: past that, ``record`` raises
    :class:`dpa_client.errors.DecisionLogBacklog` (and so does every check
    made through ``recording``) until a write succeeds. One recorder per
    file: the file is locked while open.
    """

    def __init__(
        self,
        path: str | Path,
        signer: NoteSigner,
        *,
        batch_size: int = 1000,
        interval: float = 1.0,
        max_pending: int = 1_000_000,
    ) -> None:
        if batch_size < 1 or interval <= 0 or max_pending < batch_size:
            raise ValueError(
                "batch_size and interval must be positive, max_pending at least batch_size"
            )
        self._max_pending = max_pending
        self._last_error = ""
        self.path = Path(path)
        self._signer = signer
        self._batch_size = batch_size
        self._interval = interval
        self._pending: collections.deque[tuple[Mapping[str, object], Decision, float]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._closed = threading.Event()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._head = _open(self._fd, self.path)
        except BaseException:
            os.close(self._fd)
            raise
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    @property
    def head(self) -> Head | None:
        """The newest batch written (None: none yet)."""
        return self._head

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._pending)

    def record(self, request: Mapping[str, object], answer: Decision) -> None:
        """Records ``answer`` to ``request`` (the check's arguments, with
        ``controller_id``). Cheap: an append to a buffer; the mapping is read
        when the batch is written, so do not change it afterwards."""
        if len(self._pending) >= self._max_pending:
            raise errors.DecisionLogBacklog(
                f"{len(self._pending)} decision records not written to {self.path} "
                f"(last error: {self._last_error or 'none yet'}); recording no more until "
                "a write succeeds",
                len(self._pending),
            )
        self._pending.append((request, answer, time.time()))
        if len(self._pending) >= self._batch_size and not self._due.is_set():
            self._due.set()

    def recording(self, checks: LocalChecker | RegistryClient) -> RecordedChecks:
        """``checks``'s ``check_transfer`` and ``check_processing``, each
        answer recorded here."""
        return RecordedChecks(checks, self)

    def flush(self) -> Head | None:
        """Writes every record buffered so far; returns the new head."""
        with self._lock:
            taken = [self._pending.popleft() for _ in range(len(self._pending))]
            head, lines = self._head, []
            for start in range(0, len(taken), self._batch_size):
                records, revisions = [], []
                for request, answer, at in taken[start : start + self._batch_size]:
                    try:
                        records.append(canonical(record_document(request, answer, at)))
                    except (TypeError, ValueError, AttributeError) as err:
                        log.error("a decision record cannot be encoded; dropped (%s)", err)
                        continue
                    revisions.append(answer.revision)
                if records:
                    line, head = seal(records, revisions, self._signer, head, time.time())
                    lines.append(line)
            if lines:
                try:
                    _append(self._fd, b"".join(line + b"\n" for line in lines))
                except OSError as err:
                    self._pending.extendleft(reversed(taken))
                    self._last_error = str(err)
                    raise
            self._head = head
            self._last_error = ""
            return head

    def close(self) -> None:
        """Stops the background thread and writes the rest; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._due.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            os.close(self._fd)

    def __enter__(self) -> DecisionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._due.wait(self._interval)
            self._due.clear()
            if self._closed.is_set():
                return
            try:
                self.flush()
            except OSError as err:
                log.error("writing the decision log failed; %d records kept: %s", self.pending, err)


class RecordedChecks:
    """A ``LocalChecker``'s or ``RegistryClient``'s ``check_transfer`` and
    ``check_processing`` (same arguments, same answers), each answer recorded
    by a :class:`DecisionRecorder`. Errors (``NotFound``, ``StaleSnapshot``,
    ...) are raised as they are and not recorded."""

    def __init__(self, checks: LocalChecker | RegistryClient, recorder: DecisionRecorder) -> None:
        self._transfer = checks.check_transfer
        self._processing = checks.check_processing
        self._record = recorder.record

    def check_transfer(self, controller_id: str, **request: Any) -> TransferDecision:
        answer = self._transfer(controller_id, **request)
        request["controller_id"] = controller_id
        self._record(request, answer)
        return answer

    def check_processing(self, controller_id: str, **request: Any) -> ProcessingDecision:
        answer = self._processing(controller_id, **request)
        request["controller_id"] = controller_id
        self._record(request, answer)
        return answer


@dataclass(frozen=True, slots=True)
class DecisionLogReport:
    """A verified decision log: its batches in order, each with its records."""

    batches: tuple[VerifiedBatch, ...]

    @property
    def records(self) -> tuple[LoggedDecision, ...]:
        return tuple(r for b in self.batches for r in b.records)

    @property
    def head(self) -> Head | None:
        """Keep it: passed back as ``trusted_head``, it shows a log cut back."""
        last = self.batches[-1] if self.batches else None
        return Head(last.sequence, last.digest) if last is not None else None

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.signer for b in self.batches))


def verify_decision_log(
    path: str | Path, pinned_keys: Sequence[str], *, trusted_head: Head | None = None
) -> DecisionLogReport:
    """Verifies a decision log offline: every batch's signature by a pinned
    key, the chain (batch 0 first, then each naming the one before: no gap,
    no reorder, no copy), every record against the digest its batch signed.
    Raises :class:`dpa_client.errors.TamperedDecisionLog` naming the first bad
    line. Batches dropped from the end show only against a ``trusted_head``
    kept from an earlier verification (or the recorder's ``head``)."""
    with Path(path).open("rb") as f:
        lines = (line.rstrip(b"\n") for line in f)
        return DecisionLogReport(tuple(verify_lines(lines, pinned_keys, trusted_head)))


def _append(fd: int, data: bytes) -> None:
    """Appends ``data`` durably, or leaves the file as it was and raises."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, size)
        except OSError:
            log.exception("the decision log could not be cut back to its last whole line")
        raise


def _open(fd: int, path: Path) -> Head | None:
    """Locks the log for this recorder; the head its last line leaves."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BlockingIOError(errno.EWOULDBLOCK, f"{path} is open in another recorder") from None
    last = _last_line(fd, path)
    return head_of(last) if last is not None else None


def _last_line(fd: int, path: Path) -> bytes | None:
    """The file's last whole line (None: empty). A tail without its newline
    (a write cut off by a crash; never signed as written) is cut away."""
    start = end = os.fstat(fd).st_size
    data = b""
    while start > 0 and data.count(b"\n") < 2:
        step = min(1 << 16, start)
        start -= step
        data = os.pread(fd, step, start) + data
    if not data.endswith(b"\n") and data:
        whole = data.rfind(b"\n") + 1
        log.warning("%s: cutting away %d bytes of an unfinished last line", path, len(data) - whole)
        os.ftruncate(fd, start + whole)
        data = data[:whole]
        end = start + whole
    if end == 0:
        return None
    return data[data.rfind(b"\n", 0, len(data) - 1) + 1 : -1]
