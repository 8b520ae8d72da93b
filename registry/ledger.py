"""The one write path.

Every state change of the registry runs through ``mutate``: in one database
transaction it applies the change, appends one audit event per recorded
change, and stores the response under the caller's ``request_id`` so that a
retry returns the first result and creates nothing twice. A mutation that
records no audit event is refused.

Write transactions are serialised (``registry.db.transaction``), so ``apply``
reads the latest committed state and answers a lost race with the domain's
own precise error. A transaction that still fails for a reason re-running may
cure (serialisation failure, deadlock, unique violation, SQLite busy) is run
again from the start, a bounded number of times, then answered ABORTED.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import peewee

from registry import clock, db, revision
from registry.audit import store
from registry.audit.events import Change, Event
from registry.auth import Caller
from registry.errors import Aborted, InvalidArgument
from registry.observability import tracing

log = logging.getLogger(__name__)

R = TypeVar("R")


class IdempotencyRecord(db.BaseModel):
    """The first response to a request_id, per caller and method."""

    key = peewee.CharField(max_length=64, primary_key=True)
    request_digest = peewee.CharField(max_length=64)
    response = peewee.BlobField()
    first_seq = peewee.BigIntegerField()
    count = peewee.IntegerField()
    created_at = db.UtcDateTimeField()


@db.migration(2, "idempotency records")
def _create(database: peewee.Database) -> None:
    database.create_tables([IdempotencyRecord])


class Mutation:
    """Handed to a domain function; collects the changes it makes."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.now = clock.now()
        self.changes: list[Change] = []
        self._after_commit: list[Callable[[], None]] = []

    def record(
        self, action: str, resource: str, tenant: str | None, change: Mapping[str, Any]
    ) -> None:
        self.changes.append(Change(action, resource, tenant, change))

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` once the transaction has committed (not on rollback)."""
        if fn not in self._after_commit:
            self._after_commit.append(fn)

    def committed(self) -> None:
        for fn in self._after_commit:
            try:
                fn()
            except Exception:
                log.exception("after-commit hook failed")


@dataclass(frozen=True)
class Receipt:
    """Where a mutation's events landed in the audit log."""

    first_seq: int
    count: int
    replayed: bool

    @property
    def indices(self) -> range:
        return range(self.first_seq, self.first_seq + self.count)


_IN_TRANSACTION = ("registry.records.journal",)
"""Views kept in the write transaction itself, each a module with
``follow(events, revision)``: the Art. 30(2) record's journal of facts by
revision (imported on first use: it reads the domains that import this module)."""


def _follow(events: list[Event], revision: int) -> None:
    for name in _IN_TRANSACTION:
        importlib.import_module(name).follow(events, revision)


MAX_REQUEST_ID = 128
MAX_ATTEMPTS = 5


def _key(caller: Caller, method: str, request_id: str) -> str:
    return hashlib.sha256(f"{caller.spiffe_id}\n{method}\n{request_id}".encode()).hexdigest()


@dataclass(frozen=True)
class Codec(Generic[R]):
    """How the response is kept for a replay (the edge decides: bytes in, bytes out)."""

    encode: Callable[[R], bytes]
    decode: Callable[[bytes], R]


NOTHING: Codec[None] = Codec(lambda _: b"", lambda _: None)
"""For internal mutations whose result nobody replays."""


# Built once: every mutation with a request_id runs both (peewee would spend
# most of the call building them).
_FIND = "SELECT request_digest, response, first_seq, count FROM idempotency_record WHERE key = %s"
_KEEP = (
    "INSERT INTO idempotency_record "
    "(key, request_digest, response, first_seq, count, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def _replay(key: str, digest: str, codec: Codec[R]) -> tuple[R, Receipt] | None:
    found = db.execute(db.sql(_FIND), (key,)).fetchall()
    if not found:
        return None
    ((request_digest, response, first_seq, count),) = found
    if request_digest != digest:
        raise InvalidArgument.one("request_id", "was already used for a different request")
    return codec.decode(bytes(response)), Receipt(int(first_seq), int(count), replayed=True)


def _keep(key: str, digest: str, response: bytes, receipt: Receipt, now: datetime) -> None:
    created = IdempotencyRecord.created_at.db_value(now)
    db.execute(db.sql(_KEEP), (key, digest, response, receipt.first_seq, receipt.count, created))


def mutate(
    caller: Caller,
    method: str,
    request_id: str,
    request_digest: str,
    codec: Codec[R],
    apply: Callable[[Mutation], R],
) -> tuple[R, Receipt]:
    """Runs ``apply`` and its audit events in one transaction (see module doc)."""
    if len(request_id) > MAX_REQUEST_ID:
        raise InvalidArgument.one("request_id", f"longer than {MAX_REQUEST_ID} characters")
    key = _key(caller, method, request_id) if request_id else ""
    digest = request_digest
    attempt = 1
    while True:
        try:
            return _mutate_once(caller, key, digest, request_id, codec, apply)
        except peewee.DatabaseError as err:
            # Inside an outer transaction only the outermost may re-run.
            if not db.is_retryable(err) or db.database.in_transaction():
                raise
            log.warning("%s: attempt %d hit %s; re-running", method, attempt, type(err).__name__)
            if attempt >= MAX_ATTEMPTS:
                raise Aborted("the write collided with concurrent writes; retry") from err
        attempt += 1
        time.sleep(0.005 * 2**attempt * random.random())  # noqa: S311 - jitter


def _mutate_once(
    caller: Caller,
    key: str,
    digest: str,
    request_id: str,
    codec: Codec[R],
    apply: Callable[[Mutation], R],
) -> tuple[R, Receipt]:
    with tracing.span("db.transaction"), db.transaction():
        if key:
            replay = _replay(key, digest, codec)
            if replay is not None:
                return replay
        mutation = Mutation(caller)
        response = apply(mutation)
        if not mutation.changes:
            raise RuntimeError("a mutation recorded no audit event")
        with tracing.span("audit.append"):
            events = store.append(mutation.changes, caller.spiffe_id, request_id, mutation.now)
        receipt = Receipt(events[0].seq, len(events), replayed=False)
        with tracing.span("records.journal"):
            _follow(events, receipt.first_seq + receipt.count)
        if key:
            _keep(key, digest, codec.encode(response), receipt, mutation.now)
        # Last before COMMIT, under the write lock: M >= R once R is visible.
        revision.before_commit(receipt.first_seq + receipt.count)
    mutation.committed()
    return response, receipt
