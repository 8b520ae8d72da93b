"""Delivery tables: subscriptions, one delivery per (notice, subscription),
one row per attempt, and the fan-out cursor over the notification inbox."""

from __future__ import annotations

import peewee

from registry import db
from registry.notifications import core as inbox


class SubscriptionRow(db.BaseModel):
    subscription_id = peewee.CharField(max_length=63, primary_key=True)
    controller_id = peewee.CharField(max_length=63, index=True)
    channel = peewee.CharField(max_length=16)
    target = peewee.TextField()
    """The webhook URL or the e-mail address."""
    kinds = peewee.TextField()
    """JSON array of notification kinds; empty array: every kind."""
    secret = peewee.TextField(null=True)
    """Webhook signing secret (``whsec_...``)."""
    create_time = db.UtcDateTimeField()
    delete_time = db.UtcDateTimeField(null=True)

    class Meta:
        table_name = "delivery_subscription"


class DeliveryRow(db.BaseModel):
    id = peewee.BigAutoField()
    controller_id = peewee.CharField(max_length=63)
    notification = peewee.BigIntegerField()
    """The notice's number in the controller's inbox."""
    subscription_id = peewee.CharField(max_length=63)
    channel = peewee.CharField(max_length=16)
    state = peewee.CharField(max_length=16)
    attempts = peewee.IntegerField(default=0)
    """Attempts in the current series (reset by a redelivery)."""
    next_attempt_time = db.UtcDateTimeField()
    lease_owner = peewee.TextField(null=True)
    lease_until = db.UtcDateTimeField(null=True)
    delivered_time = db.UtcDateTimeField(null=True)
    create_time = db.UtcDateTimeField()
    bounce_token = peewee.CharField(max_length=64, default="")
    """Random, in the envelope sender of its e-mails: a bounce must quote it."""

    class Meta:
        table_name = "delivery"
        indexes = (
            (("controller_id", "notification", "subscription_id"), True),
            (("state", "next_attempt_time"), False),
            (("controller_id", "id"), False),
        )


class AttemptRow(db.BaseModel):
    id = peewee.BigAutoField()
    delivery_id = peewee.BigIntegerField(index=True)
    number = peewee.IntegerField()
    time = db.UtcDateTimeField()
    latency_ms = peewee.BigIntegerField()
    status_code = peewee.IntegerField()
    succeeded = peewee.BooleanField()
    error = peewee.TextField()

    class Meta:
        table_name = "delivery_attempt"


class CursorRow(db.BaseModel):
    """Single row (id=1): the inbox's internal commit-order key of the last
    notification fanned out to deliveries."""

    id = peewee.IntegerField(primary_key=True)
    notification_key = peewee.BigIntegerField()

    class Meta:
        table_name = "delivery_cursor"


@db.migration(151, "delivery subscriptions, deliveries, attempts")
def _create(database: peewee.Database) -> None:
    database.create_tables([SubscriptionRow, DeliveryRow, AttemptRow, CursorRow])
    # Nobody subscribed before this migration: start after the inbox as it is.
    CursorRow.insert(id=1, notification_key=inbox.max_id()).execute()


class EvidenceRow(db.BaseModel):
    """How a notice first reached its controller, per channel."""

    id = peewee.BigAutoField()
    controller_id = peewee.CharField(max_length=63)
    notification = peewee.BigIntegerField()
    """The notice's number in the controller's inbox."""
    channel = peewee.CharField(max_length=16)
    time = db.UtcDateTimeField()
    detail = peewee.TextField()

    class Meta:
        table_name = "delivery_evidence"
        indexes = ((("controller_id", "notification", "channel"), True),)


@db.migration(152, "delivery evidence")
def _create_evidence(database: peewee.Database) -> None:
    database.create_tables([EvidenceRow])


@db.migration(153, "delivery bounce tokens")
def _bounce_token(database: peewee.Database) -> None:
    from playhouse.migrate import SchemaMigrator, migrate  # noqa: PLC0415

    if "bounce_token" not in {c.name for c in database.get_columns("delivery")}:
        migrate(
            SchemaMigrator.from_database(database).add_column(
                "delivery", "bounce_token", DeliveryRow.bounce_token
            )
        )
