"""Sub-processor records: validation, create, read, update, and the use check.

Art. 28(4): the agreement with each sub-processor (signed date, reference,
digest of the document, flow-down of the DPA obligations) is recorded with it;
for a US entity its EU-US Data Privacy Framework status and the date it was
last checked (Decision (EU) 2023/1795) are required.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from registry import db, names, paging, validate
from registry.auth import Caller, Role
from registry.errors import Aborted, AlreadyExists, NotFound
from registry.ledger import Mutation
from registry.subprocessors import engagement, values
from registry.subprocessors.model import NoticeRow, RecipientRow, SubprocessorRow
from registry.subprocessors.types import (
    AuthorizationState,
    DpfStatus,
    Status,
)
from registry.subprocessors.values import Details, Subprocessor, from_row

COLLECTION = values.COLLECTION


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
    about = NoticeRow.select(NoticeRow.notice_id).where(
        (NoticeRow.subprocessor_id == subprocessor_id) | (NoticeRow.replaced_id == subprocessor_id)
    )
    return (
        RecipientRow.select()
        .where((RecipientRow.controller_id == controller_id) & RecipientRow.notice_id.in_(about))
        .exists()
    )


def existing(subprocessor_ids: Collection[str]) -> set[str]:
    """The registered sub-processors among ``subprocessor_ids``."""
    s = SubprocessorRow
    found: set[str] = set()
    for chunk in db.in_chunks(subprocessor_ids):
        query = s.select(s.subprocessor_id).where(s.subprocessor_id.in_(chunk))
        found.update(str(sid) for sid in query.scalars())
    return found


def records(subprocessor_ids: Collection[str] | None) -> list[Subprocessor]:
    """The sub-processors among ``subprocessor_ids`` (every one if None), as values."""
    s = SubprocessorRow
    if subprocessor_ids is None:
        return [from_row(r) for r in s.select().order_by(s.subprocessor_id)]
    result: list[Subprocessor] = []
    for chunk in db.in_chunks(subprocessor_ids):
        query = s.select().where(s.subprocessor_id.in_(chunk))
        result.extend(from_row(r) for r in query)
    return result


def _by_id(subprocessor_id: str) -> Any:
    return SubprocessorRow.select().where(SubprocessorRow.subprocessor_id == subprocessor_id)


def get_row(subprocessor_id: str) -> SubprocessorRow | None:
    query = SubprocessorRow.raw(db.built(_by_id, "id"), subprocessor_id)
    row: SubprocessorRow | None = next(iter(query), None)
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
