"""Change notices (GDPR Art. 28(2); SCC 2021/914 Clause 9).

Staff propose an ADDITION, REPLACEMENT or REMOVAL with an effective time.
Every affected controller (one with an ACTIVE DPA for which the change
matters) gets a notice in its inbox and an audit event under its own tenant.

* Advance notice: an addition or replacement must take effect no earlier than
  each controller's own notice period after today; otherwise the proposal is
  refused with INVALID_ARGUMENT naming every controller it would violate
  (nothing is written). Removals need no advance notice.
* Objection window: each controller's own objection period, counted from the
  notice. GENERAL authorisation: the change is authorised when the window
  closes without objection (the scheduler does this). SPECIFIC authorisation:
  it stays PENDING until the controller approves.
* An objection blocks use of the sub-processor for that controller and goes
  to the staff queue, resolved by an alternative arrangement or the
  controller's termination right.

The scheduler's transitions are conditional updates on database state, so
they are safe to repeat, to interrupt, and to run in several processes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from registry import changefeed, clock, db, names
from registry.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import core, engagement, notices
from registry.subprocessors.model import AuthorizationRow, NoticeRow, RecipientRow, SubprocessorRow
from registry.subprocessors.notices import (
    BATCH,
    COLLECTION,
    NAMED_VIOLATIONS,
    ControllerChange,
    Mode,
    Notice,
    Proposal,
    Terms,
    controller_change,
    earliest_effective,
    get,
    may_object,
    notice_period_violations,
)
from registry.subprocessors.types import (
    AuthorizationState,
    ChangeKind,
    Decision,
    NoticeState,
    Resolution,
    Scope,
    Status,
)

# -- proposing ----------------------------------------------------------------


def _refuse_violations(violators: Sequence[Terms], notified: datetime) -> None:
    errors = Violations()
    for t in violators[:NAMED_VIOLATIONS]:
        earliest = clock.rfc3339(earliest_effective(notified, t))
        errors.add(
            "change_notice.effective_time",
            f"violates the {t.notice_days}-day advance-notice period of controller "
            f"{t.controller_id} (earliest {earliest})",
        )
    if len(violators) > NAMED_VIOLATIONS:
        errors.add(
            "change_notice.effective_time",
            f"and {len(violators) - NAMED_VIOLATIONS} more controllers",
        )
    errors.raise_if_any()


def _validate(p: Proposal, now: datetime) -> tuple[SubprocessorRow, SubprocessorRow | None]:
    errors = Violations()
    sp = core.get_row(p.subprocessor_id)
    if sp is None:
        errors.add("change_notice.subprocessor", "no such sub-processor")
    replaced: SubprocessorRow | None = None
    if p.kind is ChangeKind.REPLACEMENT:
        replaced = core.get_row(p.replaced_id) if p.replaced_id else None
        if replaced is None:
            errors.add("change_notice.replaced_subprocessor", "no such sub-processor")
        elif replaced.status != Status.ACTIVE.value:
            errors.add("change_notice.replaced_subprocessor", "is not ACTIVE")
        elif p.replaced_id == p.subprocessor_id:
            errors.add("change_notice.replaced_subprocessor", "must differ from subprocessor")
    elif p.replaced_id:
        errors.add("change_notice.replaced_subprocessor", "only for a REPLACEMENT")
    if p.effective_time <= now:
        errors.add("change_notice.effective_time", "must be in the future")
    if sp is not None:
        if p.kind is ChangeKind.REMOVAL:
            if sp.status != Status.ACTIVE.value:
                errors.add("change_notice.subprocessor", "is not ACTIVE")
        elif sp.status == Status.RETIRED.value:
            errors.add("change_notice.subprocessor", "is RETIRED")
        named = p.kind is ChangeKind.ADDITION and sp.scope == Scope.NAMED_CONTROLLERS.value
        if named and not p.controller_ids:
            errors.add("controller_ids", "name the controllers this sub-processor will serve")
        if p.controller_ids and not named:
            errors.add("controller_ids", "only for an ADDITION of a NAMED_CONTROLLERS one")
    errors.raise_if_any()
    assert sp is not None
    return sp, replaced


def _affected(
    p: Proposal, sp: SubprocessorRow, replaced: SubprocessorRow | None
) -> Mapping[str, Terms]:
    if p.kind is ChangeKind.ADDITION:
        if sp.scope == Scope.PLATFORM.value:
            return notices.terms_source(None)
        found = notices.terms_source(p.controller_ids)
        errors = Violations()
        for i, cid in enumerate(p.controller_ids):
            if cid not in found:
                errors.add(f"controller_ids[{i}]", f"controller {cid!r} has no ACTIVE DPA")
        errors.raise_if_any()
        return found
    target = replaced if replaced is not None else sp
    serving = engagement.served([target.subprocessor_id]).get(target.subprocessor_id)
    if serving is None:
        return {}
    named = serving.named()
    if named is None:
        everyone = notices.terms_source(None)
        return {cid: everyone[cid] for cid in serving.controllers(everyone)}
    return notices.terms_source(sorted(named)) if named else {}


def set_authorizations(
    controller_ids: Sequence[str],
    subprocessor_id: str,
    state: AuthorizationState,
    notice_id: str,
    now: datetime,
) -> None:
    """Upserts (controller, sub-processor) rows to ``state``, in batches."""
    for i in range(0, len(controller_ids), BATCH):
        batch = controller_ids[i : i + BATCH]
        AuthorizationRow.delete().where(
            (AuthorizationRow.subprocessor_id == subprocessor_id)
            & AuthorizationRow.controller_id.in_(batch)
        ).execute()
        db.insert_rows(
            AuthorizationRow,
            [
                {
                    "controller_id": cid,
                    "subprocessor_id": subprocessor_id,
                    "state": state.value,
                    "notice_id": notice_id,
                    "update_time": now,
                }
                for cid in batch
            ],
        )


def _title(kind: ChangeKind, sp: SubprocessorRow, replaced: SubprocessorRow | None) -> str:
    if kind is ChangeKind.ADDITION:
        return f"New sub-processor: {sp.display_name}"
    if kind is ChangeKind.REPLACEMENT and replaced is not None:
        return f"Sub-processor {replaced.display_name} to be replaced by {sp.display_name}"
    return f"Sub-processor {sp.display_name} to be removed"


def notice_period_conflicts(p: Proposal, now: datetime) -> list[Terms]:
    """The controllers whose advance-notice period ``p`` would violate if
    proposed at ``now``, ordered by id (the full list; a refusal names 50)."""
    sp, replaced = _validate(p, now)
    affected = _affected(p, sp, replaced)
    return notice_period_violations(p.kind, now, p.effective_time, affected.values())


def propose(m: Mutation, p: Proposal) -> Notice:
    sp, replaced = _validate(p, m.now)
    affected = _affected(p, sp, replaced)
    _refuse_violations(
        notice_period_violations(p.kind, m.now, p.effective_time, affected.values()), m.now
    )
    notice_id = "cn-" + secrets.token_hex(8)
    resource = names.make(COLLECTION, notice_id)
    NoticeRow.create(
        notice_id=notice_id,
        kind=p.kind.value,
        subprocessor_id=p.subprocessor_id,
        replaced_id=p.replaced_id or None,
        effective_time=p.effective_time,
        reason=p.reason,
        state=NoticeState.OPEN.value,
        recipients=len(affected),
        create_time=m.now,
    )
    decision = Decision.INFORMED if p.kind is ChangeKind.REMOVAL else Decision.PENDING
    ordered = sorted(affected.values(), key=lambda t: t.controller_id)
    if p.kind is not ChangeKind.REMOVAL:
        set_authorizations(
            [t.controller_id for t in ordered],
            p.subprocessor_id,
            AuthorizationState.PENDING,
            notice_id,
            m.now,
        )
    m.record(
        "subprocessor.change.propose",
        resource,
        None,
        {
            "kind": p.kind.value,
            "subprocessor": p.subprocessor_id,
            "replaced": p.replaced_id,
            "effective_time": clock.rfc3339(p.effective_time),
            "reason": p.reason,
            "recipients": len(ordered),
        },
    )
    # One notification per controller. Its objection window is its own and
    # begins when the notice reaches it (notices.objection_deadline): the
    # scheduler starts it from the delivery evidence.
    by_window: dict[tuple[int, str], list[str]] = {}
    for t in ordered:
        by_window.setdefault((t.objection_days, t.mode.value), []).append(t.controller_id)
    title = _title(p.kind, sp, replaced)
    numbers: dict[str, int] = {}
    for (objection_days, mode), cids in sorted(by_window.items()):
        payload: dict[str, Any] = {
            "change_notice": resource,
            "kind": p.kind.value,
            "subprocessor": names.make(core.COLLECTION, p.subprocessor_id),
            "effective_time": clock.rfc3339(p.effective_time),
            "authorization_mode": mode,
        }
        if p.replaced_id:
            payload["replaced_subprocessor"] = names.make(core.COLLECTION, p.replaced_id)
        if decision is Decision.PENDING:
            payload["objection_days"] = objection_days
        body = f"Effective {clock.rfc3339(p.effective_time)}. " + (
            f"You may object within {objection_days} days of this notice first reaching "
            "you (by any channel); the registry shows your deadline once it has."
            if decision is Decision.PENDING and mode == Mode.GENERAL.value
            else "Your approval is required before it is used for your data."
            if decision is Decision.PENDING
            else "No action is needed."
        )
        made = notifications.notify(
            m, cids, notifications.Kind.SUBPROCESSOR_CHANGE, title, body, resource, payload
        )
        numbers.update((n.controller_id, n.id) for n in made)
    rows = [
        {
            "notice_id": notice_id,
            "controller_id": t.controller_id,
            "mode": t.mode.value,
            "notice_days": t.notice_days,
            "objection_days": t.objection_days,
            "notified_time": m.now,
            "notification": numbers[t.controller_id],
            "first_delivery_time": None,
            "window_end": None,
            "decision": decision.value,
        }
        for t in ordered
    ]
    db.insert_rows(RecipientRow, rows)
    return get(notice_id)


# -- controller decisions -----------------------------------------------------


def _decide(m: Mutation, notice_id: str, decision: Decision, reason: str) -> ControllerChange:
    controller_id = m.caller.tenant
    if controller_id is None:
        raise NotFound(f"{COLLECTION}/{notice_id} not found")
    current = controller_change(controller_id, notice_id)
    if decision is Decision.OBJECTED:
        if not reason.strip():
            raise InvalidArgument.one("reason", "an objection needs a reason")
        deadline = current.objection_deadline
        if not may_object(current.decision, current.mode, deadline, m.now):
            raise FailedPrecondition(
                f"cannot object: the change is {current.decision.value} and the objection "
                f"window closed at {clock.rfc3339(deadline)}"
                if current.decision is Decision.PENDING and deadline is not None
                else f"cannot object: the change is already {current.decision.value}"
            )
    elif current.decision is not Decision.PENDING:
        raise FailedPrecondition(f"the change is already {current.decision.value}")
    updated = (
        RecipientRow.update(decision=decision.value, reason=reason, decided_time=m.now)
        .where(
            (RecipientRow.notice_id == notice_id)
            & (RecipientRow.controller_id == controller_id)
            & (RecipientRow.decision == Decision.PENDING.value)
        )
        .execute()
    )
    if updated != 1:
        raise FailedPrecondition("the change was decided concurrently; re-read it")
    state = (
        AuthorizationState.OBJECTED
        if decision is Decision.OBJECTED
        else AuthorizationState.AUTHORIZED
    )
    transition_authorization(controller_id, current.notice.subprocessor_id, notice_id, state, m.now)
    m.record(
        "subprocessor.change.object"
        if decision is Decision.OBJECTED
        else "subprocessor.change.approve",
        names.make(COLLECTION, notice_id),
        controller_id,
        {"decision": decision.value, "reason": reason},
    )
    return controller_change(controller_id, notice_id)


def transition_authorization(
    controller_id: str,
    subprocessor_id: str,
    notice_id: str,
    state: AuthorizationState,
    now: datetime,
) -> None:
    AuthorizationRow.update(state=state.value, update_time=now).where(
        (AuthorizationRow.controller_id == controller_id)
        & (AuthorizationRow.subprocessor_id == subprocessor_id)
        & (AuthorizationRow.notice_id == notice_id)
        & (AuthorizationRow.state == AuthorizationState.PENDING.value)
    ).execute()


def approve(m: Mutation, notice_id: str) -> ControllerChange:
    return _decide(m, notice_id, Decision.AUTHORIZED, "")


def object_to(m: Mutation, notice_id: str, reason: str) -> ControllerChange:
    return _decide(m, notice_id, Decision.OBJECTED, reason)


def resolve(
    m: Mutation, notice_id: str, controller_id: str, resolution: Resolution, note: str
) -> ControllerChange:
    """Staff record how an objection was resolved; the sub-processor stays
    unused for that controller (its authorisation remains OBJECTED)."""
    if resolution is Resolution.UNRESOLVED:
        raise InvalidArgument.one("resolution", "choose ALTERNATIVE_ARRANGEMENT or TERMINATION")
    current = controller_change(controller_id, notice_id)
    if current.decision is not Decision.OBJECTED:
        raise FailedPrecondition("the controller has not objected to this change")
    if current.resolution is not Resolution.UNRESOLVED:
        raise FailedPrecondition(f"already resolved: {current.resolution.value}")
    RecipientRow.update(resolution=resolution.value, resolution_note=note).where(
        (RecipientRow.notice_id == notice_id) & (RecipientRow.controller_id == controller_id)
    ).execute()
    resource = names.make(COLLECTION, notice_id)
    m.record(
        "subprocessor.objection.resolve",
        resource,
        controller_id,
        {"resolution": resolution.value, "note": note},
    )
    notifications.notify(
        m,
        [controller_id],
        notifications.Kind.OBJECTION_RESOLVED,
        "Your objection to a sub-processor change was resolved",
        note or resolution.value,
        resource,
        {"change_notice": resource, "resolution": resolution.value},
        audit=False,
    )
    return controller_change(controller_id, notice_id)


@changefeed.publishes("subprocessors")
def _touched_subprocessor(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    """The record itself; with a tenant, that controller's authorisation."""
    touched.subprocessors.add(ids[0])
    if tenant:
        touched.controllers.add(tenant)


@changefeed.publishes("changeNotices")
def _touched_notice(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    """One controller's answer touches its authorisations; a processor-wide
    notice event (proposed, effective) the status of its sub-processors and
    many controllers' authorisations, which live with the sub-processors."""
    if tenant:
        touched.controllers.add(tenant)
        return
    row = NoticeRow.get_or_none(NoticeRow.notice_id == ids[0])
    if row is not None:
        touched.subprocessors.add(row.subprocessor_id)
        if row.replaced_id:
            touched.subprocessors.add(row.replaced_id)
