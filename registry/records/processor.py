"""The processor's own details that Art. 30(2)(a) asks for beside its name
and contacts (those come from the DPA template): its data protection officer
(Art. 37) and, where it has one, its representative in the Union (Art. 27).
Staff record them; every change is one audit entry about ``processor``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from registry import changefeed, db, validate
from registry.audit.events import canonical
from registry.errors import Aborted, Violations
from registry.ledger import Mutation

RESOURCE = "processor"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str = ""
    address: str = ""
    country: str = ""

    def validate(self, prefix: str, errors: Violations) -> None:
        validate.text(f"{prefix}.name", self.name, errors, max_len=200)
        validate.email(f"{prefix}.email", self.email, errors)
        if len(self.phone) > 50:
            errors.add(f"{prefix}.phone", "longer than 50 characters")
        if len(self.address) > 1000:
            errors.add(f"{prefix}.address", "longer than 1000 characters")
        if self.country:
            validate.country(f"{prefix}.country", self.country, errors)

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "address": self.address,
            "country": self.country,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Contact | None:
        return None if data is None else cls(**{k: str(v) for k, v in data.items()})


@dataclass(frozen=True)
class Details:
    dpo: Contact | None = None
    representative: Contact | None = None

    def validate(self) -> None:
        errors = Violations()
        if self.dpo is not None:
            self.dpo.validate("details.dpo", errors)
        if self.representative is not None:
            self.representative.validate("details.representative", errors)
            if not self.representative.address.strip():
                errors.add("details.representative.address", "is required (Art. 27(1))")
        errors.raise_if_any()

    def to_json(self) -> dict[str, Any]:
        """As the record and the audit entry show them."""
        return {
            "dpo": self.dpo.to_json() if self.dpo else None,
            "representative": self.representative.to_json() if self.representative else None,
        }


@dataclass(frozen=True)
class Recorded:
    details: Details
    revision: int
    update_time: datetime | None

    @property
    def etag(self) -> str:
        return f"r{self.revision}"


class ProcessorDetailsRow(db.BaseModel):
    """Single row (id=1): the current details, canonical JSON."""

    id = peewee.IntegerField(primary_key=True)
    content = peewee.TextField()
    revision = peewee.IntegerField()
    update_time = db.UtcDateTimeField()

    class Meta:
        table_name = "processor_details"


@db.migration(163, "processor's DPO and representative")
def _create(database: peewee.Database) -> None:
    database.create_tables([ProcessorDetailsRow])


def get() -> Recorded:
    row = ProcessorDetailsRow.get_or_none(ProcessorDetailsRow.id == 1)
    if row is None:
        return Recorded(Details(), 0, None)
    data = json.loads(row.content)
    return Recorded(
        Details(Contact.from_json(data["dpo"]), Contact.from_json(data["representative"])),
        row.revision,
        row.update_time,
    )


def update(m: Mutation, details: Details, etag: str) -> Recorded:
    details.validate()
    current = get()
    if etag and etag != current.etag:
        raise Aborted(f"etag {etag!r} is stale; current is {current.etag!r}")
    content = canonical(details.to_json()).decode()
    if current.revision == 0:
        ProcessorDetailsRow.create(id=1, content=content, revision=1, update_time=m.now)
    else:
        ProcessorDetailsRow.update(
            content=content, revision=current.revision + 1, update_time=m.now
        ).where(ProcessorDetailsRow.id == 1).execute()
    m.record("processor.update", RESOURCE, None, details.to_json())
    return get()


@changefeed.publishes(RESOURCE)
def _touched(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    touched.processor = True
