"""The end of a DPA (Art. 28(3)(g)): termination, after which every check for the
controller is DENIED, and the confirmation that its data were returned or
deleted, after which no sub-processor is taken to hold them."""

from __future__ import annotations

from registry.agreements.lifecycle import check_etag, get_row, require_state, save
from registry.agreements.model import AgreementLine
from registry.agreements.terms import agreement_name
from registry.agreements.types import AgreementState, EndOfContract
from registry.agreements.values import Agreement, agreement_of
from registry.errors import (
    FailedPrecondition,
    InvalidArgument,
    Violations,
)
from registry.ledger import Mutation


def terminate(
    m: Mutation,
    controller_id: str,
    version: int | None,
    disposition: EndOfContract | None,
    reason: str,
    etag: str,
) -> Agreement:
    """ACTIVE -> TERMINATED; every later check for the controller is DENIED."""
    row = get_row(m.caller, controller_id, version)
    require_state(row, AgreementState.ACTIVE, "terminate")
    check_etag(row, etag)
    if len(reason) > 2000:
        raise InvalidArgument.one("reason", "is longer than 2000 characters")
    chosen = disposition or EndOfContract(row.end_of_contract)
    row = save(
        m,
        row,
        state=AgreementState.TERMINATED.value,
        terminated_by=m.caller.spiffe_id,
        terminate_time=m.now,
        termination_reason=reason,
        disposition=chosen.value,
    )
    AgreementLine.update(
        active_version=None, ended_version=row.version, instruction_version=None
    ).where(AgreementLine.controller_id == controller_id).execute()
    m.record(
        "agreement.terminate",
        agreement_name(controller_id, row.version),
        controller_id,
        {"version": row.version, "disposition": chosen.value, "reason": reason},
    )
    return agreement_of(row)


def confirm_disposition(
    m: Mutation, controller_id: str, version: int | None, confirmation: str
) -> Agreement:
    """Attaches the evidence that the data were returned or deleted."""
    row = get_row(m.caller, controller_id, version)
    require_state(row, AgreementState.TERMINATED, "confirm the data disposition of")
    if row.disposition_confirmation:
        raise FailedPrecondition("the data disposition is already confirmed")
    errors = Violations()
    if not confirmation.strip():
        errors.add("confirmation", "must not be empty")
    elif len(confirmation) > 4000:
        errors.add("confirmation", "is longer than 4000 characters")
    errors.raise_if_any()
    row = save(
        m,
        row,
        disposition_confirmation=confirmation,
        disposition_confirmed_by=m.caller.spiffe_id,
        disposition_confirm_time=m.now,
    )
    m.record(
        "agreement.confirm_disposition",
        agreement_name(controller_id, row.version),
        controller_id,
        {"version": row.version, "disposition": row.disposition, "confirmation": confirmation},
    )
    return agreement_of(row)
