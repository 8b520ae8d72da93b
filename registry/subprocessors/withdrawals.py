"""A controller withdraws an authorisation it gave (Art. 28(2)).

A specific approval, or a general authorisation after its objection window
closed (or the signed annex's authorisation of a platform-wide
sub-processor), can be withdrawn at any time. From that moment the
authorisation is WITHDRAWN: the engagement rule
(``registry.subprocessors.engagement``) no longer lists the sub-processor for
the controller, CheckTransfer denies transfers through it for the
controller's data, staff see the withdrawal in their queue, and the
controller gets a notice. While the change is still open the controller
objects to it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from registry import names, paging, validate
from registry.errors import FailedPrecondition, NotFound, Violations
from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import annex, core, engagement
from registry.subprocessors.model import AuthorizationRow, WithdrawalRow
from registry.subprocessors.types import AuthorizationState


@dataclass(frozen=True)
class Withdrawal:
    controller_id: str
    subprocessor_id: str
    reason: str
    withdraw_time: datetime


def withdraw(
    m: Mutation, controller_id: str, subprocessor_id: str, reason: str
) -> annex.AnnexEntry:
    """AUTHORIZED -> WITHDRAWN for this controller; audited, notified."""
    m.caller.require(controller_id, f"controllers/{controller_id}")
    resource = names.make(core.COLLECTION, subprocessor_id)
    engaged = engagement.engaged(controller_id, subprocessor_id)
    if engaged is None or not core.visible_to_controller(controller_id, subprocessor_id):
        raise NotFound(f"{resource} not found")
    row, state = engaged
    if state is AuthorizationState.PENDING:
        raise FailedPrecondition(
            f"the change for {resource} is still open: object to its change notice instead"
        )
    if state is not AuthorizationState.AUTHORIZED:
        raise FailedPrecondition(f"{resource} is {state.value} for you: nothing to withdraw")
    errors = Violations()
    if not reason.strip():
        errors.add("reason", "is required")
    validate.text("reason", reason, errors, max_len=2000)
    errors.raise_if_any()
    a = AuthorizationRow
    updated = (
        a.update(state=AuthorizationState.WITHDRAWN.value, notice_id=None, update_time=m.now)
        .where((a.controller_id == controller_id) & (a.subprocessor_id == subprocessor_id))
        .execute()
    )
    if not updated:
        a.create(
            controller_id=controller_id,
            subprocessor_id=subprocessor_id,
            state=AuthorizationState.WITHDRAWN.value,
            notice_id=None,
            update_time=m.now,
        )
    WithdrawalRow.create(
        controller_id=controller_id,
        subprocessor_id=subprocessor_id,
        reason=reason,
        withdraw_time=m.now,
    )
    m.record(
        "subprocessor.authorization.withdraw",
        resource,
        controller_id,
        {"subprocessor": resource, "reason": reason},
    )
    notifications.notify(
        m,
        [controller_id],
        notifications.Kind.SUBPROCESSOR_CHANGE,
        f"You withdrew your authorisation of {row.details.display_name}",
        f"From {m.now.isoformat(timespec='seconds')} none of your data goes to "
        f"{row.details.display_name} ({resource}). The processor will contact you about "
        "how the service continues without it.",
        resource,
        {"subprocessor": resource, "reason": reason},
        audit=False,
    )
    return annex.entry(row, AuthorizationState.WITHDRAWN)


def list_page(page: paging.Page) -> list[Withdrawal]:
    """Staff queue, newest first."""
    w = WithdrawalRow
    query = w.select().order_by(w.id.desc()).limit(page.size)
    if page.after is not None:
        query = query.where(w.id < int(page.after))
    return [
        Withdrawal(r.controller_id, r.subprocessor_id, r.reason, r.withdraw_time) for r in query
    ]


def page_keys(page: paging.Page) -> list[str]:
    w = WithdrawalRow
    query = w.select(w.id).order_by(w.id.desc()).limit(page.size)
    if page.after is not None:
        query = query.where(w.id < int(page.after))
    return [str(i) for i in query.scalars()]
