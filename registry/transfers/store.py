"""Transfer safeguards and adequacy changes: tables and the rules for writing
them (GDPR Art. 45, 46).

A safeguard belongs to one sub-processor and one destination country:
standard contractual clauses under Decision (EU) 2021/914 (module, Clause 9
option, signing date, the Clause 14 transfer impact assessment), binding
corporate rules (Art. 47) or another Art. 46 instrument, with supplementary
measures and a review date. Clauses under the repealed decisions may be
recorded (they are history); ``decide`` never relies on them after
27 December 2022. Adequacy comes from the reference data, and an Art. 49
derogation is never a standing basis for a sub-processor, so neither can be
recorded as a safeguard.

Adequacy changes (adopted, suspended, invalidated) are stored in the order
recorded and replayed over the shipped reference file
(:mod:`registry.transfers.overrides`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import peewee

from registry import changefeed, db, paging, validate
from registry.errors import Aborted, AlreadyExists, NotFound, Violations
from registry.ledger import Mutation
from registry.subprocessors import core as subprocessors
from registry.transfers.adequacy import current_reference
from registry.transfers.model import (
    Clause9Option,
    Mechanism,
    Safeguard,
    SccDecision,
    SccModule,
)
from registry.transfers.reference import (
    Reference,
)

SUBPROCESSORS = "subprocessors"
SAFEGUARDS = "safeguards"
_CHUNK = 500


class SafeguardRow(db.BaseModel):
    id = peewee.AutoField()
    subprocessor_id = peewee.CharField(max_length=63)
    safeguard_id = peewee.CharField(max_length=63)
    destination_country = peewee.CharField(max_length=16)
    mechanism = peewee.CharField(max_length=24)
    """``Mechanism`` name."""
    scc_decision = peewee.CharField(max_length=16, null=True)
    """``SccDecision`` name."""
    scc_module = peewee.IntegerField(null=True)
    clause9_option = peewee.IntegerField(null=True)
    signed_on = peewee.DateField(null=True)
    tia_reference = peewee.TextField(default="")
    tia_date = peewee.DateField(null=True)
    tia_review_due = peewee.DateField(null=True)
    supplementary_measures = peewee.TextField(default="")
    """Newline-separated."""
    review_date = peewee.DateField(null=True)
    instrument_reference = peewee.TextField(default="")
    revision = peewee.IntegerField(default=1)
    create_time = db.UtcDateTimeField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "transfer_safeguard"
        indexes = ((("subprocessor_id", "safeguard_id"), True),)


@db.migration(40, "transfer safeguards")
def _create_safeguards(database: peewee.Database) -> None:
    database.create_tables([SafeguardRow])


# --- safeguards ------------------------------------------------------------


@dataclass(frozen=True)
class StoredSafeguard:
    subprocessor_id: str
    safeguard_id: str
    safeguard: Safeguard
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return safeguard_name(self.subprocessor_id, self.safeguard_id)

    @property
    def etag(self) -> str:
        return f"r{self.revision}"


def safeguard_name(subprocessor_id: str, safeguard_id: str) -> str:
    return f"{SUBPROCESSORS}/{subprocessor_id}/{SAFEGUARDS}/{safeguard_id}"


def parse_safeguard_name(name: str, field: str = "name") -> tuple[str, str]:
    parts = name.split("/")
    if (
        len(parts) != 4
        or parts[0] != SUBPROCESSORS
        or parts[2] != SAFEGUARDS
        or not validate.RESOURCE_ID.fullmatch(parts[1])
        or not validate.RESOURCE_ID.fullmatch(parts[3])
    ):
        from registry.errors import InvalidArgument  # noqa: PLC0415

        raise InvalidArgument.one(
            field, "must look like subprocessors/{subprocessor_id}/safeguards/{safeguard_id}"
        )
    return parts[1], parts[3]


def to_safeguard(row: SafeguardRow) -> Safeguard:
    return Safeguard(
        mechanism=Mechanism[row.mechanism],
        destination_country=row.destination_country,
        scc_decision=SccDecision[row.scc_decision] if row.scc_decision else None,
        scc_module=SccModule(row.scc_module) if row.scc_module else None,
        clause9_option=Clause9Option(row.clause9_option) if row.clause9_option else None,
        signed_on=row.signed_on,
        tia_reference=row.tia_reference or None,
        tia_date=row.tia_date,
        tia_review_due=row.tia_review_due,
        supplementary_measures=tuple(m for m in row.supplementary_measures.split("\n") if m),
        review_date=row.review_date,
        instrument_reference=row.instrument_reference or None,
    )


def _stored(row: SafeguardRow) -> StoredSafeguard:
    return StoredSafeguard(
        subprocessor_id=row.subprocessor_id,
        safeguard_id=row.safeguard_id,
        safeguard=to_safeguard(row),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _columns(sg: Safeguard) -> dict[str, Any]:
    return {
        "destination_country": sg.destination_country,
        "mechanism": sg.mechanism.name,
        "scc_decision": sg.scc_decision.name if sg.scc_decision else None,
        "scc_module": int(sg.scc_module) if sg.scc_module else None,
        "clause9_option": int(sg.clause9_option) if sg.clause9_option else None,
        "signed_on": sg.signed_on,
        "tia_reference": sg.tia_reference or "",
        "tia_date": sg.tia_date,
        "tia_review_due": sg.tia_review_due,
        "supplementary_measures": "\n".join(sg.supplementary_measures),
        "review_date": sg.review_date,
        "instrument_reference": sg.instrument_reference or "",
    }


def _as_change(sg: Safeguard) -> dict[str, Any]:
    def day(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "destination_country": sg.destination_country,
        "mechanism": sg.mechanism.value,
        "scc_decision": sg.scc_decision.value if sg.scc_decision else None,
        "scc_module": int(sg.scc_module) if sg.scc_module else None,
        "clause9_option": int(sg.clause9_option) if sg.clause9_option else None,
        "signed_on": day(sg.signed_on),
        "tia_reference": sg.tia_reference,
        "tia_date": day(sg.tia_date),
        "tia_review_due": day(sg.tia_review_due),
        "supplementary_measures": list(sg.supplementary_measures),
        "review_date": day(sg.review_date),
        "instrument_reference": sg.instrument_reference,
    }


def validate_safeguard(
    sg: Safeguard, reference: Reference, prefix: str, errors: Violations
) -> None:
    """Write-time checks. An incomplete TIA or clauses on a repealed decision
    may be recorded (work in progress, history); CheckTransfer denies them."""
    country = sg.destination_country
    if not reference.is_known_destination(country):
        errors.add(
            f"{prefix}.destination_country", f"{country!r} is not an ISO 3166-1 alpha-2 code"
        )
    elif country in reference.eea:
        errors.add(f"{prefix}.destination_country", f"{country} is in the EEA: no safeguard needed")
    if sg.mechanism is Mechanism.ADEQUACY:
        errors.add(
            f"{prefix}.mechanism",
            "adequacy (Art. 45) comes from the reference data, not from a safeguard",
        )
    elif sg.mechanism is Mechanism.DEROGATION_ART49:
        errors.add(
            f"{prefix}.mechanism",
            "an Art. 49 derogation is never a standing basis for a sub-processor",
        )
    if sg.mechanism is Mechanism.SCC:
        if sg.scc_decision is None:
            errors.add(f"{prefix}.scc_decision", "required for standard contractual clauses")
        elif sg.scc_decision is SccDecision.EU_2021_914 and sg.scc_module is None:
            errors.add(f"{prefix}.scc_module", "required for clauses under Decision 2021/914")
        if sg.signed_on is None:
            errors.add(f"{prefix}.signed_date", "required for standard contractual clauses")
    else:
        for field, value in (
            ("scc_decision", sg.scc_decision),
            ("scc_module", sg.scc_module),
            ("clause9_option", sg.clause9_option),
        ):
            if value is not None:
                errors.add(f"{prefix}.{field}", "applies to standard contractual clauses only")
        if (
            sg.mechanism in (Mechanism.BCR, Mechanism.OTHER_ART46)
            and not (sg.instrument_reference or "").strip()
        ):
            errors.add(f"{prefix}.instrument_reference", "name the BCR approval or instrument")
    if (
        sg.tia_date is not None
        and sg.tia_review_due is not None
        and sg.tia_review_due < sg.tia_date
    ):
        errors.add(f"{prefix}.tia.review_date", "is before the assessment date")
    for i, measure in enumerate(sg.supplementary_measures):
        validate.text(f"{prefix}.supplementary_measures[{i}]", measure, errors)


def _subprocessor_exists(subprocessor_id: str) -> bool:
    return bool(subprocessors.existing([subprocessor_id]))


def _row(subprocessor_id: str, safeguard_id: str) -> SafeguardRow | None:
    row: SafeguardRow | None = SafeguardRow.get_or_none(
        (SafeguardRow.subprocessor_id == subprocessor_id)
        & (SafeguardRow.safeguard_id == safeguard_id)
    )
    return row


def get_safeguard(subprocessor_id: str, safeguard_id: str) -> StoredSafeguard:
    row = _row(subprocessor_id, safeguard_id)
    if row is None:
        raise NotFound(f"{safeguard_name(subprocessor_id, safeguard_id)} not found")
    return _stored(row)


def list_safeguards(subprocessor_id: str | None, page: paging.Page) -> list[StoredSafeguard]:
    """Ordered by (sub-processor, safeguard id); ``None`` lists every one."""
    query = SafeguardRow.select()
    if subprocessor_id is not None:
        query = query.where(SafeguardRow.subprocessor_id == subprocessor_id)
    if page.after is not None:
        sp, _, sg = page.after.partition("/")
        query = query.where(
            (SafeguardRow.subprocessor_id > sp)
            | ((SafeguardRow.subprocessor_id == sp) & (SafeguardRow.safeguard_id > sg))
        )
    query = query.order_by(SafeguardRow.subprocessor_id, SafeguardRow.safeguard_id)
    return [_stored(r) for r in query.limit(page.size)]


def create_safeguard(
    m: Mutation, subprocessor_id: str, safeguard_id: str, sg: Safeguard
) -> StoredSafeguard:
    errors = Violations()
    validate.resource_id("safeguard_id", safeguard_id, errors)
    validate_safeguard(sg, current_reference(), "safeguard", errors)
    errors.raise_if_any()
    if not _subprocessor_exists(subprocessor_id):
        raise NotFound(f"{SUBPROCESSORS}/{subprocessor_id} not found")
    if _row(subprocessor_id, safeguard_id) is not None:
        raise AlreadyExists(f"{safeguard_name(subprocessor_id, safeguard_id)} already exists")
    SafeguardRow.create(
        subprocessor_id=subprocessor_id,
        safeguard_id=safeguard_id,
        revision=1,
        create_time=m.now,
        update_time=m.now,
        **_columns(sg),
    )
    m.record(
        "transfer.safeguard.create",
        safeguard_name(subprocessor_id, safeguard_id),
        None,
        _as_change(sg),
    )
    return get_safeguard(subprocessor_id, safeguard_id)


UPDATABLE = frozenset(
    {
        "destination_country",
        "mechanism",
        "scc_decision",
        "scc_module",
        "clause9_option",
        "signed_on",
        "tia_reference",
        "tia_date",
        "tia_review_due",
        "supplementary_measures",
        "review_date",
        "instrument_reference",
    }
)


def update_safeguard(
    m: Mutation,
    subprocessor_id: str,
    safeguard_id: str,
    etag: str,
    proposed: Safeguard,
    fields: frozenset[str],
) -> StoredSafeguard:
    current = get_safeguard(subprocessor_id, safeguard_id)
    if etag and etag != current.etag:
        raise Aborted(f"etag {etag!r} is stale; current is {current.etag!r}")
    merged = replace(current.safeguard, **{f: getattr(proposed, f) for f in fields})
    errors = Violations()
    validate_safeguard(merged, current_reference(), "safeguard", errors)
    errors.raise_if_any()
    updated = (
        SafeguardRow.update(revision=current.revision + 1, update_time=m.now, **_columns(merged))
        .where(
            (SafeguardRow.subprocessor_id == subprocessor_id)
            & (SafeguardRow.safeguard_id == safeguard_id)
            & (SafeguardRow.revision == current.revision)
        )
        .execute()
    )
    if updated != 1:
        raise Aborted("safeguard changed concurrently; re-read and retry")
    change = _as_change(merged)
    m.record(
        "transfer.safeguard.update",
        current.name,
        None,
        {"fields": sorted(fields), "new": {f: change.get(f) for f in sorted(fields)}},
    )
    return get_safeguard(subprocessor_id, safeguard_id)


def safeguards_of(subprocessor_ids: Collection[str] | None) -> dict[str, list[Safeguard]]:
    """Sub-processor id -> its safeguards (ordered by safeguard id); one query a chunk."""
    result: dict[str, list[Safeguard]] = {}
    for query in _chunked(subprocessor_ids):
        for row in query.order_by(SafeguardRow.subprocessor_id, SafeguardRow.safeguard_id):
            result.setdefault(row.subprocessor_id, []).append(to_safeguard(row))
    return result


def all_safeguards() -> list[StoredSafeguard]:
    """Every safeguard, by (sub-processor, safeguard id)."""
    query = SafeguardRow.select().order_by(SafeguardRow.subprocessor_id, SafeguardRow.safeguard_id)
    return [_stored(r) for r in query]


def _chunked(ids: Collection[str] | None) -> Iterator[Any]:
    if ids is None:
        yield SafeguardRow.select()
        return
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        yield SafeguardRow.select().where(SafeguardRow.subprocessor_id.in_(wanted[i : i + _CHUNK]))


@changefeed.publishes("subprocessors.safeguards")
def _touched_safeguard(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    touched.subprocessors.add(ids[0])
