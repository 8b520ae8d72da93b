"""Breach incidents, affected controllers and notification obligations.

Staff report a breach (Art. 33(2)); its later information comes as new
phases (Art. 33(4)). After every change the affected set is recomputed from
the sub-processor registry plus staff adjustments, obligations are created
for newly affected controllers (deadline = awareness + the hours of the
controller's ACTIVE DPA), and every obligation not yet told the newest phase
gets one notice through the notification inbox, in the same transaction.

Audit (Art. 33(5)): the report, phases and adjustments are processor-wide
entries (tenant None, invisible to controllers, so no controller learns who
else is affected); each notice sent, withdrawn or acknowledged is an entry
under the tenant of that controller, which it can verify in its own view.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee

from registry import changefeed, clock, db, names, paging, validate
from registry.agreements import terms
from registry.auth import Caller, Role
from registry.breaches import rules
from registry.breaches.model import AdjustmentRow, BreachRow, ObligationRow, PhaseRow
from registry.controllers import core as controllers
from registry.errors import Aborted, AlreadyExists, InvalidArgument, NotFound, Violations
from registry.ledger import Mutation
from registry.notifications import core as notifications
from registry.subprocessors import core as subprocessors
from registry.subprocessors import engagement


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """Rows of a ``.tuples()`` query (peewee's stubs type them as models)."""
    return [tuple(t) for t in query]


COLLECTION = "breaches"
NOTICES = "breachNotices"
BATCH = 500
CLOCK_SKEW = timedelta(minutes=5)
"""Times of awareness and detection may be this far in the future (clock skew)."""


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
    data the DPA covers (its Annex I scope) for the notice in its terms."""
    return {
        cid: DpaTerms(
            t.breach_notification_hours, t.data_categories or None, t.data_subjects or None
        )
        for cid, t in terms.active_terms(controller_ids).items()
    }


terms_source: TermsSource = _dpa_terms
"""Where DPA terms come from; replaceable with a fake in unit tests."""


# -- values --------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    number: int
    info: rules.Info
    status: rules.Status
    create_time: datetime
    author: str


@dataclass(frozen=True)
class AdjustmentRecord:
    controller_id: str
    added: bool
    reason: str
    create_time: datetime
    author: str


@dataclass(frozen=True)
class Counts:
    affected: int = 0
    pending: int = 0
    sent: int = 0
    acknowledged: int = 0
    withdrawn: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class Breach:
    breach_id: str
    status: rules.Status
    awareness_time: datetime
    detection_time: datetime
    phases: tuple[Phase, ...]
    adjustments: tuple[AdjustmentRecord, ...]
    counts: Counts
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return names.make(COLLECTION, self.breach_id)

    @property
    def etag(self) -> str:
        return f"r{self.revision}"

    @property
    def current(self) -> rules.Info:
        return rules.merge([p.info for p in self.phases])


@dataclass(frozen=True)
class Obligation:
    breach_id: str
    controller_id: str
    hours: int
    deadline: datetime
    reasons: tuple[str, ...]
    scope: rules.Scope
    time_zone: str
    notify_time: datetime | None
    notified_phase: int
    ack_time: datetime | None
    withdrawn: bool
    withdraw_reason: str

    @property
    def name(self) -> str:
        return notice_name(self.controller_id, self.breach_id)

    @property
    def state(self) -> rules.ObligationState:
        return rules.state_of(self.notify_time, self.ack_time, self.withdrawn)

    def overdue_by(self, now: datetime) -> timedelta | None:
        return rules.overdue_by(self.state, self.deadline, now)


@dataclass(frozen=True)
class Notice:
    """One controller's view of a breach: its data only."""

    obligation: Obligation
    status: rules.Status
    awareness_time: datetime
    detection_time: datetime
    phases: tuple[Phase, ...]
    notifications: tuple[int, ...]

    @property
    def current(self) -> rules.Info:
        return rules.merge([p.info for p in self.phases])

    @property
    def supervisory_deadline(self) -> datetime | None:
        n = self.obligation.notify_time
        return rules.supervisory_deadline(n) if n is not None else None


def notice_name(controller_id: str, breach_id: str) -> str:
    return f"controllers/{controller_id}/{NOTICES}/{breach_id}"


def parse_notice_name(name: str, caller: Caller, field: str = "name") -> tuple[str, str]:
    """(controller id, breach id) of ``controllers/{cid|-}/breachNotices/{bid}``."""
    parts = name.split("/")
    ok = len(parts) == 4 and parts[0] == "controllers" and parts[2] == NOTICES
    if ok and parts[1] == "-" and caller.tenant is not None:
        parts[1] = caller.tenant
    if not ok or not validate.RESOURCE_ID.fullmatch(parts[1]) or not parts[3]:
        raise InvalidArgument.one(field, f"must look like controllers/{{id}}/{NOTICES}/{{id}}")
    return parts[1], parts[3]


# -- reads ---------------------------------------------------------------------


def _row(breach_id: str) -> BreachRow:
    row: BreachRow | None = BreachRow.get_or_none(BreachRow.breach_id == breach_id)
    if row is None:
        raise NotFound(f"{COLLECTION}/{breach_id} not found")
    return row


def _phases(breach_id: str) -> list[Phase]:
    query = PhaseRow.select().where(PhaseRow.breach_id == breach_id).order_by(PhaseRow.number)
    return [
        Phase(
            r.number,
            rules.Info.from_json(json.loads(r.info)),
            rules.Status(r.status),
            r.create_time,
            r.author,
        )
        for r in query
    ]


def _adjustments(breach_id: str) -> list[AdjustmentRecord]:
    query = (
        AdjustmentRow.select()
        .where(AdjustmentRow.breach_id == breach_id)
        .order_by(AdjustmentRow.id)
    )
    return [
        AdjustmentRecord(r.controller_id, r.added, r.reason, r.create_time, r.author) for r in query
    ]


def counts(breach_id: str, now: datetime) -> Counts:
    o = ObligationRow
    open_ = o.ack_time.is_null() & (o.withdrawn == False)  # noqa: E712 - peewee expression
    row = (
        o.select(
            peewee.fn.COUNT(o.id),
            peewee.fn.SUM(peewee.Case(None, [(open_ & o.notify_time.is_null(), 1)], 0)),
            peewee.fn.SUM(peewee.Case(None, [(open_ & o.notify_time.is_null(False), 1)], 0)),
            peewee.fn.SUM(
                peewee.Case(None, [(o.ack_time.is_null(False) & (o.withdrawn == False), 1)], 0)  # noqa: E712
            ),
            peewee.fn.SUM(peewee.Case(None, [(o.withdrawn == True, 1)], 0)),  # noqa: E712
            peewee.fn.SUM(peewee.Case(None, [(open_ & (o.deadline < now), 1)], 0)),
        )
        .where(o.breach_id == breach_id)
        .tuples()
        .first()
    )
    total, pending, sent, acked, withdrawn, overdue = (int(v or 0) for v in row or ())
    return Counts(total - withdrawn, pending, sent, acked, withdrawn, overdue)


def get(breach_id: str, now: datetime | None = None) -> Breach:
    row = _row(breach_id)
    return Breach(
        breach_id=row.breach_id,
        status=rules.Status(row.status),
        awareness_time=row.awareness_time,
        detection_time=row.detection_time,
        phases=tuple(_phases(breach_id)),
        adjustments=tuple(_adjustments(breach_id)),
        counts=counts(breach_id, now or clock.now()),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def list_page(page: paging.Page) -> list[Breach]:
    query = BreachRow.select(BreachRow.breach_id).order_by(BreachRow.breach_id.desc())
    if page.after is not None:
        query = query.where(BreachRow.breach_id < page.after)
    now = clock.now()
    return [get(r.breach_id, now) for r in query.limit(page.size)]


def _obligation(r: ObligationRow) -> Obligation:
    return Obligation(
        breach_id=r.breach_id,
        controller_id=r.controller_id,
        hours=r.hours,
        deadline=r.deadline,
        reasons=tuple(json.loads(r.reasons)),
        scope=rules.Scope.from_json(json.loads(r.scope)),
        time_zone=r.time_zone,
        notify_time=r.notify_time,
        notified_phase=r.notified_phase,
        ack_time=r.ack_time,
        withdrawn=r.withdrawn,
        withdraw_reason=r.withdraw_reason,
    )


def obligations(
    breach_id: str, page: paging.Page, *, overdue_only: bool, now: datetime
) -> list[Obligation]:
    _row(breach_id)
    o = ObligationRow
    query = o.select().where(o.breach_id == breach_id).order_by(o.controller_id).limit(page.size)
    if page.after is not None:
        query = query.where(o.controller_id > page.after)
    if overdue_only:
        query = query.where(
            o.ack_time.is_null() & (o.withdrawn == False) & (o.deadline < now)  # noqa: E712
        )
    return [_obligation(r) for r in query]


def _visible_obligation(caller: Caller, controller_id: str, breach_id: str) -> Obligation:
    """A controller sees only its own obligations, and only once notified."""
    row = ObligationRow.get_or_none(
        (ObligationRow.breach_id == breach_id) & (ObligationRow.controller_id == controller_id)
    )
    hidden = not caller.sees(controller_id) or (
        caller.role is Role.CONTROLLER and (row is None or row.notify_time is None)
    )
    if row is None or hidden:
        raise NotFound(f"{notice_name(controller_id, breach_id)} not found")
    return _obligation(row)


def _notice(o: Obligation, row: BreachRow | None = None) -> Notice:
    breach = row if row is not None else _row(o.breach_id)
    phases = [
        Phase(p.number, rules.view_for(p.info, o.scope), p.status, p.create_time, "")
        for p in _phases(o.breach_id)
    ]
    n = notifications.NotificationRow
    ids = (
        n.select(n.id)
        .where(
            (n.controller_id == o.controller_id)
            & (n.kind == notifications.Kind.BREACH.value)
            & (n.resource == names.make(COLLECTION, o.breach_id))
        )
        .order_by(n.id)
        .tuples()
    )
    return Notice(
        obligation=o,
        status=rules.Status(breach.status),
        awareness_time=breach.awareness_time,
        detection_time=breach.detection_time,
        phases=tuple(phases),
        notifications=tuple(int(i) for (i,) in _tuples(ids)),
    )


def get_notice(caller: Caller, controller_id: str, breach_id: str) -> Notice:
    return _notice(_visible_obligation(caller, controller_id, breach_id))


def list_notices(caller: Caller, controller_id: str, page: paging.Page) -> list[Notice]:
    """A controller's notified obligations, newest breach id first."""
    caller.require(controller_id, f"controllers/{controller_id}")
    o = ObligationRow
    query = (
        o.select()
        .where((o.controller_id == controller_id) & o.notify_time.is_null(False))
        .order_by(o.breach_id.desc())
        .limit(page.size)
    )
    if page.after is not None:
        query = query.where(o.breach_id < page.after)
    return [_notice(_obligation(r)) for r in query]


# -- who is affected -----------------------------------------------------------


def _check_subprocessors(info: rules.Info, prefix: str) -> None:
    if not info.subprocessors:
        return
    known = subprocessors.existing(info.subprocessors)
    errors = Violations()
    for i, sp in enumerate(info.subprocessors):
        if sp not in known:
            errors.add(f"{prefix}.subprocessors[{i}]", f"no sub-processor {sp!r}")
    errors.raise_if_any()


def _check_adjustments(
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


def _reconcile(m: Mutation, breach: BreachRow, info: rules.Info) -> None:
    """Brings the obligations in line with the affected set (creates, withdraws)."""
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
        r.controller_id: _obligation(r) for r in o.select().where(o.breach_id == breach.breach_id)
    }
    new_ids = sorted(cid for cid in affected if cid not in existing)
    if new_ids:
        dpa = terms_source(new_ids)
        zones = controllers.time_zones(new_ids)
        encoded: dict[Any, str] = {}

        def once(key: Any, make: Callable[[], Any]) -> str:
            if key not in encoded:
                encoded[key] = json.dumps(make(), sort_keys=True)
            return encoded[key]

        rows = []
        for cid in new_ids:
            t = dpa.get(cid, DpaTerms(rules.DEFAULT_HOURS))
            a = affected[cid]
            scope = rules.Scope(
                subprocessors=a.subprocessors if a.subprocessors else None,
                data_categories=t.data_categories,
                data_subjects=t.data_subjects,
            )
            rows.append(
                (
                    breach.breach_id,
                    cid,
                    t.hours,
                    rules.deadline(breach.awareness_time, t.hours),
                    once(("r", a.reasons), functools.partial(list, a.reasons)),
                    once(("s", scope), scope.to_json),
                    zones.get(cid, ""),
                    0,
                    False,
                    "",
                )
            )
        columns = (
            "breach_id",
            "controller_id",
            "hours",
            "deadline",
            "reasons",
            "scope",
            "time_zone",
            "notified_phase",
            "withdrawn",
            "withdraw_reason",
        )
        db.insert_rows(o, [dict(zip(columns, row, strict=True)) for row in rows])
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


# -- sending notices -------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """What a notice to one controller depends on (controllers alike share one)."""

    first: int
    hours: int
    deadline: datetime
    time_zone: str
    scope: str
    """JSON of ``rules.Scope``."""
    notify_time: datetime


def _notice_content(
    breach: BreachRow, phases: Sequence[Phase], due: _Due
) -> tuple[str, str, dict[str, Any]]:
    """Title, body and payload of the notice of phases ``due.first``.. to one controller.

    Every notice carries the whole current picture in the controller's terms
    (its sub-processors, its data, its deadlines in its time zone), so the
    newest one alone is enough to act on; ``GetBreachNotice`` has it structured.
    """
    latest = phases[-1].number
    scope = rules.Scope.from_json(json.loads(due.scope))
    view = rules.view_for(rules.merge([p.info for p in phases]), scope)
    supervisory = rules.supervisory_deadline(due.notify_time)
    tz = due.time_zone
    payload: dict[str, Any] = {
        "breach": names.make(COLLECTION, breach.breach_id),
        "notice": notice_name("-", breach.breach_id),
        "phases": list(range(due.first, latest + 1)),
        "status": breach.status,
        "awareness_time": clock.rfc3339(breach.awareness_time),
        "notification_hours": due.hours,
        "deadline": clock.rfc3339(due.deadline),
        "deadline_local": rules.local_time(due.deadline, tz),
        "notify_time": clock.rfc3339(due.notify_time),
        "supervisory_deadline": clock.rfc3339(supervisory),
        "supervisory_deadline_local": rules.local_time(supervisory, tz),
        "time_zone": tz or "UTC",
    }
    if due.first == 1:
        title = "Personal data breach affecting your data (GDPR Art. 33(2))"
    else:
        title = f"Update {latest} on personal data breach {breach.breach_id} (Art. 33(4))"
    kinds = ", ".join(t.value.lower() for t in view.types) or "unspecified"
    contact = " ".join(v for v in (view.contact.name, view.contact.email, view.contact.phone) if v)
    lines = [
        f"Breach {breach.breach_id} ({kinds}), status {breach.status}.",
        view.description,
        f"Sub-processors concerned: {', '.join(view.subprocessors) or 'none'}; "
        f"systems: {', '.join(view.systems) or 'none'}.",
        f"Data categories concerned: {', '.join(view.data_categories) or 'being assessed'}.",
        f"Data subjects concerned: {', '.join(view.data_subjects) or 'being assessed'}.",
        f"Approximate numbers: {view.approx_data_subjects or 'unknown'} data subjects, "
        f"{view.approx_records or 'unknown'} records.",
        f"Likely consequences: {view.likely_consequences or 'being assessed'}.",
        f"Measures taken or proposed: {view.measures or 'being assessed'}.",
        f"Contact point: {contact or 'to follow'}.",
        f"Processor aware since {rules.local_time(breach.awareness_time, tz)}; "
        f"our deadline under your DPA ({due.hours} h): {rules.local_time(due.deadline, tz)}.",
        f"Your 72 hours to notify the supervisory authority (Art. 33(1)) end "
        f"{rules.local_time(supervisory, tz)}.",
    ]
    return title, "\n".join(line for line in lines if line), payload


def _send(m: Mutation, breach: BreachRow) -> int:
    """Sends each due obligation the phases it has not been told; returns how many.

    Controllers whose notice reads the same (same DPA hours, time zone, scope
    and phases) share one ``notify`` call, so a breach affecting thousands of
    controllers costs a handful of bulk inserts, not thousands.
    """
    phases = _phases(breach.breach_id)
    latest = phases[-1].number
    o = ObligationRow
    due_where = (
        (o.breach_id == breach.breach_id) & (o.withdrawn == False) & (o.notified_phase < latest)  # noqa: E712
    )
    if breach.hold_notices:
        due_where = due_where & o.notify_time.is_null(False)
    query = (
        o.select(
            o.controller_id,
            o.hours,
            o.deadline,
            o.time_zone,
            o.scope,
            o.notified_phase,
            o.notify_time,
        )
        .where(due_where)
        .order_by(o.controller_id)
        .tuples()
    )
    groups: dict[_Due, list[tuple[str, int]]] = {}
    for cid, hours, deadline, tz, scope, notified_phase, notify_time in _tuples(query):
        key = _Due(
            first=int(notified_phase) + 1,
            hours=int(hours),
            deadline=o.deadline.python_value(deadline),
            time_zone=tz,
            scope=scope,
            notify_time=o.notify_time.python_value(notify_time) if notify_time else m.now,
        )
        groups.setdefault(key, []).append((cid, int(hours)))
    resource = names.make(COLLECTION, breach.breach_id)
    sent = 0
    for key, members in groups.items():
        title, body, payload = _notice_content(breach, phases, key)
        made = notifications.notify(
            m,
            [cid for cid, _ in members],
            notifications.Kind.BREACH,
            title,
            body,
            resource,
            payload,
            audit=False,
        )
        for n, (cid, hours) in zip(made, members, strict=True):
            m.record(
                "breach.notice.send",
                notice_name(cid, breach.breach_id),
                cid,
                {
                    "breach": resource,
                    "phases": payload["phases"],
                    "notification": n.id,
                    "notification_hours": hours,
                    "deadline": payload["deadline"],
                    "supervisory_deadline": payload["supervisory_deadline"],
                },
            )
        sent += len(members)
    if sent:
        o.update(notify_time=m.now).where(due_where & o.notify_time.is_null()).execute()
        o.update(notified_phase=latest).where(due_where).execute()
    return sent


# -- mutations -----------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    breach_id: str
    awareness_time: datetime | None
    detection_time: datetime | None
    info: rules.Info
    add: tuple[rules.Adjustment, ...] = ()
    remove: tuple[rules.Adjustment, ...] = ()
    hold_notices: bool = False


def _check_times(r: Report, now: datetime, errors: Violations) -> None:
    if r.awareness_time is None:
        errors.add("awareness_time", "is required (the deadlines count from it)")
    elif r.awareness_time > now + CLOCK_SKEW:
        errors.add("awareness_time", "is in the future")
    if r.detection_time is None:
        errors.add("detection_time", "is required")
    elif r.detection_time > now + CLOCK_SKEW:
        errors.add("detection_time", "is in the future")
    elif r.awareness_time is not None and r.detection_time > r.awareness_time:
        errors.add("detection_time", "is after the time of awareness")


def _add_adjustments(m: Mutation, breach_id: str, items: Iterable[rules.Adjustment]) -> None:
    rows = [
        {
            "breach_id": breach_id,
            "controller_id": a.controller_id,
            "added": a.added,
            "reason": a.reason,
            "author": m.caller.spiffe_id,
            "create_time": m.now,
        }
        for a in items
    ]
    db.insert_rows(AdjustmentRow, rows)


def _adjustment_change(items: Iterable[rules.Adjustment]) -> list[dict[str, Any]]:
    return [{"controller": a.controller_id, "added": a.added, "reason": a.reason} for a in items]


def report(m: Mutation, r: Report) -> Breach:
    errors = r.info.validate("info", initial=True)
    _check_times(r, m.now, errors)
    breach_id = r.breach_id or f"br-{m.now:%Y%m%d}-{secrets.token_hex(4)}"
    if r.breach_id:
        validate.resource_id("breach_id", r.breach_id, errors)
    errors.raise_if_any()
    _check_subprocessors(r.info, "info")
    _check_adjustments(r.add, r.remove, "")
    if BreachRow.get_or_none(BreachRow.breach_id == breach_id) is not None:
        raise AlreadyExists(f"{COLLECTION}/{breach_id} already exists")
    assert r.awareness_time is not None and r.detection_time is not None
    row = BreachRow.create(
        breach_id=breach_id,
        status=rules.Status.OPEN.value,
        awareness_time=r.awareness_time,
        detection_time=r.detection_time,
        hold_notices=r.hold_notices,
        phases=1,
        revision=1,
        create_time=m.now,
        update_time=m.now,
    )
    PhaseRow.create(
        breach_id=breach_id,
        number=1,
        status=rules.Status.OPEN.value,
        info=json.dumps(r.info.to_json(), sort_keys=True),
        author=m.caller.spiffe_id,
        create_time=m.now,
    )
    adjustments = (*r.add, *r.remove)
    _add_adjustments(m, breach_id, adjustments)
    _reconcile(m, row, r.info)
    m.record(
        "breach.report",
        names.make(COLLECTION, breach_id),
        None,
        {
            "awareness_time": clock.rfc3339(r.awareness_time),
            "detection_time": clock.rfc3339(r.detection_time),
            "info": r.info.to_json(),
            "adjustments": _adjustment_change(adjustments),
            "hold_notices": r.hold_notices,
            "affected": counts(breach_id, m.now).affected,
        },
    )
    _send(m, row)
    return get(breach_id, m.now)


def _bump(breach: BreachRow, etag: str, now: datetime, **fields: Any) -> BreachRow:
    if etag and etag != f"r{breach.revision}":
        raise Aborted(f"etag {etag!r} is stale; current is 'r{breach.revision}'")
    updated = (
        BreachRow.update(revision=breach.revision + 1, update_time=now, **fields)
        .where((BreachRow.breach_id == breach.breach_id) & (BreachRow.revision == breach.revision))
        .execute()
    )
    if updated != 1:
        raise Aborted("the breach changed concurrently; re-read and retry")
    return _row(breach.breach_id)


def add_phase(
    m: Mutation, breach_id: str, info: rules.Info, status: rules.Status | None, etag: str
) -> Breach:
    breach = _row(breach_id)
    current = rules.Status(breach.status)
    new_status = status or current
    rules.check_transition(current, new_status)
    info.validate("info", initial=False).raise_if_any()
    if info.is_empty() and new_status is current:
        raise InvalidArgument.one("info", "the phase adds no information and no status change")
    _check_subprocessors(info, "info")
    number = breach.phases + 1
    breach = _bump(breach, etag, m.now, phases=number, status=new_status.value)
    PhaseRow.create(
        breach_id=breach_id,
        number=number,
        status=new_status.value,
        info=json.dumps(info.to_json(), sort_keys=True),
        author=m.caller.spiffe_id,
        create_time=m.now,
    )
    m.record(
        "breach.phase",
        names.make(COLLECTION, breach_id),
        None,
        {"phase": number, "status": new_status.value, "info": info.to_json()},
    )
    _reconcile(m, breach, rules.merge([p.info for p in _phases(breach_id)]))
    _send(m, breach)
    return get(breach_id, m.now)


def adjust(
    m: Mutation,
    breach_id: str,
    add: Sequence[rules.Adjustment],
    remove: Sequence[rules.Adjustment],
    etag: str,
) -> Breach:
    breach = _row(breach_id)
    rules.check_transition(rules.Status(breach.status), rules.Status(breach.status))
    if not add and not remove:
        raise InvalidArgument.one("add", "name a controller to add or remove")
    _check_adjustments(add, remove, "")
    breach = _bump(breach, etag, m.now)
    _add_adjustments(m, breach_id, (*add, *remove))
    m.record(
        "breach.adjust",
        names.make(COLLECTION, breach_id),
        None,
        {"adjustments": _adjustment_change((*add, *remove))},
    )
    _reconcile(m, breach, rules.merge([p.info for p in _phases(breach_id)]))
    _send(m, breach)
    return get(breach_id, m.now)


def send_held(m: Mutation, breach_id: str) -> Breach:
    breach = _row(breach_id)
    if not breach.hold_notices:
        raise InvalidArgument.one("name", "the breach has no held notices") from None
    breach = _bump(breach, "", m.now, hold_notices=False)
    sent = _send(m, breach)
    m.record(
        "breach.notices.release",
        names.make(COLLECTION, breach_id),
        None,
        {"sent": sent},
    )
    return get(breach_id, m.now)


def acknowledge(m: Mutation, controller_id: str, breach_id: str) -> Notice:
    """The controller confirms receipt (idempotent); its inbox items are marked read."""
    ob = _visible_obligation(m.caller, controller_id, breach_id)
    first = ob.ack_time is None
    o = ObligationRow
    if first:
        o.update(ack_time=m.now, ack_by=m.caller.spiffe_id).where(
            (o.breach_id == breach_id) & (o.controller_id == controller_id) & o.ack_time.is_null()
        ).execute()
    notice = _notice(
        _obligation(o.get((o.breach_id == breach_id) & (o.controller_id == controller_id)))
    )
    n = notifications.NotificationRow
    unread = (
        [
            int(i)
            for (i,) in _tuples(
                n.select(n.id)
                .where(n.id.in_(list(notice.notifications)) & n.ack_time.is_null())
                .tuples()
            )
        ]
        if notice.notifications
        else []
    )
    for nid in unread:
        notifications.acknowledge(m, nid)
    m.record(
        "breach.notice.acknowledge",
        notice_name(controller_id, breach_id),
        controller_id,
        {
            "breach": names.make(COLLECTION, breach_id),
            "first": first,
            "late": first and m.now > ob.deadline,
        },
    )
    return notice


changefeed.publishes("breaches", "controllers.breachNotices")(changefeed.ignore)
