"""Subscriptions: a controller's webhook endpoints and e-mail recipients.

A controller manages its own; staff may read any. Each change is one audit
event on ``controllers/{id}/subscriptions/{sid}`` (tenant: the controller).
The webhook secret is generated here, returned once, and never logged or
written to the audit log.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from registry import changefeed, db
from registry.auth import Caller
from registry.controllers import core as controllers
from registry.delivery import types
from registry.delivery.model import DeliveryRow, SubscriptionRow
from registry.errors import FailedPrecondition, InvalidArgument, NotFound
from registry.ledger import Mutation

COLLECTION = "subscriptions"
MAX_PER_CONTROLLER = 20


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    controller_id: str
    channel: types.Channel
    target: str
    kinds: frozenset[str]
    create_time: datetime
    secret: str = ""
    """Only set in the answer to ``create``."""

    @property
    def name(self) -> str:
        return f"controllers/{self.controller_id}/{COLLECTION}/{self.subscription_id}"


def _from_row(row: SubscriptionRow, *, with_secret: bool = False) -> Subscription:
    return Subscription(
        subscription_id=row.subscription_id,
        controller_id=row.controller_id,
        channel=types.Channel(row.channel),
        target=row.target,
        kinds=frozenset(json.loads(row.kinds)),
        create_time=row.create_time,
        secret=(row.secret or "") if with_secret else "",
    )


def parse_name(name: str, field: str = "name") -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "controllers" or parts[2] != COLLECTION:
        raise InvalidArgument.one(
            field, f"must look like controllers/{{controller_id}}/{COLLECTION}/{{id}}"
        )
    if not parts[1] or not parts[3]:
        raise InvalidArgument.one(field, "names no controller or subscription")
    return parts[1], parts[3]


def _require_controller(caller: Caller, controller_id: str) -> None:
    caller.require(controller_id, f"controllers/{controller_id}")
    if not controllers.existing([controller_id]):
        raise NotFound(f"controllers/{controller_id} not found")


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create(
    m: Mutation,
    controller_id: str,
    channel: types.Channel,
    target: str,
    kinds: Sequence[str],
    settings: types.Settings,
) -> Subscription:
    _require_controller(m.caller, controller_id)
    if channel is types.Channel.WEBHOOK:
        types.check_url(target, settings.allow_http, "subscription.url")
    else:
        types.check_email(target, "subscription.email")
    if len(kinds) > types.MAX_KINDS:
        raise InvalidArgument.one("subscription.kinds", f"more than {types.MAX_KINDS}")
    active = SubscriptionRow.select().where(
        (SubscriptionRow.controller_id == controller_id) & SubscriptionRow.delete_time.is_null()
    )
    if active.count() >= MAX_PER_CONTROLLER:
        raise InvalidArgument.one("parent", f"has {MAX_PER_CONTROLLER} subscriptions already")
    wanted = sorted(set(kinds))
    row = SubscriptionRow.create(
        subscription_id="sub-" + secrets.token_hex(8),
        controller_id=controller_id,
        channel=channel.value,
        target=target,
        kinds=json.dumps(wanted),
        secret=new_secret() if channel is types.Channel.WEBHOOK else None,
        create_time=m.now,
    )
    made = _from_row(row, with_secret=True)
    m.record(
        "subscription.create",
        made.name,
        controller_id,
        {"channel": channel.value, "target": target, "kinds": wanted},
    )
    return made


def list_for(caller: Caller, controller_id: str) -> list[Subscription]:
    _require_controller(caller, controller_id)
    rows = (
        SubscriptionRow.select()
        .where(
            (SubscriptionRow.controller_id == controller_id) & SubscriptionRow.delete_time.is_null()
        )
        .order_by(SubscriptionRow.create_time, SubscriptionRow.subscription_id)
    )
    return [_from_row(r) for r in rows]


def delete(m: Mutation, controller_id: str, subscription_id: str) -> Subscription:
    m.caller.require(controller_id, f"controllers/{controller_id}")
    name = f"controllers/{controller_id}/{COLLECTION}/{subscription_id}"
    row = SubscriptionRow.get_or_none(
        (SubscriptionRow.subscription_id == subscription_id)
        & (SubscriptionRow.controller_id == controller_id)
    )
    if row is None:
        raise NotFound(f"{name} not found")
    # Conditional: of concurrent deletes, one ends the subscription.
    ended = (
        SubscriptionRow.update(delete_time=m.now)
        .where(
            (SubscriptionRow.subscription_id == subscription_id)
            & SubscriptionRow.delete_time.is_null()
        )
        .execute()
    )
    if ended != 1:
        raise FailedPrecondition(f"{name} has ended already")
    cancelled = (
        DeliveryRow.update(state=types.State.CANCELLED.value)
        .where(
            (DeliveryRow.subscription_id == subscription_id)
            & (DeliveryRow.state == types.State.PENDING.value)
        )
        .execute()
    )
    gone = _from_row(row)
    m.record("subscription.delete", gone.name, controller_id, {"cancelled": int(cancelled)})
    return gone


_ACTIVE_FOR = (
    "SELECT * FROM delivery_subscription WHERE controller_id IN ({marks}) AND delete_time IS NULL"
)


def active_for(controller_ids: Sequence[str]) -> dict[str, list[SubscriptionRow]]:
    """Active subscriptions by controller (the worker's fan-out: a few hundred
    controllers a batch, most without one)."""
    result: dict[str, list[SubscriptionRow]] = {}
    for chunk in db.in_chunks(controller_ids):
        for row in SubscriptionRow.raw(db.sql(_ACTIVE_FOR, len(chunk)), *chunk):
            result.setdefault(row.controller_id, []).append(row)
    return result


changefeed.publishes("controllers.subscriptions", "controllers.deliveries")(changefeed.ignore)
