"""Sub-processor tables (their enums are in ``registry.subprocessors.types``).

Art. 28(4): each sub-processor is bound by a contract that flows the DPA's
obligations down; Art. 28(2): each controller authorises it, specifically or
generally, and may object to a change it was told about in advance.
"""

from __future__ import annotations

import peewee

from registry import db
from registry.subprocessors.types import Resolution


class SubprocessorRow(db.BaseModel):
    subprocessor_id = peewee.CharField(max_length=63, primary_key=True)
    display_name = peewee.TextField()
    legal_name = peewee.TextField()
    address = peewee.TextField()
    country = peewee.CharField(max_length=2)
    contact_email = peewee.TextField()
    service_category = peewee.CharField(max_length=40)
    locations = peewee.TextField()
    """ISO 3166-1 alpha-2 codes, comma-separated."""
    data_categories = peewee.TextField()
    """fideslang keys, newline-separated."""
    purpose = peewee.TextField()
    agreement_signed_date = peewee.DateField(null=True)
    agreement_reference = peewee.TextField(default="")
    agreement_digest = peewee.CharField(max_length=71, default="")
    flow_down_confirmed = peewee.BooleanField(default=False)
    certifications = peewee.TextField(default="")
    dpf_status = peewee.CharField(max_length=20)
    dpf_checked_date = peewee.DateField(null=True)
    status = peewee.CharField(max_length=10)
    scope = peewee.CharField(max_length=20)
    revision = peewee.IntegerField(default=1)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "subprocessor"
        # A controller's list reads the platform-wide ACTIVE ones in id order.
        indexes = ((("scope", "status", "subprocessor_id"), False),)


class AuthorizationRow(db.BaseModel):
    """Current state per (controller, sub-processor); absent = not engaged
    individually (a platform-wide ACTIVE sub-processor then counts as
    AUTHORIZED by the controller's signed DPA annex)."""

    id = peewee.AutoField()
    controller_id = peewee.CharField(max_length=63)
    subprocessor_id = peewee.CharField(max_length=63)
    state = peewee.CharField(max_length=12)
    notice_id = peewee.CharField(max_length=63, null=True)
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "subprocessor_authorization"
        indexes = ((("controller_id", "subprocessor_id"), True), (("subprocessor_id",), False))


class NoticeRow(db.BaseModel):
    notice_id = peewee.CharField(max_length=63, primary_key=True)
    kind = peewee.CharField(max_length=12)
    subprocessor_id = peewee.CharField(max_length=63)
    """The one added (ADDITION, REPLACEMENT) or removed (REMOVAL)."""
    replaced_id = peewee.CharField(max_length=63, null=True)
    effective_time = db.UtcDateTimeField()
    reason = peewee.TextField(default="")
    state = peewee.CharField(max_length=10)
    recipients = peewee.IntegerField(default=0)
    create_time = db.UtcDateTimeField()
    applied_time = db.UtcDateTimeField(null=True)

    class Meta:
        table_name = "subprocessor_change_notice"
        indexes = (
            (("state", "effective_time"), False),
            (("subprocessor_id",), False),
            (("replaced_id",), False),
        )


class RecipientRow(db.BaseModel):
    """One controller's copy of a change notice: its own windows and answer."""

    id = peewee.AutoField()
    notice_id = peewee.CharField(max_length=63)
    controller_id = peewee.CharField(max_length=63)
    mode = peewee.CharField(max_length=10)
    notice_days = peewee.IntegerField()
    objection_days = peewee.IntegerField()
    notified_time = db.UtcDateTimeField()
    """When the notice was sent (put in the controller's inbox)."""
    notification = peewee.BigIntegerField(null=True)
    """The notice's number in the controller's inbox (None before migration 35)."""
    first_delivery_time = db.UtcDateTimeField(null=True)
    """When the notice first reached the controller, by any channel; None:
    not yet. The objection window runs from it (``notices.objection_deadline``)."""
    window_end = db.UtcDateTimeField(null=True)
    """The objection deadline; None while the notice has not reached the controller."""
    decision = peewee.CharField(max_length=12)
    reason = peewee.TextField(default="")
    decided_time = db.UtcDateTimeField(null=True)
    resolution = peewee.CharField(max_length=24, default=Resolution.UNRESOLVED.value)
    resolution_note = peewee.TextField(default="")

    class Meta:
        table_name = "subprocessor_notice_recipient"
        indexes = (
            (("notice_id", "controller_id"), True),
            (("controller_id", "decision"), False),
            (("decision", "window_end"), False),
        )


class WithdrawalRow(db.BaseModel):
    """A controller withdrew its authorisation of a sub-processor (Art. 28(2))."""

    id = peewee.AutoField()
    controller_id = peewee.CharField(max_length=63)
    subprocessor_id = peewee.CharField(max_length=63)
    reason = peewee.TextField()
    withdraw_time = db.UtcDateTimeField()

    class Meta:
        table_name = "subprocessor_withdrawal"
        indexes = ((("controller_id", "subprocessor_id"), False),)


@db.migration(34, "sub-processor read indexes: platform-wide by status, notices by subject")
def _read_indexes(database: peewee.Database) -> None:
    for name, table, columns in (
        (
            "subprocessor_scope_status_subprocessor_id",
            "subprocessor",
            "scope, status, subprocessor_id",
        ),
        (
            "subprocessor_change_notice_subprocessor_id",
            "subprocessor_change_notice",
            "subprocessor_id",
        ),
        ("subprocessor_change_notice_replaced_id", "subprocessor_change_notice", "replaced_id"),
    ):
        database.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")


@db.migration(32, "sub-processor withdrawals")
def _create_withdrawals(database: peewee.Database) -> None:
    database.create_tables([WithdrawalRow])


@db.migration(30, "sub-processors, authorisations, change notices")
def _create(database: peewee.Database) -> None:
    database.create_tables([SubprocessorRow, AuthorizationRow, NoticeRow, RecipientRow])


@db.migration(35, "sub-processor change notices: the objection clock starts at first delivery")
def _clock_from_delivery(database: peewee.Database) -> None:
    from playhouse.migrate import SchemaMigrator, migrate  # noqa: PLC0415

    table = RecipientRow._meta.table_name
    columns = {c.name: c for c in database.get_columns(table)}
    migrator = SchemaMigrator.from_database(database)
    if "notification" not in columns:
        migrate(migrator.add_column(table, "notification", RecipientRow.notification))
    if "first_delivery_time" not in columns:
        migrate(migrator.add_column(table, "first_delivery_time", RecipientRow.first_delivery_time))
        # Notices sent before this version ran from sending: keep their deadlines.
        database.execute_sql(
            f"UPDATE {table} SET first_delivery_time = notified_time "  # noqa: S608 - constant
            "WHERE notification IS NULL"
        )
    if not columns["window_end"].null:
        migrate(migrator.drop_not_null(table, "window_end"))
