"""The controller table."""

from __future__ import annotations

import peewee

from registry import db


class ControllerRow(db.BaseModel):
    controller_id = peewee.CharField(max_length=63, primary_key=True)
    legal_name = peewee.TextField()
    country = peewee.CharField(max_length=2)
    contact_email = peewee.TextField()
    dpo_email = peewee.TextField()
    notify_emails = peewee.TextField(default="")
    time_zone = peewee.TextField(default="")
    revision = peewee.IntegerField(default=1)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "controller"


@db.migration(3, "controllers")
def _create(database: peewee.Database) -> None:
    database.create_tables([ControllerRow])
