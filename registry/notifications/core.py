"""Notification inboxes: one persisted inbox per controller.

Each notification has a monotonically increasing integer id, which is also
the Watch cursor. Ids become visible in id order: on PostgreSQL every insert
runs under one transaction-scoped advisory lock (docs/adr/0004), on SQLite the
write transaction is exclusive anyway. A reader that has seen id N has
therefore seen every committed id below N, so resuming "after N" never skips.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import peewee

from registry import changefeed, clock, db
from registry.auth import Caller, Role
from registry.errors import InvalidArgument, NotFound
from registry.ledger import Mutation
from registry.notifications.model import ContentRow, NotificationRow, OnceRow

COLLECTION = "notifications"
BATCH = 1000
# pg_advisory_xact_lock key serialising notification inserts (ids commit in order).
_INSERT_LOCK = 7281530


class Kind(enum.Enum):
    SUBPROCESSOR_CHANGE = "SUBPROCESSOR_CHANGE"
    BREACH = "BREACH"
    INSTRUCTION_FLAGGED = "INSTRUCTION_FLAGGED"
    DPA = "DPA"
    OBJECTION_RESOLVED = "OBJECTION_RESOLVED"
    GENERAL = "GENERAL"
    TASK = "TASK"


@dataclass(frozen=True)
class Notification:
    id: int
    """Its number in the controller's inbox (per tenant: reveals no other inbox)."""
    controller_id: str
    kind: Kind
    title: str
    body: str
    resource: str
    payload: Mapping[str, Any]
    create_time: datetime
    ack_time: datetime | None = None
    ack_by: str | None = None
    key: int = 0
    """Internal commit order over all inboxes (staff paging, the hub)."""

    @property
    def name(self) -> str:
        return f"{COLLECTION}/{self.id}"


FIELDS = (
    NotificationRow.seq,
    NotificationRow.controller_id,
    NotificationRow.kind,
    ContentRow.title,
    ContentRow.body,
    NotificationRow.resource,
    ContentRow.payload,
    NotificationRow.create_time,
    NotificationRow.ack_time,
    NotificationRow.ack_by,
    NotificationRow.id,
)


def select() -> peewee.ModelSelect[Any]:
    """Notifications with ``FIELDS``: each inbox row with its text."""
    n = NotificationRow
    return n.select(*FIELDS).join(ContentRow, on=(n.content_id == ContentRow.id))


def tuples(query: peewee.ModelSelect[Any]) -> Iterable[tuple[Any, ...]]:
    """Rows of a ``.tuples()`` query (peewee's stubs type them as models)."""
    return cast("Iterable[tuple[Any, ...]]", query.tuples())


def from_tuple(t: Sequence[Any]) -> Notification:
    """From a row selected with ``FIELDS`` as a tuple."""
    create_time = NotificationRow.create_time.python_value(t[7])
    ack_time = NotificationRow.ack_time.python_value(t[8]) if t[8] is not None else None
    return Notification(
        id=int(t[0]),
        controller_id=t[1],
        kind=Kind(t[2]),
        title=t[3],
        body=t[4],
        resource=t[5],
        payload=json.loads(t[6]),
        create_time=create_time,
        ack_time=ack_time,
        ack_by=t[9],
        key=int(t[10]),
    )


@dataclass(frozen=True, slots=True)
class Header:
    """A notification without its text: enough to route it."""

    key: int
    """Internal commit order over all inboxes."""
    controller_id: str
    number: int
    """Its number in the controller's inbox (``Notification.id``)."""
    kind: Kind
    create_time: datetime


_KEYS_AFTER = "SELECT id, controller_id FROM notification WHERE id > %s ORDER BY id LIMIT %s"
_HEADERS = (
    "SELECT id, controller_id, seq, kind, create_time FROM notification "
    "WHERE id IN ({marks}) ORDER BY id"
)


def keys_after(key: int, limit: int) -> list[tuple[int, str]]:
    """(internal key, controller id) of the first ``limit`` notifications of
    every inbox after internal key ``key``, in commit order: which notices
    are new and whose (the delivery fan-out reads ten thousand at a breach,
    nearly all for controllers without a subscription)."""
    rows = db.execute(db.sql(_KEYS_AFTER), (key, limit)).fetchall()
    return [(int(k), str(cid)) for k, cid in rows]


def headers(keys: Sequence[int]) -> list[Header]:
    """The notifications with these internal keys, in commit order, without
    their text: what routing them needs."""
    created = NotificationRow.create_time.python_value
    found: list[Header] = []
    for chunk in db.in_chunks(keys):
        rows = db.execute(db.sql(_HEADERS, len(chunk)), tuple(chunk)).fetchall()
        for k, cid, seq, kind, at in rows:
            found.append(Header(int(k), cid, int(seq), Kind(kind), created(at)))
    return found


def parse_name(name: str, field: str = "name") -> int:
    prefix = COLLECTION + "/"
    ident = name[len(prefix) :] if name.startswith(prefix) else ""
    if not ident.isdigit() or len(ident) > 18:
        raise InvalidArgument.one(field, f"must look like {COLLECTION}/{{id}}")
    return int(ident)


def _lock_inserts() -> None:
    if db.is_postgres():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_INSERT_LOCK,))


_LAST_NUMBERS = (
    "SELECT controller_id, MAX(seq) FROM notification "
    "WHERE controller_id IN ({marks}) GROUP BY controller_id"
)


def _last_numbers(controller_ids: Sequence[str]) -> dict[str, int]:
    """Controller id -> the number of the newest notification in its inbox."""
    result: dict[str, int] = {}
    for chunk in db.in_chunks(controller_ids):
        rows = db.execute(db.sql(_LAST_NUMBERS, len(chunk)), tuple(chunk)).fetchall()
        result.update({str(cid): int(last or 0) for cid, last in rows})
    return result


def max_id() -> int:
    return int(NotificationRow.select(peewee.fn.MAX(NotificationRow.id)).scalar() or 0)


def notify(
    m: Mutation,
    controller_ids: Sequence[str],
    kind: Kind,
    title: str,
    body: str,
    resource: str,
    payload: Mapping[str, Any],
    *,
    audit: bool = True,
) -> list[Notification]:
    """Puts one notification into each controller's inbox, in ``m``'s transaction.

    Inserts in batches; with ``audit`` (the default) records one audit change
    per controller (tenant = that controller), so each can verify in its own
    audit view that it was notified. Watchers receive the notifications after
    the mutation commits (``hub.poke()`` after commit wakes the hub at once;
    nothing polls faster while the transaction is open: on PostgreSQL a poll
    steps over every uncommitted row of the batch in the id index).
    """
    if not controller_ids:
        return []
    from registry.notifications import hub  # noqa: PLC0415 - hub imports this module

    m.after_commit(hub.poke)
    _lock_inserts()
    before = max_id()
    numbers = _last_numbers(controller_ids)
    encoded = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"))
    content = ContentRow.insert(title=title, body=body, payload=encoded).execute()
    rows = [
        {
            "controller_id": cid,
            "seq": numbers.get(cid, 0) + 1,
            "kind": kind.value,
            "resource": resource,
            "content_id": content,
            "create_time": m.now,
        }
        for cid in controller_ids
    ]
    db.insert_rows(NotificationRow, rows)
    query = (
        NotificationRow.select(
            NotificationRow.seq, NotificationRow.controller_id, NotificationRow.id
        )
        .where(NotificationRow.id > before)
        .order_by(NotificationRow.id)
    )
    shared = dict(payload)
    made = [
        Notification(
            id=int(nid),
            controller_id=cid,
            kind=kind,
            title=title,
            body=body,
            resource=resource,
            payload=shared,
            create_time=m.now,
            key=int(key),
        )
        for nid, cid, key in db.database.execute(query).fetchall()
    ]
    if audit:
        for n in made:
            m.record(
                "notification.create",
                f"controllers/{n.controller_id}/{n.name}",
                n.controller_id,
                {"kind": kind.value, "resource": resource, "title": title, "body": body},
            )
    return made


def claimed(keys: Collection[str]) -> set[str]:
    """The keys among ``keys`` already claimed (a read; see ``claim_once``)."""
    found: set[str] = set()
    for chunk in db.in_chunks(keys):
        query = OnceRow.select(OnceRow.key).where(OnceRow.key.in_(chunk))
        found.update(str(k) for k in query.scalars())
    return found


def claim_once(m: Mutation, key: str) -> bool:
    """True the first time ``key`` is claimed. Runs in ``m``'s write
    transaction, and write transactions are serialised across processes
    (docs/adr/0010), so exactly one of several schedulers sends the notice;
    a rollback releases the claim."""
    if OnceRow.get_or_none(OnceRow.key == key) is not None:
        return False
    OnceRow.create(key=key, create_time=m.now)
    return True


def _visible(caller: Caller, controller_id: str) -> bool:
    return caller.sees(controller_id)


def get(caller: Caller, number: int) -> Notification:
    """The caller's own notification ``number`` (a controller's inbox)."""
    n = NotificationRow
    row = next(
        iter(tuples(select().where((n.controller_id == caller.tenant) & (n.seq == number)))),
        None,
    )
    if row is None:
        raise NotFound(f"{COLLECTION}/{number} not found")
    return from_tuple(row)


def after(controller_id: str, cursor: int, limit: int) -> list[Notification]:
    """The controller's notifications numbered above ``cursor``, oldest first."""
    n = NotificationRow
    query = tuples(
        select()
        .where((n.controller_id == controller_id) & (n.seq > cursor))
        .order_by(n.seq)
        .limit(limit)
    )
    return [from_tuple(t) for t in query]


def acknowledged(pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], datetime]:
    """Of these (controller id, number) notices, the acknowledged ones and when."""
    n = NotificationRow
    found: dict[tuple[str, int], datetime] = {}
    for chunk in db.in_chunks(pairs):
        query = n.select(n.controller_id, n.seq, n.ack_time).where(
            peewee.Tuple(n.controller_id, n.seq).in_(chunk) & n.ack_time.is_null(False)
        )
        for cid, seq, ack in tuples(query):
            found[(str(cid), int(seq))] = n.ack_time.python_value(ack)
    return found


def unacknowledged_count() -> int:
    """Notifications no controller has acknowledged yet, over every inbox (a metric)."""
    n = NotificationRow
    return int(n.select(peewee.fn.COUNT(n.id)).where(n.ack_time.is_null()).scalar() or 0)


def about(controller_id: str, kind: Kind, resource: str) -> list[Notification]:
    """The controller's notifications of ``kind`` about ``resource``, oldest first."""
    n = NotificationRow
    query = (
        select()
        .where(
            (n.controller_id == controller_id) & (n.kind == kind.value) & (n.resource == resource)
        )
        .order_by(n.seq)
    )
    return [from_tuple(t) for t in tuples(query)]


def list_page(
    caller: Caller,
    *,
    controller_id: str,
    after_id: int,
    size: int,
    unacknowledged_only: bool,
) -> list[Notification]:
    """A controller lists its own inbox; staff any inbox, or all (controller_id="")."""
    if caller.role is Role.CONTROLLER:
        if controller_id:
            caller.require(controller_id, f"controllers/{controller_id}")
        controller_id = caller.tenant or ""
    n = NotificationRow
    if controller_id:
        # One inbox: ordered by its own numbers, ``after_id`` is one of them.
        query = select().where((n.controller_id == controller_id) & (n.seq > after_id))
        order: peewee.Field = n.seq
    else:
        # Every inbox (staff): in commit order; ``after_id`` is an internal key.
        query = select().where(n.id > after_id)
        order = n.id
    if unacknowledged_only:
        query = query.where(n.ack_time.is_null())
    return [from_tuple(t) for t in tuples(query.order_by(order).limit(size))]


def acknowledge(m: Mutation, notification_id: int) -> Notification:
    """The controller confirms it has read a notification (idempotent)."""
    current = get(m.caller, notification_id)
    if current.ack_time is None:
        NotificationRow.update(ack_time=m.now, ack_by=m.caller.spiffe_id).where(
            (NotificationRow.id == current.key) & NotificationRow.ack_time.is_null()
        ).execute()
    m.record(
        "notification.acknowledge",
        f"controllers/{current.controller_id}/{current.name}",
        current.controller_id,
        {"notification": current.id, "first": current.ack_time is None},
    )
    return get(m.caller, notification_id)


_STREAMED_HOOKS: list[Callable[[str, int, datetime], None]] = []


def on_streamed(hook: Callable[[str, int, datetime], None]) -> None:
    """Registers ``hook(controller_id, number, time)``, called when a Watch
    stream has handed a notification to its controller's connection (delivery
    evidence, docs/delivery.md). Hooks must be quick and must not raise."""
    _STREAMED_HOOKS.append(hook)


def streamed(controller_id: str, number: int) -> None:
    now = clock.now()
    for hook in _STREAMED_HOOKS:
        hook(controller_id, number, now)


changefeed.publishes("controllers.notifications")(changefeed.ignore)
