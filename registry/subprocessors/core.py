"""Sub-processor records: validation, create, read, update, and the use check.

Art. 28(4): the agreement with each sub-processor (signed date, reference,
digest of the document, flow-down of the DPA obligations) is recorded with it;
for a US entity its EU-US Data Privacy Framework status and the date it was
last checked (Decision (EU) 2023/1795) are required.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from registry import names, paging, taxonomy, validate
from registry.auth import Caller, Role
from registry.errors import Aborted, AlreadyExists, NotFound, Violations
from registry.ledger import Mutation
from registry.subprocessors import engagement
from registry.subprocessors.model import NoticeRow, RecipientRow, SubprocessorRow
from registry.subprocessors.types import (
    AuthorizationState,
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


def _columns(d: Details) -> dict[str, Any]:
    return {
        "display_name": d.display_name,
        "legal_name": d.legal_name,
        "address": d.address,
        "country": d.country,
        "contact_email": d.contact_email,
        "service_category": d.service_category.value if d.service_category else "",
        "locations": ",".join(d.locations),
        "data_categories": "\n".join(d.data_categories),
        "purpose": d.purpose,
        "agreement_signed_date": d.agreement.signed_date,
        "agreement_reference": d.agreement.reference,
        "agreement_digest": d.agreement.document_digest,
        "flow_down_confirmed": d.agreement.flow_down_confirmed,
        "certifications": "\n".join(d.certifications),
        "dpf_status": (d.dpf_status or DpfStatus.NOT_APPLICABLE).value,
        "dpf_checked_date": d.dpf_checked_date,
        "scope": d.scope.value,
    }


def visible_to_controller(controller_id: str, subprocessor_id: str) -> bool:
    """What a controller may see of the registry: a sub-processor engaged for
    it in any state, or the subject of a change notice it received. The one
    rule for resources and the audit-log view alike (``registry.visibility``)."""
    if engagement.state(controller_id, subprocessor_id) is not None:
        return True
    return (
        RecipientRow.select()
        .join(NoticeRow, on=RecipientRow.notice_id == NoticeRow.notice_id)
        .where(
            (RecipientRow.controller_id == controller_id)
            & (
                (NoticeRow.subprocessor_id == subprocessor_id)
                | (NoticeRow.replaced_id == subprocessor_id)
            )
        )
        .exists()
    )


def existing(subprocessor_ids: Collection[str]) -> set[str]:
    """The registered sub-processors among ``subprocessor_ids``."""
    s = SubprocessorRow
    found: set[str] = set()
    wanted = sorted(set(subprocessor_ids))
    for i in range(0, len(wanted), 500):
        query = s.select(s.subprocessor_id).where(s.subprocessor_id.in_(wanted[i : i + 500]))
        found.update(str(sid) for sid in query.scalars())
    return found


def records(subprocessor_ids: Collection[str] | None) -> list[Subprocessor]:
    """The sub-processors among ``subprocessor_ids`` (every one if None), as values."""
    s = SubprocessorRow
    if subprocessor_ids is None:
        return [from_row(r) for r in s.select().order_by(s.subprocessor_id)]
    wanted = sorted(set(subprocessor_ids))
    result: list[Subprocessor] = []
    for i in range(0, len(wanted), 500):
        query = s.select().where(s.subprocessor_id.in_(wanted[i : i + 500]))
        result.extend(from_row(r) for r in query)
    return result


def get_row(subprocessor_id: str) -> SubprocessorRow | None:
    row: SubprocessorRow | None = SubprocessorRow.get_or_none(
        SubprocessorRow.subprocessor_id == subprocessor_id
    )
    return row


def get(caller: Caller, subprocessor_id: str) -> Subprocessor:
    row = get_row(subprocessor_id)
    hidden = caller.role is Role.CONTROLLER and not visible_to_controller(
        caller.tenant or "", subprocessor_id
    )
    if row is None or hidden:
        raise NotFound(f"{COLLECTION}/{subprocessor_id} not found")
    return from_row(row)


def list_page(page: paging.Page) -> list[Subprocessor]:
    query = SubprocessorRow.select().order_by(SubprocessorRow.subprocessor_id).limit(page.size)
    if page.after is not None:
        query = query.where(SubprocessorRow.subprocessor_id > page.after)
    return [from_row(r) for r in query]


def create(m: Mutation, subprocessor_id: str, details: Details) -> Subprocessor:
    """Registers a sub-processor as PROPOSED: no data goes to it before a
    change notice for it takes effect (Art. 28(2))."""
    errors = details.validate("subprocessor", m.now.date())
    validate.resource_id("subprocessor.subprocessor_id", subprocessor_id, errors)
    errors.raise_if_any()
    if get_row(subprocessor_id) is not None:
        raise AlreadyExists(f"{COLLECTION}/{subprocessor_id} already exists")
    SubprocessorRow.create(
        subprocessor_id=subprocessor_id,
        status=Status.PROPOSED.value,
        revision=1,
        create_time=m.now,
        update_time=m.now,
        **_columns(details),
    )
    m.record(
        "subprocessor.create",
        names.make(COLLECTION, subprocessor_id),
        None,
        {**details.as_change(), "status": Status.PROPOSED.value},
    )
    return get(m.caller, subprocessor_id)


def update(
    m: Mutation, subprocessor_id: str, etag: str, proposed: Details, fields: frozenset[str]
) -> Subprocessor:
    current = get(m.caller, subprocessor_id)
    if etag and etag != current.etag:
        raise Aborted(f"etag {etag!r} is stale; current is {current.etag!r}")
    merged = replace(current.details, **{f: getattr(proposed, f) for f in fields})
    merged.validate("subprocessor", m.now.date()).raise_if_any()
    updated = (
        SubprocessorRow.update(revision=current.revision + 1, update_time=m.now, **_columns(merged))
        .where(
            (SubprocessorRow.subprocessor_id == subprocessor_id)
            & (SubprocessorRow.revision == current.revision)
        )
        .execute()
    )
    if updated != 1:
        raise Aborted("sub-processor changed concurrently; re-read and retry")
    change = merged.as_change()
    m.record(
        "subprocessor.update",
        current.name,
        None,
        {"fields": sorted(fields), "new": {f: change.get(f) for f in sorted(fields)}},
    )
    return get(m.caller, subprocessor_id)


def state_for(controller_id: str, subprocessor_id: str) -> AuthorizationState | None:
    """The controller's authorisation of the sub-processor; None if not engaged."""
    return engagement.state(controller_id, subprocessor_id)


def may_use(controller_id: str, subprocessor_id: str) -> bool:
    """True only if the sub-processor is ACTIVE and AUTHORIZED for the controller.

    An objection (OBJECTED), a pending decision or a withdrawal blocks use of
    the sub-processor for that controller's data.
    """
    row = get_row(subprocessor_id)
    if row is None or row.status != Status.ACTIVE.value:
        return False
    return engagement.state(controller_id, subprocessor_id) is AuthorizationState.AUTHORIZED
