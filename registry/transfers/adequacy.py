"""Recorded changes to the adequacy reference data (Art. 45(5): decisions are
adopted, amended, suspended, repealed or invalidated after the shipped file was
reviewed); staff record them, the transfer decision applies them from their
effective date."""

from __future__ import annotations

import peewee

from registry import changefeed, db, names
from registry.errors import FailedPrecondition, Violations
from registry.ledger import Mutation
from registry.transfers.overrides import AdequacyChange, ChangeKind, apply_changes, validate_change
from registry.transfers.reference import (
    AdequacyDecision,
    AdequacyScope,
    DestinationKind,
    Reference,
    default_reference,
)

ADEQUACY = "adequacyDecisions"


class AdequacyChangeRow(db.BaseModel):
    """One staff-recorded change to the adequacy reference data; never updated."""

    id = peewee.AutoField()
    code = peewee.CharField(max_length=16)
    kind = peewee.CharField(max_length=16)
    effective = peewee.DateField()
    decision = peewee.TextField(default="")
    destination_name = peewee.TextField(default="")
    destination_kind = peewee.CharField(max_length=32)
    scope = peewee.CharField(max_length=32)
    valid_until = peewee.DateField(null=True)
    source = peewee.TextField()
    notes = peewee.TextField(default="")
    recorded_by = peewee.TextField()
    record_time = db.UtcDateTimeField()

    class Meta:
        table_name = "adequacy_change"


@db.migration(41, "adequacy reference changes")
def _create_changes(database: peewee.Database) -> None:
    database.create_tables([AdequacyChangeRow])


# --- adequacy reference changes -------------------------------------------


def _to_change(row: AdequacyChangeRow) -> AdequacyChange:
    return AdequacyChange(
        code=row.code,
        kind=ChangeKind(row.kind),
        effective=row.effective,
        source=row.source,
        notes=row.notes,
        decision=row.decision,
        destination_name=row.destination_name,
        destination_kind=DestinationKind(row.destination_kind),
        scope=AdequacyScope(row.scope),
        valid_until=row.valid_until,
    )


def recorded_changes() -> list[AdequacyChange]:
    return [_to_change(r) for r in AdequacyChangeRow.select().order_by(AdequacyChangeRow.id)]


def current_reference(base: Reference | None = None) -> Reference:
    """The shipped file with every recorded change applied."""
    return apply_changes(base or default_reference(), recorded_changes())


def record_adequacy_change(m: Mutation, change: AdequacyChange) -> AdequacyDecision:
    current = current_reference()
    errors = Violations()
    validate_change(change, current, errors)
    errors.raise_if_any()
    AdequacyChangeRow.create(
        code=change.code,
        kind=change.kind.value,
        effective=change.effective,
        decision=change.decision,
        destination_name=change.destination_name,
        destination_kind=change.destination_kind.value,
        scope=change.scope.value,
        valid_until=change.valid_until,
        source=change.source,
        notes=change.notes,
        recorded_by=m.caller.spiffe_id,
        record_time=m.now,
    )
    m.record(
        f"transfer.adequacy.{change.kind.value}",
        names.make(ADEQUACY, change.code),
        None,
        {
            "code": change.code,
            "kind": change.kind.value,
            "effective": change.effective.isoformat(),
            "decision": change.decision,
            "destination_name": change.destination_name,
            "destination_kind": change.destination_kind.value,
            "scope": change.scope.value,
            "valid_until": change.valid_until.isoformat() if change.valid_until else None,
            "source": change.source,
            "notes": change.notes,
        },
    )
    updated = apply_changes(current, [change]).adequacy.get(change.code)
    if updated is None:
        raise FailedPrecondition(f"no adequacy decision for {change.code!r}")
    return updated


@changefeed.publishes(ADEQUACY)
def _touched_reference(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    touched.reference = True
