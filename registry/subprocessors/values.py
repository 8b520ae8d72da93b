"""The sub-processor as a value: its descriptive details (with their validation)
and its Art. 28(4) agreement. Built from a row by ``from_row``; nothing here
reads or writes storage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from registry import names, taxonomy, validate
from registry.errors import Violations
from registry.subprocessors.model import SubprocessorRow
from registry.subprocessors.types import (
    DpfStatus,
    Scope,
    ServiceCategory,
    Status,
)

COLLECTION = "subprocessors"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Agreement:
    """The Art. 28(4) contract with the sub-processor."""

    signed_date: date | None = None
    reference: str = ""
    document_digest: str = ""
    flow_down_confirmed: bool = False


@dataclass(frozen=True)
class Details:
    display_name: str
    legal_name: str
    address: str
    country: str
    contact_email: str
    service_category: ServiceCategory | None
    locations: tuple[str, ...]
    data_categories: tuple[str, ...]
    purpose: str
    agreement: Agreement = field(default_factory=Agreement)
    certifications: tuple[str, ...] = ()
    dpf_status: DpfStatus | None = None
    dpf_checked_date: date | None = None
    scope: Scope = Scope.PLATFORM

    def validate(self, prefix: str, today: date) -> Violations:
        errors = Violations()
        validate.text(f"{prefix}.display_name", self.display_name, errors, max_len=200)
        validate.text(f"{prefix}.legal_name", self.legal_name, errors)
        validate.text(f"{prefix}.address", self.address, errors, max_len=1000)
        validate.country(f"{prefix}.country", self.country, errors)
        validate.email(f"{prefix}.contact_email", self.contact_email, errors)
        if self.service_category is None:
            errors.add(f"{prefix}.service_category", "is required")
        if not self.locations:
            errors.add(f"{prefix}.locations", "name at least one country")
        for i, code in enumerate(self.locations):
            validate.country(f"{prefix}.locations[{i}]", code, errors)
        if not self.data_categories:
            errors.add(f"{prefix}.data_categories", "name at least one fideslang data category")
        taxonomy.validate(
            taxonomy.Kind.DATA_CATEGORY, f"{prefix}.data_categories", self.data_categories, errors
        )
        validate.text(f"{prefix}.purpose", self.purpose, errors, max_len=2000)
        a = self.agreement
        if a.signed_date is not None and a.signed_date > today:
            errors.add(f"{prefix}.agreement.signed_date", "is in the future")
        if a.document_digest and not _DIGEST.fullmatch(a.document_digest):
            errors.add(f"{prefix}.agreement.document_digest", "must be sha256:<64 hex digits>")
        for i, cert in enumerate(self.certifications):
            validate.text(f"{prefix}.certifications[{i}]", cert, errors, max_len=200)
        if self.country == "US":
            if self.dpf_status not in (DpfStatus.CERTIFIED, DpfStatus.NOT_CERTIFIED):
                errors.add(f"{prefix}.dpf.status", "a US entity needs its DPF status checked")
            if self.dpf_checked_date is None:
                errors.add(f"{prefix}.dpf.checked_date", "is required for a US entity")
        elif self.dpf_status not in (None, DpfStatus.NOT_APPLICABLE):
            errors.add(f"{prefix}.dpf.status", "applies to US entities only")
        if self.dpf_checked_date is not None and self.dpf_checked_date > today:
            errors.add(f"{prefix}.dpf.checked_date", "is in the future")
        return errors

    def as_change(self) -> dict[str, Any]:
        a = self.agreement
        return {
            "display_name": self.display_name,
            "legal_name": self.legal_name,
            "address": self.address,
            "country": self.country,
            "contact_email": self.contact_email,
            "service_category": self.service_category.value if self.service_category else None,
            "locations": list(self.locations),
            "data_categories": list(self.data_categories),
            "purpose": self.purpose,
            "agreement": {
                "signed_date": a.signed_date.isoformat() if a.signed_date else None,
                "reference": a.reference,
                "document_digest": a.document_digest,
                "flow_down_confirmed": a.flow_down_confirmed,
            },
            "certifications": list(self.certifications),
            "dpf_status": self.dpf_status.value if self.dpf_status else None,
            "dpf_checked_date": self.dpf_checked_date.isoformat()
            if self.dpf_checked_date
            else None,
            "scope": self.scope.value,
        }


@dataclass(frozen=True)
class Subprocessor:
    subprocessor_id: str
    details: Details
    status: Status
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return names.make(COLLECTION, self.subprocessor_id)

    @property
    def etag(self) -> str:
        return f"r{self.revision}"


# Descriptive fields staff may update (status and scope change by notices).
UPDATABLE = frozenset(
    {
        "display_name",
        "legal_name",
        "address",
        "country",
        "contact_email",
        "service_category",
        "locations",
        "data_categories",
        "purpose",
        "agreement",
        "certifications",
        "dpf_status",
        "dpf_checked_date",
    }
)


def _split(value: str, sep: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(sep) if v)


def from_row(row: SubprocessorRow) -> Subprocessor:
    return Subprocessor(
        subprocessor_id=row.subprocessor_id,
        details=Details(
            display_name=row.display_name,
            legal_name=row.legal_name,
            address=row.address,
            country=row.country,
            contact_email=row.contact_email,
            service_category=ServiceCategory(row.service_category),
            locations=_split(row.locations, ","),
            data_categories=_split(row.data_categories, "\n"),
            purpose=row.purpose,
            agreement=Agreement(
                signed_date=row.agreement_signed_date,
                reference=row.agreement_reference,
                document_digest=row.agreement_digest,
                flow_down_confirmed=row.flow_down_confirmed,
            ),
            certifications=_split(row.certifications, "\n"),
            dpf_status=DpfStatus(row.dpf_status),
            dpf_checked_date=row.dpf_checked_date,
            scope=Scope(row.scope),
        ),
        status=Status(row.status),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
    )
