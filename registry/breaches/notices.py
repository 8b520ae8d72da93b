"""Breach notices: each affected controller's obligation, its view of the
breach in its own terms, and sending every phase it has not yet been told
through the notification inbox (Art. 33(2), Art. 28(3)(f))."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from registry import clock, db, names, paging
from registry.auth import Caller, Role
from registry.breaches import rules
from registry.breaches.model import BreachRow, ObligationRow, PhaseRow
from registry.breaches.values import COLLECTION, Notice, Obligation, Phase, notice_name
from registry.errors import NotFound
from registry.ledger import Mutation
from registry.notifications import core as notifications


def breach_row(breach_id: str) -> BreachRow:
    row: BreachRow | None = BreachRow.get_or_none(BreachRow.breach_id == breach_id)
    if row is None:
        raise NotFound(f"{COLLECTION}/{breach_id} not found")
    return row


def phases_of(breach_id: str) -> list[Phase]:
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


def obligation_of(r: ObligationRow) -> Obligation:
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
    breach_row(breach_id)
    o = ObligationRow
    query = o.select().where(o.breach_id == breach_id).order_by(o.controller_id).limit(page.size)
    if page.after is not None:
        query = query.where(o.controller_id > page.after)
    if overdue_only:
        query = query.where(
            o.ack_time.is_null() & (o.withdrawn == False) & (o.deadline < now)  # noqa: E712
        )
    return [obligation_of(r) for r in query]


def overdue_count(now: datetime) -> int:
    """Open obligations past their deadline, over every breach (a metric)."""
    o = ObligationRow
    return int(
        o.select(peewee.fn.COUNT(o.id))
        .where(o.ack_time.is_null() & (o.withdrawn == False) & (o.deadline < now))  # noqa: E712
        .scalar()
        or 0
    )


def visible_obligation(caller: Caller, controller_id: str, breach_id: str) -> Obligation:
    """A controller sees only its own obligations, and only once notified."""
    row = ObligationRow.get_or_none(
        (ObligationRow.breach_id == breach_id) & (ObligationRow.controller_id == controller_id)
    )
    hidden = not caller.sees(controller_id) or (
        caller.role is Role.CONTROLLER and (row is None or row.notify_time is None)
    )
    if row is None or hidden:
        raise NotFound(f"{notice_name(controller_id, breach_id)} not found")
    return obligation_of(row)


def notice_of(o: Obligation, row: BreachRow | None = None) -> Notice:
    breach = row if row is not None else breach_row(o.breach_id)
    phases = [
        Phase(p.number, rules.view_for(p.info, o.scope), p.status, p.create_time, "")
        for p in phases_of(o.breach_id)
    ]
    told = notifications.about(
        o.controller_id, notifications.Kind.BREACH, names.make(COLLECTION, o.breach_id)
    )
    return Notice(
        obligation=o,
        status=rules.Status(breach.status),
        awareness_time=breach.awareness_time,
        detection_time=breach.detection_time,
        phases=tuple(phases),
        notifications=tuple(n.id for n in told),
        unread=tuple(n.id for n in told if n.ack_time is None),
    )


def get_notice(caller: Caller, controller_id: str, breach_id: str) -> Notice:
    return notice_of(visible_obligation(caller, controller_id, breach_id))


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
    return [notice_of(obligation_of(r)) for r in query]


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


def send(m: Mutation, breach: BreachRow, fresh: Sequence[tuple[Any, ...]] = ()) -> int:
    """Sends each due obligation the phases it has not been told; returns how many.

    Controllers whose notice reads the same (same DPA hours, time zone, scope
    and phases) share one ``notify`` call, so a breach affecting thousands of
    controllers costs a handful of bulk inserts, not thousands. ``fresh``:
    obligations created in this transaction already written as told
    (``affected.reconcile``'s ``told_phase``), as rows read below.
    """
    phases = phases_of(breach.breach_id)
    latest = phases[-1].number
    o = ObligationRow
    due_where = (
        (o.breach_id == breach.breach_id) & (o.withdrawn == False) & (o.notified_phase < latest)  # noqa: E712
    )
    if breach.hold_notices:
        due_where = due_where & o.notify_time.is_null(False)
    query = (
        o.select(
            o.hours,
            o.deadline,
            o.time_zone,
            o.scope,
            o.notified_phase,
            o.notify_time,
            o.controller_id,
        )
        .where(due_where)
        .order_by(o.controller_id)
    )
    # Raw rows, grouped by what the notice depends on: the values are
    # converted once per group, not once per controller.
    raw: dict[tuple[Any, ...], list[str]] = {}
    due = db.database.execute(query).fetchall()
    for row in (*due, *fresh):
        raw.setdefault(tuple(row[:6]), []).append(str(row[6]))
    groups: dict[_Due, list[str]] = {}
    for (hours, deadline, tz, scope, notified_phase, notify_time), cids in raw.items():
        key = _Due(
            first=int(notified_phase) + 1,
            hours=int(hours),
            deadline=o.deadline.python_value(deadline),
            time_zone=tz,
            scope=scope,
            notify_time=o.notify_time.python_value(notify_time) if notify_time else m.now,
        )
        groups.setdefault(key, []).extend(cids)
    resource = names.make(COLLECTION, breach.breach_id)
    sent = 0
    for key, members in groups.items():
        title, body, payload = _notice_content(breach, phases, key)
        made = notifications.notify(
            m,
            members,
            notifications.Kind.BREACH,
            title,
            body,
            resource,
            payload,
            audit=False,
        )
        told = {
            "breach": resource,
            "phases": payload["phases"],
            "notification_hours": key.hours,
            "deadline": payload["deadline"],
            "supervisory_deadline": payload["supervisory_deadline"],
        }
        for n in made:
            m.record(
                "breach.notice.send",
                notice_name(n.controller_id, breach.breach_id),
                n.controller_id,
                {**told, "notification": n.id},
            )
        sent += len(members)
    if due:
        # One statement: the first notice's time is kept, the phase moves on.
        o.update(
            notified_phase=latest,
            notify_time=peewee.Case(
                None, [(o.notify_time.is_null(), o.notify_time.db_value(m.now))], o.notify_time
            ),
        ).where(due_where).execute()
    return sent
