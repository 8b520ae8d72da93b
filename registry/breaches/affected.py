"""Who a breach affects (Art. 33(2), 28(3)(f)): the one engagement rule of the
sub-processor registry (whose data each affected sub-processor may still hold)
plus staff adjustments, kept in line as obligations with each DPA's deadline."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from registry import db, names, validate
from registry.agreements import terms
from registry.breaches import rules
from registry.breaches.model import AdjustmentRow, BreachRow, ObligationRow
from registry.breaches.notices import obligation_of
from registry.breaches.values import COLLECTION, notice_name
from registry.controllers import core as controllers
from registry.errors import Violations
from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import core as subprocessors
from registry.subprocessors import engagement

# -- the controllers' DPAs -----------------------------------------------------


@dataclass(frozen=True)
class DpaTerms:
    """What a controller's ACTIVE DPA says that a breach notice needs."""

    hours: int
    data_categories: tuple[str, ...] | None = None
    data_subjects: tuple[str, ...] | None = None


TermsSource = Callable[[Iterable[str] | None], Mapping[str, DpaTerms]]


def _dpa_terms(controller_ids: Iterable[str] | None) -> Mapping[str, DpaTerms]:
    """From the DPA domain's ``active_terms``: the notification hours and the
    data the DPA covers (its Annex I scope) for the notice in its terms.
    Controllers with the same terms share one value."""
    shared: dict[tuple[Any, ...], DpaTerms] = {}
    result: dict[str, DpaTerms] = {}
    for cid, t in terms.active_terms(controller_ids).items():
        key = (t.breach_notification_hours, t.data_categories, t.data_subjects)
        found = shared.get(key)
        if found is None:
            found = shared[key] = DpaTerms(
                t.breach_notification_hours, t.data_categories or None, t.data_subjects or None
            )
        result[cid] = found
    return result


terms_source: TermsSource = _dpa_terms
"""Where DPA terms come from; replaceable with a fake in unit tests."""


# -- who is affected -----------------------------------------------------------


def check_subprocessors(info: rules.Info, prefix: str) -> None:
    if not info.subprocessors:
        return
    known = subprocessors.existing(info.subprocessors)
    errors = Violations()
    for i, sp in enumerate(info.subprocessors):
        if sp not in known:
            errors.add(f"{prefix}.subprocessors[{i}]", f"no sub-processor {sp!r}")
    errors.raise_if_any()


def check_adjustments(
    add: Sequence[rules.Adjustment], remove: Sequence[rules.Adjustment], field_prefix: str
) -> None:
    errors = Violations()
    wanted = sorted({a.controller_id for a in add})
    known = controllers.existing(wanted)
    for name, items in (("add", add), ("remove", remove)):
        for i, adj in enumerate(items):
            where = f"{field_prefix}{name}[{i}]"
            if not validate.RESOURCE_ID.fullmatch(adj.controller_id):
                errors.add(f"{where}.controller_id", "is not a controller id")
            elif adj.added and adj.controller_id not in known:
                errors.add(f"{where}.controller_id", f"no controller {adj.controller_id!r}")
            validate.text(f"{where}.reason", adj.reason, errors, max_len=2000)
    both = {a.controller_id for a in add} & {r.controller_id for r in remove}
    if both:
        errors.add(f"{field_prefix}remove", f"also in add: {', '.join(sorted(both))}")
    errors.raise_if_any()


def reconcile(
    m: Mutation, breach: BreachRow, info: rules.Info, *, told_phase: int | None = None
) -> list[tuple[Any, ...]]:
    """Brings the obligations in line with the affected set (creates, withdraws).

    ``told_phase``: the caller sends the new obligations phases up to this
    one in this transaction (``notices.send`` with what this returns); they
    are written as told, at ``m.now``, rather than written and then updated
    (10,000 rows twice, at a breach at a platform-wide sub-processor).
    Returns the new obligations then, as ``notices.send`` reads due ones;
    otherwise nothing."""
    adjustments = [
        rules.Adjustment(r.controller_id, r.added, r.reason)
        for r in AdjustmentRow.select()
        .where(AdjustmentRow.breach_id == breach.breach_id)
        .order_by(AdjustmentRow.id)
    ]
    holdings = [
        rules.Holding(h.controller_id, h.subprocessor_id, h.reason)
        for h in engagement.holders(info.subprocessors)
    ]
    affected = rules.affected(holdings, adjustments)
    o = ObligationRow
    existing = {
        r.controller_id: obligation_of(r) for r in o.select().where(o.breach_id == breach.breach_id)
    }
    fresh: list[tuple[Any, ...]] = []
    new_ids = sorted(cid for cid in affected if cid not in existing)
    if new_ids:
        dpa = terms_source(new_ids)
        zones = controllers.time_zones(new_ids)
        default = DpaTerms(rules.DEFAULT_HOURS)
        # Controllers alike (same terms, same reasons) share one encoding.
        shapes: dict[tuple[DpaTerms, Any], tuple[Any, ...]] = {}
        rows = []
        for cid in new_ids:
            t = dpa.get(cid, default)
            a = affected[cid]
            shape = shapes.get((t, a))
            if shape is None:
                scope = rules.Scope(
                    subprocessors=a.subprocessors if a.subprocessors else None,
                    data_categories=t.data_categories,
                    data_subjects=t.data_subjects,
                )
                shape = shapes[t, a] = (
                    t.hours,
                    rules.deadline(breach.awareness_time, t.hours),
                    json.dumps(list(a.reasons), sort_keys=True),
                    json.dumps(scope.to_json(), sort_keys=True),
                )
            hours, deadline, reasons, scope_json = shape
            rows.append(
                {
                    "breach_id": breach.breach_id,
                    "controller_id": cid,
                    "hours": hours,
                    "deadline": deadline,
                    "reasons": reasons,
                    "scope": scope_json,
                    "time_zone": zones.get(cid, ""),
                    "notified_phase": told_phase or 0,
                    "notify_time": m.now if told_phase else None,
                    "withdrawn": False,
                    "withdraw_reason": "",
                }
            )
        db.insert_rows(o, rows)
        if told_phase:
            fresh = [
                (r["hours"], r["deadline"], r["time_zone"], r["scope"], 0, None, r["controller_id"])
                for r in rows
            ]
    for cid, current in existing.items():
        if cid not in affected:
            if not current.withdrawn:
                _withdraw(m, breach, cid, adjustments)
            continue
        a = affected[cid]
        sps = a.subprocessors if a.subprocessors else None
        if current.withdrawn or current.reasons != a.reasons or current.scope.subprocessors != sps:
            scope = rules.Scope(sps, current.scope.data_categories, current.scope.data_subjects)
            o.update(
                withdrawn=False,
                withdraw_reason="",
                reasons=json.dumps(list(a.reasons)),
                scope=json.dumps(scope.to_json(), sort_keys=True),
                # Told again from the start if it had been withdrawn.
                notified_phase=0 if current.withdrawn else current.notified_phase,
            ).where((o.breach_id == breach.breach_id) & (o.controller_id == cid)).execute()
    return fresh


def _withdraw(
    m: Mutation, breach: BreachRow, controller_id: str, adjustments: Sequence[rules.Adjustment]
) -> None:
    reason = next((a.reason for a in reversed(adjustments) if a.controller_id == controller_id), "")
    o = ObligationRow
    row = o.get((o.breach_id == breach.breach_id) & (o.controller_id == controller_id))
    o.update(withdrawn=True, withdraw_reason=reason).where(o.id == row.id).execute()
    if row.notify_time is None:
        return  # never told: nothing to take back
    resource = names.make(COLLECTION, breach.breach_id)
    made = notifications.notify(
        m,
        [controller_id],
        notifications.Kind.BREACH,
        "Breach notice withdrawn: your data is not affected",
        f"Further investigation found that breach {breach.breach_id} does not affect "
        f"your data. Reason: {reason}",
        resource,
        {"breach": resource, "withdrawn": True, "reason": reason},
        audit=False,
    )
    m.record(
        "breach.notice.withdraw",
        notice_name(controller_id, breach.breach_id),
        controller_id,
        {"breach": resource, "reason": reason, "notification": made[0].id},
    )
