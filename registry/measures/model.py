"""The measure tables: one row per measure, one per version (never updated)."""

from __future__ import annotations

import peewee

from registry import db


class MeasureRow(db.BaseModel):
    measure_id = peewee.CharField(max_length=63, primary_key=True)
    current_version = peewee.IntegerField()
    retired = peewee.BooleanField(default=False)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "measure"


class MeasureVersionRow(db.BaseModel):
    id = peewee.AutoField()
    measure_id = peewee.CharField(max_length=63)
    version = peewee.IntegerField()
    # Canonical JSON of ``registry.measures.types.Content``.
    content = peewee.TextField()
    impact = peewee.CharField(max_length=16)
    reason = peewee.TextField(default="")
    notice_days = peewee.IntegerField(default=0)
    effective_time = db.UtcDateTimeField()
    retired = peewee.BooleanField(default=False)
    notified = peewee.IntegerField(default=0)
    changed_by = peewee.TextField()
    change_time = db.UtcDateTimeField()

    class Meta:
        table_name = "measure_version"
        indexes = ((("measure_id", "version"), True),)


@db.migration(70, "technical and organisational measures")
def _create(database: peewee.Database) -> None:
    database.create_tables([MeasureRow, MeasureVersionRow])
