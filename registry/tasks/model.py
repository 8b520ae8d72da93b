"""Task, part and legal-hold tables (enums: ``registry.tasks.types``)."""

from __future__ import annotations

import peewee

from registry import db


class TaskRow(db.BaseModel):
    """One task for one controller. ``revision`` serialises part updates."""

    id = peewee.AutoField()
    task_id = peewee.CharField(max_length=63, unique=True)
    controller_id = peewee.CharField(max_length=63)
    kind = peewee.CharField(max_length=24)
    state = peewee.CharField(max_length=16)
    revision = peewee.IntegerField(default=1)
    # The controller's own id of the request (DSR), or "end-of-contract-v{N}":
    # one task per (controller, key).
    key = peewee.CharField(max_length=128)
    created_by = peewee.TextField()
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()
    due_time = db.UtcDateTimeField(null=True)
    """The controller's own due date (DSR)."""
    # Data-subject request.
    request_type = peewee.CharField(max_length=16, default="")
    received_time = db.UtcDateTimeField(null=True)
    subject_references = peewee.TextField(default="[]")
    """JSON list of salted digests or opaque references; never personal data."""
    data_categories = peewee.TextField(default="[]")
    extension_reason = peewee.TextField(default="")
    extend_time = db.UtcDateTimeField(null=True)
    # End of contract.
    agreement_version = peewee.IntegerField(null=True)
    disposition = peewee.CharField(max_length=16, default="")
    # The signed receipt (DSR) or certificate (end of contract), RFC 8785 bytes.
    document = peewee.BlobField(null=True)
    document_digest = peewee.CharField(max_length=71, default="")
    signature = peewee.BlobField(null=True)
    signing_key = peewee.TextField(default="")
    issue_time = db.UtcDateTimeField(null=True)

    class Meta:
        table_name = "task"
        indexes = ((("controller_id", "key"), True), (("controller_id", "create_time"), False))


class PartRow(db.BaseModel):
    """One part of a task: a system, a sub-processor, the export or the backups."""

    id = peewee.AutoField()
    task = peewee.ForeignKeyField(TaskRow, on_delete="CASCADE")
    part_id = peewee.CharField(max_length=63)
    kind = peewee.CharField(max_length=16)
    target = peewee.CharField(max_length=63, default="")
    """System or sub-processor id."""
    state = peewee.CharField(max_length=16)
    revision = peewee.IntegerField(default=1)
    due_time = db.UtcDateTimeField()
    confirmed_by = peewee.TextField(default="")
    confirm_time = db.UtcDateTimeField(null=True)
    reference = peewee.TextField(default="")
    attachment_digest = peewee.CharField(max_length=71, default="")
    failure_reason = peewee.TextField(default="")
    ready_time = db.UtcDateTimeField(null=True)
    """EXPORT: when the export was ready; the retrieval window starts then."""
    window_end = db.UtcDateTimeField(null=True)
    """EXPORT: end of the retrieval window."""
    expire_time = db.UtcDateTimeField(null=True)
    """BACKUPS: the recorded date on which the last backup holding the data expires."""
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "task_part"
        indexes = ((("task", "part_id"), True), (("state", "due_time"), False))


class HoldRow(db.BaseModel):
    """A legal hold: a data category kept despite deletion, with its basis."""

    id = peewee.AutoField()
    task = peewee.ForeignKeyField(TaskRow, on_delete="CASCADE")
    data_category = peewee.CharField(max_length=128)
    legal_basis = peewee.TextField()
    end_time = db.UtcDateTimeField()
    created_by = peewee.TextField()
    create_time = db.UtcDateTimeField()

    class Meta:
        table_name = "task_hold"


@db.migration(60, "assistance tasks, parts, legal holds")
def _create(database: peewee.Database) -> None:
    database.create_tables([TaskRow, PartRow, HoldRow])
