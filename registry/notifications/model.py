"""The notification table: one inbox per controller (its rows numbered per inbox)."""

from __future__ import annotations

import peewee

from registry import db


class NotificationRow(db.BaseModel):
    id = peewee.BigAutoField()
    """Internal commit order over all inboxes; never shown to a controller."""
    controller_id = peewee.CharField(max_length=63)
    seq = peewee.BigIntegerField(default=0)
    """The notification's number in its controller's inbox (1, 2, ...): the id
    a controller sees. Per inbox, so it reveals nothing of other tenants."""
    kind = peewee.CharField(max_length=32)
    resource = peewee.TextField()
    content_id = peewee.BigIntegerField()
    """Its ``ContentRow``: the text, shared by every inbox one notice went to."""
    create_time = db.UtcDateTimeField()
    ack_time = db.UtcDateTimeField(null=True)
    ack_by = peewee.TextField(null=True)

    class Meta:
        table_name = "notification"
        indexes = (
            (("controller_id", "id"), False),
            (("ack_time", "id"), False),
            (("controller_id", "seq"), True),
        )


class ContentRow(db.BaseModel):
    """A notice's text, stored once for every inbox it went to: a breach at
    10,000 controllers writes a handful of texts, not 10,000 copies (about
    11 MB)."""

    id = peewee.BigAutoField()
    title = peewee.TextField()
    body = peewee.TextField()
    payload = peewee.TextField()
    """JSON object."""

    class Meta:
        table_name = "notification_content"


@db.migration(31, "notification inboxes")
def _create(database: peewee.Database) -> None:
    database.create_tables([NotificationRow])


@db.migration(33, "per-inbox notification numbers")
def _number_per_inbox(database: peewee.Database) -> None:
    columns = {c.name for c in database.get_columns("notification")}
    if "seq" not in columns:
        database.execute_sql("ALTER TABLE notification ADD COLUMN seq BIGINT NOT NULL DEFAULT 0")
        database.execute_sql(
            "UPDATE notification SET seq = (SELECT COUNT(*) FROM notification n2 "
            "WHERE n2.controller_id = notification.controller_id AND n2.id <= notification.id)"
        )
    database.execute_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS notification_controller_id_seq "
        "ON notification (controller_id, seq)"
    )


class OnceRow(db.BaseModel):
    """A notice that must go out once (an expiry warning): claimed by the
    first write transaction that sends it."""

    key = peewee.TextField(primary_key=True)
    create_time = db.UtcDateTimeField()

    class Meta:
        table_name = "notice_once"


@db.migration(162, "notices sent once (expiry warnings)")
def _create_once(database: peewee.Database) -> None:
    database.create_tables([OnceRow])


@db.migration(164, "a notice's text stored once for all its inboxes")
def _content_once(database: peewee.Database) -> None:
    database.create_tables([ContentRow])
    columns = {c.name for c in database.get_columns("notification")}
    if "title" not in columns:
        return  # created with this schema
    database.execute_sql("ALTER TABLE notification ADD COLUMN content_id BIGINT NOT NULL DEFAULT 0")
    database.execute_sql(
        "INSERT INTO notification_content (id, title, body, payload) "
        "SELECT id, title, body, payload FROM notification"
    )
    database.execute_sql("UPDATE notification SET content_id = id")
    for column in ("title", "body", "payload"):
        database.execute_sql(f"ALTER TABLE notification DROP COLUMN {column}")
    if db.is_postgres(database):
        database.execute_sql(
            "SELECT setval(pg_get_serial_sequence('notification_content', 'id'), "
            "COALESCE((SELECT MAX(id) FROM notification_content), 0) + 1, false)"
        )
