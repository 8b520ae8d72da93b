"""Controller records and the rules for creating, reading and updating them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from registry import changefeed, db, names, paging, validate
from registry.auth import Caller, Role
from registry.controllers.model import ControllerRow
from registry.errors import Aborted, AlreadyExists, NotFound, PermissionDenied, Violations
from registry.ledger import Mutation

COLLECTION = "controllers"


@dataclass(frozen=True)
class Details:
    legal_name: str
    country: str
    contact_email: str
    dpo_email: str
    notify_emails: tuple[str, ...] = field(default=())
    time_zone: str = ""

    def validate(self, prefix: str) -> Violations:
        errors = Violations()
        validate.text(f"{prefix}.legal_name", self.legal_name, errors)
        validate.country(f"{prefix}.country", self.country, errors)
        validate.email(f"{prefix}.contact_email", self.contact_email, errors)
        validate.email(f"{prefix}.dpo_email", self.dpo_email, errors)
        for i, address in enumerate(self.notify_emails):
            validate.email(f"{prefix}.notification_preferences.emails[{i}]", address, errors)
        validate.time_zone(f"{prefix}.notification_preferences.time_zone", self.time_zone, errors)
        return errors

    def as_change(self) -> dict[str, Any]:
        return {
            "legal_name": self.legal_name,
            "country": self.country,
            "contact_email": self.contact_email,
            "dpo_email": self.dpo_email,
            "notify_emails": list(self.notify_emails),
            "time_zone": self.time_zone,
        }


@dataclass(frozen=True)
class Controller:
    controller_id: str
    details: Details
    revision: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return names.make(COLLECTION, self.controller_id)

    @property
    def etag(self) -> str:
        return f"r{self.revision}"


# Fields a controller may change about itself; staff may change all.
CONTACT_FIELDS = frozenset({"contact_email", "dpo_email", "notify_emails", "time_zone"})
ALL_FIELDS = CONTACT_FIELDS | {"legal_name", "country"}


def _from_row(row: ControllerRow) -> Controller:
    return Controller(
        controller_id=row.controller_id,
        details=Details(
            legal_name=row.legal_name,
            country=row.country,
            contact_email=row.contact_email,
            dpo_email=row.dpo_email,
            notify_emails=tuple(e for e in row.notify_emails.split("\n") if e),
            time_zone=row.time_zone,
        ),
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _visible(caller: Caller, controller_id: str) -> bool:
    return caller.sees(controller_id)


def exists(controller_id: str) -> bool:
    return ControllerRow.select().where(ControllerRow.controller_id == controller_id).exists()


def get(caller: Caller, controller_id: str) -> Controller:
    row = ControllerRow.get_or_none(ControllerRow.controller_id == controller_id)
    if row is None or not _visible(caller, controller_id):
        raise NotFound(f"controllers/{controller_id} not found")
    return _from_row(row)


def list_page(caller: Caller, page: paging.Page) -> list[Controller]:
    query = ControllerRow.select().order_by(ControllerRow.controller_id).limit(page.size)
    if caller.role is Role.CONTROLLER:
        query = query.where(ControllerRow.controller_id == caller.tenant)
    if page.after is not None:
        query = query.where(ControllerRow.controller_id > page.after)
    return [_from_row(row) for row in query]


def create(m: Mutation, controller_id: str, details: Details) -> Controller:
    errors = details.validate("controller")
    validate.resource_id("controller.controller_id", controller_id, errors)
    errors.raise_if_any()
    if exists(controller_id):
        raise AlreadyExists(f"controllers/{controller_id} already exists")
    ControllerRow.create(
        controller_id=controller_id,
        legal_name=details.legal_name,
        country=details.country,
        contact_email=details.contact_email,
        dpo_email=details.dpo_email,
        notify_emails="\n".join(details.notify_emails),
        time_zone=details.time_zone,
        revision=1,
        create_time=m.now,
        update_time=m.now,
    )
    m.record(
        "controller.create",
        names.make(COLLECTION, controller_id),
        controller_id,
        details.as_change(),
    )
    return get(m.caller, controller_id)


def update(
    m: Mutation, controller_id: str, etag: str, proposed: Details, fields: frozenset[str]
) -> Controller:
    """Applies the named ``fields`` of ``proposed``; checks role and etag."""
    current = get(m.caller, controller_id)
    allowed = ALL_FIELDS if m.caller.is_staff else CONTACT_FIELDS
    if not fields <= allowed:
        denied = ", ".join(sorted(fields - allowed))
        raise PermissionDenied(f"this caller may not change: {denied}")
    if etag and etag != current.etag:
        raise Aborted(f"etag {etag!r} is stale; current is {current.etag!r}")
    merged = replace(current.details, **{f: getattr(proposed, f) for f in fields})
    merged.validate("controller").raise_if_any()
    updated = (
        ControllerRow.update(
            legal_name=merged.legal_name,
            country=merged.country,
            contact_email=merged.contact_email,
            dpo_email=merged.dpo_email,
            notify_emails="\n".join(merged.notify_emails),
            time_zone=merged.time_zone,
            revision=current.revision + 1,
            update_time=m.now,
        )
        .where(
            (ControllerRow.controller_id == controller_id)
            & (ControllerRow.revision == current.revision)
        )
        .execute()
    )
    if updated != 1:
        raise Aborted("controller changed concurrently; re-read and retry")
    m.record(
        "controller.update",
        current.name,
        controller_id,
        {"fields": sorted(fields), "new": {f: merged.as_change()[f] for f in sorted(fields)}},
    )
    return get(m.caller, controller_id)


# -- the read API other domains use --------------------------------------------

_CHUNK = 500
SCAN_ABOVE = 2000


def _chunked(ids: Collection[str]) -> Iterable[list[str]]:
    return db.in_chunks(ids, _CHUNK)


def existing(controller_ids: Collection[str] | None) -> set[str]:
    """The registered controllers among ``controller_ids`` (every one if None)."""
    c = ControllerRow
    if controller_ids is None:
        return {str(cid) for cid in c.select(c.controller_id).scalars()}
    found: set[str] = set()
    for chunk in _chunked(controller_ids):
        found.update(
            str(cid)
            for cid in c.select(c.controller_id).where(c.controller_id.in_(chunk)).scalars()
        )
    return found


def time_zones(controller_ids: Collection[str]) -> dict[str, str]:
    """Controller id -> its notification time zone ("" for UTC).

    For more than ``SCAN_ABOVE`` controllers one query reads every
    controller's and keeps the named ones (cheaper than IN lists of
    thousands of parameters)."""
    c = ControllerRow
    wanted = set(controller_ids)
    if len(wanted) > SCAN_ABOVE:
        rows = db.database.execute(c.select(c.controller_id, c.time_zone)).fetchall()
        return {str(cid): str(tz) for cid, tz in rows if cid in wanted}
    result: dict[str, str] = {}
    for chunk in _chunked(wanted):
        query = c.select(c.controller_id, c.time_zone).where(c.controller_id.in_(chunk))
        rows = db.database.execute(query).fetchall()
        result.update({str(cid): str(tz) for cid, tz in rows})
    return result


def party(controller_id: str) -> dict[str, str]:
    """The controller as a party to its DPA (name and contacts)."""
    row = ControllerRow.get(ControllerRow.controller_id == controller_id)
    return {
        "legal_name": row.legal_name,
        "country": row.country,
        "contact_email": row.contact_email,
        "dpo_email": row.dpo_email,
    }


def parties(controller_ids: Collection[str] | None) -> dict[str, dict[str, str]]:
    """Controller id -> its name and contacts (``party``), for many at once;
    ``None`` means every controller."""
    c = ControllerRow
    result: dict[str, dict[str, str]] = {}
    chunks: Iterable[list[str] | None] = (
        [None] if controller_ids is None else _chunked(controller_ids)
    )
    for chunk in chunks:
        query = c.select()
        if chunk is not None:
            query = query.where(c.controller_id.in_(chunk))
        for row in query:
            result[row.controller_id] = {
                "legal_name": row.legal_name,
                "country": row.country,
                "contact_email": row.contact_email,
                "dpo_email": row.dpo_email,
            }
    return result


@changefeed.publishes("controllers")
def _touched(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    touched.controllers.add(ids[0])
