"""Deliveries: one per (notice, subscription), its attempts, and the rules
that move it: fan-out from the inbox, claim, record an attempt, redeliver.

Fan-out follows every inbox with a cursor row over the inbox's internal
commit-order key, which commits in order (docs/adr/0004), so "after the
cursor" never skips a notice. A process
advances the cursor with a conditional UPDATE before it inserts, so two
processes never fan out the same notice. A delivery is claimed with a
conditional UPDATE that sets a lease; only the process holding the lease
sends it, so several processes on one database never deliver twice. Every
attempt and every redelivery is one audit event through the write path.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry import db, ledger
from registry.audit import store as audit_store
from registry.auth import Caller, Role
from registry.delivery import evidence, subscriptions, types
from registry.delivery.model import (
    AttemptRow,
    CursorRow,
    DeliveryRow,
    SubscriptionRow,
)
from registry.errors import FailedPrecondition, InvalidArgument, NotFound
from registry.ledger import Mutation
from registry.notifications import core as inbox

COLLECTION = "deliveries"
FANOUT_BATCH = 500


@dataclass(frozen=True)
class Attempt:
    number: int
    time: datetime
    latency_ms: int
    status_code: int
    succeeded: bool
    error: str


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    notification: int
    """The notice's number in the controller's inbox."""
    controller_id: str
    subscription_id: str
    channel: types.Channel
    state: types.State
    next_attempt_time: datetime
    delivered_time: datetime | None
    attempts: tuple[Attempt, ...] = ()

    @property
    def name(self) -> str:
        return f"controllers/{self.controller_id}/{COLLECTION}/{self.delivery_id}"


def _from_row(row: DeliveryRow, attempts: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(
        delivery_id=int(row.id),
        notification=int(row.notification),
        controller_id=row.controller_id,
        subscription_id=row.subscription_id,
        channel=types.Channel(row.channel),
        state=types.State(row.state),
        next_attempt_time=row.next_attempt_time,
        delivered_time=row.delivered_time,
        attempts=tuple(attempts),
    )


def parse_name(name: str, field: str = "name") -> tuple[str, int]:
    parts = name.split("/")
    ok = len(parts) == 4 and parts[0] == "controllers" and parts[2] == COLLECTION
    if not ok or not parts[1] or not parts[3].isdigit() or len(parts[3]) > 18:
        raise InvalidArgument.one(
            field, f"must look like controllers/{{controller_id}}/{COLLECTION}/{{id}}"
        )
    return parts[1], int(parts[3])


def reader(trust_domain: str) -> Caller:
    """The worker's identity (it reads every inbox and records attempts)."""
    return Caller(
        spiffe_id=f"spiffe://{trust_domain}/service/registry-delivery",
        role=Role.SERVICE,
        name="registry-delivery",
    )


# -- fan-out -----------------------------------------------------------------


def fan_out() -> int:
    """Creates the deliveries of the notices after the cursor; returns how
    many notices it took (``FANOUT_BATCH``: there may be more)."""
    with db.transaction():
        cursor = int(CursorRow.get_by_id(1).notification_key)
        new = inbox.keys_after(cursor, FANOUT_BATCH)
        if not new:
            return 0
        moved = (
            CursorRow.update(notification_key=new[-1][0])
            .where((CursorRow.id == 1) & (CursorRow.notification_key == cursor))
            .execute()
        )
        if moved != 1:
            return 0  # another process fanned these out
        by_controller = subscriptions.active_for([cid for _, cid in new])
        notices = inbox.headers([key for key, cid in new if cid in by_controller])
        rows: list[dict[str, Any]] = []
        for n in notices:
            for sub in by_controller.get(n.controller_id, []):
                kinds = frozenset(json.loads(sub.kinds))
                if sub.create_time > n.create_time or not types.wants(kinds, n.kind.value):
                    continue
                rows.append(
                    {
                        "notification": n.number,
                        "controller_id": n.controller_id,
                        "subscription_id": sub.subscription_id,
                        "channel": sub.channel,
                        "state": types.State.PENDING.value,
                        "attempts": 0,
                        "next_attempt_time": n.create_time,
                        "create_time": n.create_time,
                        "bounce_token": secrets.token_hex(8),
                    }
                )
        if rows:
            db.insert_rows(DeliveryRow, rows)
        return len(new)


# -- claim, send, record -----------------------------------------------------


def claim(owner: str, now: datetime, lease: timedelta, limit: int) -> list[int]:
    """Due deliveries this process now holds a lease on (conditional UPDATE)."""
    free = DeliveryRow.lease_until.is_null() | (DeliveryRow.lease_until < now)
    due = (
        (DeliveryRow.state == types.State.PENDING.value)
        & (DeliveryRow.next_attempt_time <= now)
        & free
    )
    candidates = [
        int(i)
        for i in DeliveryRow.select(DeliveryRow.id)
        .where(due)
        .order_by(DeliveryRow.next_attempt_time, DeliveryRow.id)
        .limit(limit)
        .scalars()
    ]
    held: list[int] = []
    for delivery_id in candidates:
        with db.transaction():
            won = (
                DeliveryRow.update(lease_owner=owner, lease_until=now + lease)
                .where((DeliveryRow.id == delivery_id) & due)
                .execute()
            )
        if won == 1:
            held.append(delivery_id)
    return held


def notice(controller_id: str, number: int) -> inbox.Notification | None:
    """Notice ``number`` of the controller's inbox (through the inbox's read API)."""
    found = inbox.after(controller_id, number - 1, 1)
    return found[0] if found and found[0].id == number else None


@dataclass(frozen=True)
class Work:
    """What the sender needs for one claimed delivery."""

    delivery_id: int
    channel: types.Channel
    target: str
    secret: str
    attempt: int
    """In the current series (a redelivery starts a new one)."""
    number: int
    """The attempt's number over the delivery's life (``Attempt.number``)."""
    bounce_token: str
    notice: types.Notice


def work(delivery_id: int) -> Work | None:
    row = DeliveryRow.get_or_none(DeliveryRow.id == delivery_id)
    if row is None:
        return None
    sub = SubscriptionRow.get_or_none(SubscriptionRow.subscription_id == row.subscription_id)
    if sub is None:
        return None
    n = notice(row.controller_id, int(row.notification))
    if n is None:
        return None
    index = audit_store.first_index_of(f"controllers/{n.controller_id}/{n.name}")
    return Work(
        delivery_id=delivery_id,
        channel=types.Channel(row.channel),
        target=sub.target,
        secret=sub.secret or "",
        attempt=int(row.attempts) + 1,
        number=AttemptRow.select().where(AttemptRow.delivery_id == delivery_id).count() + 1,
        bounce_token=row.bounce_token,
        notice=types.Notice(
            id=n.id,
            controller_id=n.controller_id,
            kind=n.kind.value,
            title=n.title,
            body=n.body,
            resource=n.resource,
            create_time=n.create_time,
            audit_index=index,
        ),
    )


@dataclass(frozen=True)
class Outcome:
    status_code: int
    latency_ms: int
    error: str


def record(
    caller: Caller, owner: str, w: Work, outcome: Outcome, settings: types.Settings
) -> types.State:
    """Stores one attempt and the delivery's next state; one audit event."""

    def apply(m: Mutation) -> None:
        row = DeliveryRow.get_by_id(w.delivery_id)
        ok = types.succeeded(w.channel, outcome.status_code)
        attempts = int(row.attempts) + 1
        retry_at = None if ok else types.next_attempt(settings, attempts, m.now)
        state = (
            types.State.DELIVERED
            if ok
            else (types.State.PENDING if retry_at is not None else types.State.DEAD_LETTER)
        )
        number = w.number
        AttemptRow.create(
            delivery_id=w.delivery_id,
            number=number,
            time=m.now,
            latency_ms=outcome.latency_ms,
            status_code=outcome.status_code,
            succeeded=ok,
            error=outcome.error[:500],
        )
        DeliveryRow.update(
            attempts=attempts,
            state=state.value,
            next_attempt_time=retry_at or row.next_attempt_time,
            delivered_time=m.now if ok else row.delivered_time,
            lease_owner=None,
            lease_until=None,
        ).where((DeliveryRow.id == w.delivery_id) & (DeliveryRow.lease_owner == owner)).execute()
        if ok:
            evidence.record(
                row.controller_id,
                int(row.notification),
                types.Evidence(w.channel.value),
                m.now,
                f"controllers/{row.controller_id}/{subscriptions.COLLECTION}/"
                f"{row.subscription_id} answered {outcome.status_code}",
            )
        m.record(
            "delivery.attempt",
            f"controllers/{row.controller_id}/{COLLECTION}/{w.delivery_id}",
            row.controller_id,
            {
                "notification": int(row.notification),
                "subscription": row.subscription_id,
                "channel": w.channel.value,
                "attempt": number,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "state": state.value,
            },
        )
        result[0] = state

    result = [types.State.PENDING]
    ledger.mutate(caller, "Delivery/Attempt", "", "", ledger.NOTHING, apply)
    return result[0]


# -- reads and staff actions ---------------------------------------------------


def _attempts(ids: Sequence[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {}
    if not ids:
        return found
    query = (
        AttemptRow.select()
        .where(AttemptRow.delivery_id.in_(list(ids)))
        .order_by(AttemptRow.delivery_id, AttemptRow.id)
    )
    for a in query:
        found.setdefault(int(a.delivery_id), []).append(
            Attempt(
                number=int(a.number),
                time=a.time,
                latency_ms=int(a.latency_ms),
                status_code=int(a.status_code),
                succeeded=bool(a.succeeded),
                error=a.error,
            )
        )
    return found


def list_page(
    caller: Caller, controller_id: str, notification: int | None, before: int | None, size: int
) -> list[Delivery]:
    """A controller's deliveries, newest first, each with its attempts."""
    caller.require(controller_id, f"controllers/{controller_id}")
    query = DeliveryRow.select().where(DeliveryRow.controller_id == controller_id)
    if notification is not None:
        query = query.where(DeliveryRow.notification == notification)
    if before is not None:
        query = query.where(DeliveryRow.id < before)
    rows = list(query.order_by(DeliveryRow.id.desc()).limit(size))
    attempts = _attempts([int(r.id) for r in rows])
    return [_from_row(r, attempts.get(int(r.id), [])) for r in rows]


def get(caller: Caller, controller_id: str, delivery_id: int) -> Delivery:
    row = DeliveryRow.get_or_none(
        (DeliveryRow.id == delivery_id) & (DeliveryRow.controller_id == controller_id)
    )
    if row is None or not caller.sees(controller_id):
        raise NotFound(f"controllers/{controller_id}/{COLLECTION}/{delivery_id} not found")
    return _from_row(row, _attempts([delivery_id]).get(delivery_id, []))


def redeliver(m: Mutation, controller_id: str, delivery_id: int) -> Delivery:
    """Staff: a fresh series of attempts for a dead-lettered or delivered notice."""
    current = get(m.caller, controller_id, delivery_id)
    if current.state not in (types.State.DEAD_LETTER, types.State.DELIVERED):
        raise FailedPrecondition(f"{current.name} is {current.state.value}, not dead-lettered")
    DeliveryRow.update(
        state=types.State.PENDING.value,
        attempts=0,
        next_attempt_time=m.now,
    ).where(DeliveryRow.id == delivery_id).execute()
    m.record(
        "delivery.redeliver",
        current.name,
        controller_id,
        {"notification": current.notification, "previous_state": current.state.value},
    )
    return get(m.caller, controller_id, delivery_id)


def undelivered(
    caller: Caller, controller_id: str, after_id: int, size: int
) -> list[inbox.Notification]:
    """Staff: the controller's notices that reached it by no channel: not
    streamed, no webhook 2xx, no e-mail accepted, not acknowledged."""
    found: list[inbox.Notification] = []
    cursor = after_id
    while len(found) < size:
        batch = inbox.list_page(
            caller,
            controller_id=controller_id,
            after_id=cursor,
            size=FANOUT_BATCH,
            unacknowledged_only=True,
        )
        if not batch:
            break
        reached = evidence.reached(controller_id, [n.id for n in batch])
        found += [n for n in batch if n.id not in reached]
        cursor = batch[-1].id
    return found[:size]
