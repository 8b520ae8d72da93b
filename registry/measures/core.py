"""Measure records: create, new versions, removal, reads; the annex of
measures every DPA drafted after a change carries; and the notice to every
controller with an ACTIVE DPA when a measure is lowered or removed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from registry import changefeed, names, paging, validate
from registry.agreements import terms
from registry.audit.events import canonical
from registry.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Violations,
)
from registry.ledger import Mutation
from registry.measures.model import MeasureRow, MeasureVersionRow
from registry.measures.types import (
    DEFAULT_NOTICE_DAYS,
    MAX_NOTICE_DAYS,
    Content,
    Impact,
    effective_impact,
)
from registry.notifications import core as notifications
from registry.subprocessors import core as subprocessors

COLLECTION = "measures"


@dataclass(frozen=True)
class Version:
    measure_id: str
    version: int
    content: Content
    impact: Impact
    reason: str
    notice_days: int
    effective_time: datetime
    retired: bool
    notified: int
    changed_by: str
    change_time: datetime

    @property
    def name(self) -> str:
        return measure_name(self.measure_id)

    @property
    def etag(self) -> str:
        return f"v{self.version}"

    def to_json(self) -> dict[str, Any]:
        """The version as the annex of a DPA and the Art. 30(2) record show it."""
        return {
            "measure": self.name,
            "version": self.version,
            **self.content.to_json(),
            "retired": self.retired,
        }


def audited_change(v: Version) -> dict[str, Any]:
    """The change the audit entry of version ``v`` digests (its ``change``):
    an evidence pack carries it so a verifier can match the entry."""
    if v.version == 1:
        return {"version": 1, "content": v.content.to_json()}
    if v.retired:
        return {"version": v.version, "reason": v.reason, "notice_days": v.notice_days}
    return {
        "version": v.version,
        "impact": v.impact.value,
        "reason": v.reason,
        "notice_days": v.notice_days,
        "content": v.content.to_json(),
    }


def measure_name(measure_id: str) -> str:
    return names.make(COLLECTION, measure_id)


def parse_name(name: str, field: str = "name") -> tuple[str, int | None]:
    """``measures/{id}`` -> (id, None); ``measures/{id}/versions/{v}`` -> (id, v)."""
    parts = name.split("/")
    if len(parts) == 2:
        return names.parse(name, COLLECTION, field), None
    if (
        len(parts) == 4
        and parts[2] == "versions"
        and parts[3].isdigit()
        and 0 < int(parts[3]) < 2**31
    ):
        return names.parse("/".join(parts[:2]), COLLECTION, field), int(parts[3])
    raise InvalidArgument.one(field, "must look like measures/{id} or measures/{id}/versions/{v}")


def _from_row(row: MeasureVersionRow) -> Version:
    return Version(
        measure_id=row.measure_id,
        version=row.version,
        content=Content.from_json(json.loads(row.content)),
        impact=Impact(row.impact),
        reason=row.reason,
        notice_days=row.notice_days,
        effective_time=row.effective_time,
        retired=row.retired,
        notified=row.notified,
        changed_by=row.changed_by,
        change_time=row.change_time,
    )


def validate_content(content: Content, prefix: str, errors: Violations) -> None:
    validate.text(f"{prefix}.title", content.title, errors, max_len=200)
    validate.text(f"{prefix}.description", content.description, errors, max_len=4000)
    applies = content.applies_to
    if not (applies.platform or applies.systems or applies.subprocessors):
        errors.add(f"{prefix}.applies_to", "must name the platform, a system or a sub-processor")
    for i, system in enumerate(applies.systems):
        validate.text(f"{prefix}.applies_to.systems[{i}]", system, errors, max_len=100)
    for i, sid in enumerate(applies.subprocessors):
        validate.resource_id(f"{prefix}.applies_to.subprocessors[{i}]", sid, errors)
    known = subprocessors.existing(
        [s for s in applies.subprocessors if validate.RESOURCE_ID.fullmatch(s)]
    )
    for i, sid in enumerate(applies.subprocessors):
        if validate.RESOURCE_ID.fullmatch(sid) and sid not in known:
            errors.add(f"{prefix}.applies_to.subprocessors[{i}]", f"no sub-processor {sid!r}")
    for i, ev in enumerate(content.evidence):
        field = f"{prefix}.evidence[{i}]"
        validate.text(f"{field}.title", ev.title, errors, max_len=200)
        validate.text(f"{field}.issuer", ev.issuer, errors, max_len=200)
        validate.text(f"{field}.scope", ev.scope, errors, max_len=1000)
        validate.text(f"{field}.reference", ev.reference, errors, max_len=200)
        if ev.valid_until < ev.valid_from:
            errors.add(f"{field}.valid_until", "must not be before valid_from")


def parse_day(field: str, value: str, errors: Violations) -> date:
    """An ISO 8601 date, or a violation naming ``field`` (and a placeholder)."""
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.add(field, "must be a date YYYY-MM-DD")
        return date.min


def _row(measure_id: str) -> MeasureRow | None:
    return MeasureRow.get_or_none(MeasureRow.measure_id == measure_id)


def get(measure_id: str, version: int | None = None) -> Version:
    row = _row(measure_id)
    if row is None:
        raise NotFound(f"{measure_name(measure_id)} not found")
    wanted = version if version is not None else row.current_version
    found = MeasureVersionRow.get_or_none(
        (MeasureVersionRow.measure_id == measure_id) & (MeasureVersionRow.version == wanted)
    )
    if found is None:
        raise NotFound(f"{measure_name(measure_id)}/versions/{wanted} not found")
    return _from_row(found)


def versions(measure_id: str) -> list[Version]:
    if _row(measure_id) is None:
        raise NotFound(f"{measure_name(measure_id)} not found")
    query = (
        MeasureVersionRow.select()
        .where(MeasureVersionRow.measure_id == measure_id)
        .order_by(MeasureVersionRow.version)
    )
    return [_from_row(r) for r in query]


def _current_query(include_retired: bool) -> Any:
    m, v = MeasureRow, MeasureVersionRow
    query = v.select().join(
        m, on=((m.measure_id == v.measure_id) & (m.current_version == v.version))
    )
    if not include_retired:
        query = query.where(m.retired == False)  # noqa: E712 - peewee expression
    return query.order_by(v.measure_id)


def list_page(page: paging.Page, include_retired: bool) -> list[Version]:
    query = _current_query(include_retired).limit(page.size)
    if page.after is not None:
        query = query.where(MeasureVersionRow.measure_id > page.after)
    return [_from_row(r) for r in query]


def current() -> list[Version]:
    """Every measure in force (not retired), current versions, by id."""
    return [_from_row(r) for r in _current_query(include_retired=False)]


def history(measure_ids: Iterable[str] | None = None) -> list[Version]:
    """Every version of the given measures (all if None), by id and version."""
    v = MeasureVersionRow
    query = v.select().order_by(v.measure_id, v.version)
    if measure_ids is not None:
        query = query.where(v.measure_id.in_(sorted(set(measure_ids))))
    return [_from_row(r) for r in query]


def annex() -> list[dict[str, Any]]:
    """The annex of measures for a DPA drafted now (Annex III of 2021/915), in
    the shape of the template's catalogue entries plus version and evidence."""
    return [
        {
            "id": v.measure_id,
            "measure": v.name,
            "version": v.version,
            "area": v.content.category.heading,
            "title": v.content.title,
            "description": v.content.description,
            "applies_to": v.content.applies_to.to_json(),
            "evidence": [e.to_json() for e in v.content.evidence],
        }
        for v in current()
    ]


def _insert(
    m: Mutation,
    measure_id: str,
    version: int,
    content: Content,
    impact: Impact,
    reason: str,
    notice_days: int,
    *,
    retired: bool,
) -> MeasureVersionRow:
    return MeasureVersionRow.create(
        measure_id=measure_id,
        version=version,
        content=canonical(content.to_json()).decode(),
        impact=impact.value,
        reason=reason,
        notice_days=notice_days,
        effective_time=m.now + timedelta(days=notice_days),
        retired=retired,
        notified=0,
        changed_by=m.caller.spiffe_id,
        change_time=m.now,
    )


def create(m: Mutation, measure_id: str, content: Content) -> Version:
    errors = Violations()
    validate.resource_id("measure.measure_id", measure_id, errors)
    validate_content(content, "measure", errors)
    errors.raise_if_any()
    if _row(measure_id) is not None:
        raise AlreadyExists(f"{measure_name(measure_id)} already exists")
    MeasureRow.create(
        measure_id=measure_id, current_version=1, create_time=m.now, update_time=m.now
    )
    _insert(m, measure_id, 1, content, Impact.STRENGTHENED, "", 0, retired=False)
    created = get(measure_id)
    m.record("measure.create", created.name, None, audited_change(created))
    return created


def _notice_days(value: int, field: str) -> int:
    if value < 0 or value > MAX_NOTICE_DAYS:
        raise InvalidArgument.one(field, f"must be between 0 and {MAX_NOTICE_DAYS}")
    return value or DEFAULT_NOTICE_DAYS


def _advance(m: Mutation, measure_id: str, etag: str, field: str) -> Version:
    """The current version, checked: exists, not retired, etag fresh."""
    current_version = get(measure_id)
    if current_version.retired:
        raise FailedPrecondition(f"{measure_name(measure_id)} is retired: nothing left to change")
    if etag and etag != current_version.etag:
        raise Aborted(f"{field} {etag!r} is stale; current is {current_version.etag!r}")
    return current_version


def _bump(m: Mutation, measure_id: str, previous: int, *, retired: bool) -> None:
    updated = (
        MeasureRow.update(current_version=previous + 1, retired=retired, update_time=m.now)
        .where((MeasureRow.measure_id == measure_id) & (MeasureRow.current_version == previous))
        .execute()
    )
    if updated != 1:
        raise Aborted("measure changed concurrently; re-read and retry")


def _tell_controllers(m: Mutation, version: MeasureVersionRow, title: str, what: str) -> int:
    """Notice of a lowered or removed measure to every controller with an
    ACTIVE DPA (Art. 28(3)(c)); returns how many were told."""
    recipients = sorted(terms.active_terms(None))
    effective = version.effective_time
    notifications.notify(
        m,
        recipients,
        notifications.Kind.GENERAL,
        f"Technical and organisational measure {what}: {title}",
        f"The measure {measure_name(version.measure_id)} is {what} "
        f"(version {version.version}): {version.reason}. "
        f"Notice period {version.notice_days} days; effective {effective.date().isoformat()}.",
        f"{measure_name(version.measure_id)}/versions/{version.version}",
        {
            "measure": measure_name(version.measure_id),
            "version": version.version,
            "impact": version.impact,
            "notice_days": version.notice_days,
            "effective_date": effective.date().isoformat(),
        },
    )
    MeasureVersionRow.update(notified=len(recipients)).where(
        MeasureVersionRow.id == version.id
    ).execute()
    return len(recipients)


def update(
    m: Mutation,
    measure_id: str,
    etag: str,
    content: Content,
    declared: Impact,
    reason: str,
    notice_days: int,
) -> Version:
    errors = Violations()
    validate_content(content, "measure", errors)
    validate.text("reason", reason, errors, max_len=2000)
    errors.raise_if_any()
    notice = _notice_days(notice_days, "notice_days")
    old = _advance(m, measure_id, etag, "measure.etag")
    impact = effective_impact(old.content, content, declared)
    _bump(m, measure_id, old.version, retired=False)
    row = _insert(
        m,
        measure_id,
        old.version + 1,
        content,
        impact,
        reason,
        notice if impact is Impact.LOWERED else 0,
        retired=False,
    )
    m.record("measure.update", measure_name(measure_id), None, audited_change(get(measure_id)))
    if impact is Impact.LOWERED:
        _tell_controllers(m, row, content.title, "lowered")
    return get(measure_id)


def retire(m: Mutation, measure_id: str, etag: str, reason: str, notice_days: int) -> Version:
    errors = Violations()
    validate.text("reason", reason, errors, max_len=2000)
    errors.raise_if_any()
    notice = _notice_days(notice_days, "notice_days")
    old = _advance(m, measure_id, etag, "etag")
    _bump(m, measure_id, old.version, retired=True)
    row = _insert(
        m, measure_id, old.version + 1, old.content, Impact.LOWERED, reason, notice, retired=True
    )
    m.record("measure.retire", measure_name(measure_id), None, audited_change(get(measure_id)))
    _tell_controllers(m, row, old.content.title, "removed")
    return get(measure_id)


@changefeed.publishes("measures")
def _touched(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    """Measures are processor-wide; only the Art. 30(2) record's journal reads them."""
    touched.measures = True
