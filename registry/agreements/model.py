"""Agreement, agreement-line and instruction tables (enums: ``registry.agreements.types``)."""

from __future__ import annotations

import peewee

from registry import db


class AgreementRow(db.BaseModel):
    """One version of one controller's DPA. Content fields never change after
    drafting; state, signatures and termination record the lifecycle."""

    id = peewee.AutoField()
    controller_id = peewee.CharField(max_length=63)
    version = peewee.IntegerField()
    state = peewee.CharField(max_length=24)
    revision = peewee.IntegerField(default=1)
    requested_by = peewee.TextField()
    # Canonical JSON of the controller's proposed terms.
    proposal = peewee.TextField()
    # Decided terms, denormalised for active_terms() and the processing check.
    authorization_mode = peewee.CharField(max_length=16)
    notice_days = peewee.IntegerField()
    objection_days = peewee.IntegerField()
    breach_hours = peewee.IntegerField()
    end_of_contract = peewee.CharField(max_length=16)
    dsr_assistance_days = peewee.IntegerField(default=10)
    # Canonical JSON {"purposes": [...], "data_categories": [...], "data_subjects": [...]}.
    scope = peewee.TextField(default="")
    # The signed document: RFC 8785 bytes, from DRAFTED on.
    document = peewee.BlobField(null=True)
    document_digest = peewee.CharField(max_length=71, default="")
    drafted_by = peewee.TextField(default="")
    draft_time = db.UtcDateTimeField(null=True)
    processor_signature = peewee.BlobField(null=True)
    processor_vkey = peewee.TextField(default="")
    processor_signed_by = peewee.TextField(default="")
    processor_sign_time = db.UtcDateTimeField(null=True)
    controller_signature = peewee.BlobField(null=True)
    controller_certificate = peewee.TextField(default="")
    controller_signed_by = peewee.TextField(default="")
    controller_sign_time = db.UtcDateTimeField(null=True)
    supersede_time = db.UtcDateTimeField(null=True)
    terminated_by = peewee.TextField(default="")
    terminate_time = db.UtcDateTimeField(null=True)
    termination_reason = peewee.TextField(default="")
    disposition = peewee.CharField(max_length=16, default="")
    disposition_confirmation = peewee.TextField(default="")
    disposition_confirmed_by = peewee.TextField(default="")
    disposition_confirm_time = db.UtcDateTimeField(null=True)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "agreement"
        indexes = ((("controller_id", "version"), True),)


class AgreementLine(db.BaseModel):
    """Per controller: where its line of DPA versions stands (one row)."""

    controller_id = peewee.CharField(max_length=63, primary_key=True)
    latest_version = peewee.IntegerField()
    active_version = peewee.IntegerField(null=True, index=True)
    ended_version = peewee.IntegerField(null=True)
    instruction_version = peewee.IntegerField(null=True)
    latest_instruction = peewee.IntegerField(default=0)

    class Meta:
        table_name = "agreement_line"


class InstructionRow(db.BaseModel):
    """One version of a controller's documented instructions (Art. 28(3)(a))."""

    id = peewee.AutoField()
    controller_id = peewee.CharField(max_length=63)
    version = peewee.IntegerField()
    agreement_version = peewee.IntegerField()
    issued_by = peewee.TextField()
    issue_time = db.UtcDateTimeField()
    # Canonical JSON of the instruction's content.
    body = peewee.TextField()
    flagged = peewee.BooleanField(default=False)
    flag_reason = peewee.TextField(default="")
    flagged_by = peewee.TextField(default="")
    flag_time = db.UtcDateTimeField(null=True)

    class Meta:
        table_name = "instruction"
        indexes = ((("controller_id", "version"), True),)


@db.migration(20, "agreements")
def _create(database: peewee.Database) -> None:
    database.create_tables([AgreementRow, AgreementLine, InstructionRow])


@db.migration(26, "agreements: data-subject request assistance days")
def _assistance_days(database: peewee.Database) -> None:
    from playhouse.migrate import SchemaMigrator, migrate  # noqa: PLC0415

    if "dsr_assistance_days" in {c.name for c in database.get_columns("agreement")}:
        return
    migrate(
        SchemaMigrator.from_database(database).add_column(
            "agreement", "dsr_assistance_days", AgreementRow.dsr_assistance_days
        )
    )
