"""Breach tables. Phases and adjustments are append-only: Art. 33(5) wants
every breach documented, so later information never overwrites earlier."""

from __future__ import annotations

import peewee

from registry import db


class BreachRow(db.BaseModel):
    breach_id = peewee.CharField(max_length=63, primary_key=True)
    status = peewee.CharField(max_length=10)
    awareness_time = db.UtcDateTimeField()
    detection_time = db.UtcDateTimeField()
    hold_notices = peewee.BooleanField(default=False)
    phases = peewee.IntegerField(default=1)
    revision = peewee.IntegerField(default=1)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "breach"


class PhaseRow(db.BaseModel):
    id = peewee.AutoField()
    breach_id = peewee.CharField(max_length=63)
    number = peewee.IntegerField()
    status = peewee.CharField(max_length=10)
    info = peewee.TextField()
    """JSON of ``rules.Info``."""
    author = peewee.TextField()
    create_time = db.UtcDateTimeField()

    class Meta:
        table_name = "breach_phase"
        indexes = ((("breach_id", "number"), True),)


class AdjustmentRow(db.BaseModel):
    id = peewee.AutoField()
    breach_id = peewee.CharField(max_length=63, index=True)
    controller_id = peewee.CharField(max_length=63)
    added = peewee.BooleanField()
    reason = peewee.TextField()
    author = peewee.TextField()
    create_time = db.UtcDateTimeField()

    class Meta:
        table_name = "breach_adjustment"


class ObligationRow(db.BaseModel):
    """The processor's duty to notify one controller of one breach."""

    id = peewee.AutoField()
    breach_id = peewee.CharField(max_length=63)
    controller_id = peewee.CharField(max_length=63)
    hours = peewee.IntegerField()
    deadline = db.UtcDateTimeField()
    reasons = peewee.TextField()
    """JSON list of strings."""
    scope = peewee.TextField()
    """JSON of ``rules.Scope``: what of the breach concerns this controller."""
    time_zone = peewee.TextField(default="")
    notify_time = db.UtcDateTimeField(null=True)
    notified_phase = peewee.IntegerField(default=0)
    ack_time = db.UtcDateTimeField(null=True)
    ack_by = peewee.TextField(null=True)
    withdrawn = peewee.BooleanField(default=False)
    withdraw_reason = peewee.TextField(default="")

    class Meta:
        table_name = "breach_obligation"
        indexes = (
            (("breach_id", "controller_id"), True),
            (("controller_id", "breach_id"), False),
        )


@db.migration(50, "breaches, phases, adjustments, obligations")
def _create(database: peewee.Database) -> None:
    database.create_tables([BreachRow, PhaseRow, AdjustmentRow, ObligationRow])
