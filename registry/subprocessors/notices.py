"""Change notices (Art. 28(2)): the values, the pure rules of advance notice
and objection windows, and the reads (a notice, one controller's copy of it,
its pending changes, the staff objection queue)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from registry import names, paging
from registry.errors import NotFound
from registry.subprocessors.model import NoticeRow, RecipientRow
from registry.subprocessors.types import (
    ChangeKind,
    Decision,
    NoticeState,
    Resolution,
)

COLLECTION = "changeNotices"
BATCH = 500
NAMED_VIOLATIONS = 50
"""At most this many controllers are named one by one in a refusal."""


class Mode(enum.Enum):
    """The controller's authorisation mode from its DPA (Art. 28(2))."""

    SPECIFIC = "SPECIFIC"
    GENERAL = "GENERAL"


@dataclass(frozen=True)
class Terms:
    """What a controller's ACTIVE DPA says about sub-processor changes."""

    controller_id: str
    mode: Mode
    notice_days: int
    objection_days: int


TermsSource = Callable[[Iterable[str] | None], Mapping[str, Terms]]


def _dpa_terms(controller_ids: Iterable[str] | None) -> Mapping[str, Terms]:
    """Terms from the controllers' ACTIVE DPAs (registry.agreements)."""
    from registry.agreements import terms  # noqa: PLC0415 - the DPA domain, loaded late

    return {
        cid: Terms(cid, Mode(t.authorization_mode.name), t.notice_days, t.objection_days)
        for cid, t in terms.active_terms(controller_ids).items()
    }


terms_source: TermsSource = _dpa_terms
"""Where DPA terms come from; replaceable with a fake in unit tests."""


@dataclass(frozen=True)
class Proposal:
    kind: ChangeKind
    subprocessor_id: str
    replaced_id: str
    effective_time: datetime
    reason: str
    controller_ids: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    notice_id: str
    kind: ChangeKind
    subprocessor_id: str
    replaced_id: str
    effective_time: datetime
    reason: str
    state: NoticeState
    recipients: int
    create_time: datetime

    @property
    def name(self) -> str:
        return names.make(COLLECTION, self.notice_id)


@dataclass(frozen=True)
class ControllerChange:
    """One controller's copy of a notice: its windows and its answer."""

    notice: Notice
    controller_id: str
    mode: Mode
    notified_time: datetime
    """When the notice was sent."""
    first_delivery_time: datetime | None
    """When it first reached the controller (any channel); None: not yet."""
    objection_deadline: datetime | None
    """None until the notice reached the controller: the window has not begun."""
    decision: Decision
    reason: str
    decided_time: datetime | None
    resolution: Resolution
    resolution_note: str


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        notice_id=row.notice_id,
        kind=ChangeKind(row.kind),
        subprocessor_id=row.subprocessor_id,
        replaced_id=row.replaced_id or "",
        effective_time=row.effective_time,
        reason=row.reason,
        state=NoticeState(row.state),
        recipients=row.recipients,
        create_time=row.create_time,
    )


def _change(r: RecipientRow, notice: Notice) -> ControllerChange:
    return ControllerChange(
        notice=notice,
        controller_id=r.controller_id,
        mode=Mode(r.mode),
        notified_time=r.notified_time,
        first_delivery_time=r.first_delivery_time,
        objection_deadline=r.window_end,
        decision=Decision(r.decision),
        reason=r.reason,
        decided_time=r.decided_time,
        resolution=Resolution(r.resolution),
        resolution_note=r.resolution_note,
    )


# -- pure rules ---------------------------------------------------------------


def earliest_effective(notified: datetime, terms: Terms) -> datetime:
    return notified + timedelta(days=terms.notice_days)


def notice_period_violations(
    kind: ChangeKind, notified: datetime, effective: datetime, terms: Iterable[Terms]
) -> list[Terms]:
    """The controllers whose advance-notice period ``effective`` would violate."""
    if kind is ChangeKind.REMOVAL:
        return []
    return sorted(
        (t for t in terms if effective < earliest_effective(notified, t)),
        key=lambda t: t.controller_id,
    )


def objection_deadline(first_delivery: datetime | None, objection_days: int) -> datetime | None:
    """The end of a controller's objection window: its objection period counted
    from when the notice first **reached** it (stream, inbox acknowledgement,
    webhook 2xx, e-mail accepted and not bounced), not from sending. A notice
    that reached it by no channel has no window yet: the period does not run,
    and under GENERAL authorisation the change stays PENDING (the
    sub-processor is not used for that controller's data). Art. 28(2) GDPR
    and SCC Clause 9(a) require that the controller be *informed* so as to
    have the time to object; docs/adr/0018."""
    if first_delivery is None:
        return None
    return first_delivery + timedelta(days=objection_days)


def may_object(decision: Decision, mode: Mode, window_end: datetime | None, now: datetime) -> bool:
    """Pending, and (GENERAL) within the objection window, or before it began;
    SPECIFIC: until approved."""
    if decision is not Decision.PENDING:
        return False
    return mode is Mode.SPECIFIC or window_end is None or now < window_end


# -- reads --------------------------------------------------------------------


def get(notice_id: str) -> Notice:
    row = NoticeRow.get_or_none(NoticeRow.notice_id == notice_id)
    if row is None:
        raise NotFound(f"{COLLECTION}/{notice_id} not found")
    return _notice(row)


def list_page(page: paging.Page) -> list[Notice]:
    query = NoticeRow.select().order_by(NoticeRow.notice_id.desc()).limit(page.size)
    if page.after is not None:
        query = query.where(NoticeRow.notice_id < page.after)
    return [_notice(r) for r in query]


def controller_change(controller_id: str, notice_id: str) -> ControllerChange:
    row = RecipientRow.get_or_none(
        (RecipientRow.notice_id == notice_id) & (RecipientRow.controller_id == controller_id)
    )
    if row is None:
        raise NotFound(f"{COLLECTION}/{notice_id} not found")
    return _change(row, get(notice_id))


def received(controller_id: str, notice_id: str) -> bool:
    """The controller was notified of this change (it may see the notice)."""
    return bool(
        RecipientRow.select()
        .where(
            (RecipientRow.notice_id == notice_id) & (RecipientRow.controller_id == controller_id)
        )
        .exists()
    )


def notices_by_id(notice_ids: Iterable[str]) -> dict[str, Notice]:
    wanted = sorted(set(notice_ids))
    if not wanted:
        return {}
    return {
        r.notice_id: _notice(r) for r in NoticeRow.select().where(NoticeRow.notice_id.in_(wanted))
    }


def _with_notices(rows: Sequence[RecipientRow]) -> list[ControllerChange]:
    notices = notices_by_id(r.notice_id for r in rows)
    return [_change(r, notices[r.notice_id]) for r in rows]


def pending_changes(controller_id: str) -> list[ControllerChange]:
    """Notices to the controller not yet effective, or awaiting its decision.

    Two index-driven reads, neither of which walks the controller's history
    of notices: its copies still PENDING, and its copies of the OPEN notices."""
    r = RecipientRow
    awaiting = r.select().where(
        (r.controller_id == controller_id) & (r.decision == Decision.PENDING.value)
    )
    open_ids = NoticeRow.select(NoticeRow.notice_id).where(
        NoticeRow.state == NoticeState.OPEN.value
    )
    of_open = r.select().where((r.controller_id == controller_id) & r.notice_id.in_(open_ids))
    rows = {row.id: row for query in (awaiting, of_open) for row in query}
    ordered = sorted(rows.values(), key=lambda row: (row.notified_time, row.notice_id))
    return _with_notices(ordered)


def objections(page: paging.Page, *, unresolved_only: bool) -> list[ControllerChange]:
    """The staff queue, oldest objection first (keyed by recipient id)."""
    query = (
        RecipientRow.select()
        .where(RecipientRow.decision == Decision.OBJECTED.value)
        .order_by(RecipientRow.id)
        .limit(page.size)
    )
    if unresolved_only:
        query = query.where(RecipientRow.resolution == Resolution.UNRESOLVED.value)
    if page.after is not None:
        query = query.where(RecipientRow.id > int(page.after))
    return _with_notices(list(query))


def objection_keys(page: paging.Page, *, unresolved_only: bool) -> list[str]:
    query = (
        RecipientRow.select(RecipientRow.id)
        .where(RecipientRow.decision == Decision.OBJECTED.value)
        .order_by(RecipientRow.id)
        .limit(page.size)
    )
    if unresolved_only:
        query = query.where(RecipientRow.resolution == Resolution.UNRESOLVED.value)
    if page.after is not None:
        query = query.where(RecipientRow.id > int(page.after))
    return [str(r.id) for r in query]
