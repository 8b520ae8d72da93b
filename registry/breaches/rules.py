"""The pure core of breach handling: no I/O, testable without a server.

* Deadlines (Art. 33(2), SCC Clause 8.6): the processor's deadline towards a
  controller is the time of awareness plus the hours of that controller's
  ACTIVE DPA; the controller's own Art. 33(1) clock is 72 hours from when it
  was notified. Hours are elapsed hours, not wall-clock hours: across a DST
  change the local rendering moves, the instant does not.
* Overdue: an obligation not acknowledged (nor withdrawn) past its deadline,
  computed at read time.
* Phases (Art. 33(4)): each phase adds information; ``merge`` gives the
  current view without changing any phase.
* Who is affected: the controllers whose data an affected sub-processor
  processes, adjusted by staff additions and removals with reasons.
* What one controller is told: only its own sub-processors and the data
  categories of its own DPA.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from registry import taxonomy, validate
from registry.errors import FailedPrecondition, Violations

DEFAULT_HOURS = 24
"""Deadline for a controller without an ACTIVE DPA: Art. 33(2) says "without
undue delay", so the registry uses the shortest period DPAs commonly fix."""
SUPERVISORY_HOURS = 72
"""Art. 33(1): the controller's period to notify its supervisory authority."""
MAX_TEXT = 10_000


class Status(enum.Enum):
    OPEN = "OPEN"
    CONTAINED = "CONTAINED"
    CLOSED = "CLOSED"


TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.CONTAINED, Status.CLOSED}),
    Status.CONTAINED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


def check_transition(current: Status, new: Status) -> None:
    """Raises FailedPrecondition for an illegal status change; same status is fine."""
    if current is Status.CLOSED:
        raise FailedPrecondition("the breach is CLOSED; nothing more can be added")
    if new is not current and new not in TRANSITIONS[current]:
        raise FailedPrecondition(f"a breach cannot go from {current.value} to {new.value}")


class BreachType(enum.Enum):
    """EDPB Guidelines 9/2022, section I.B: the three kinds of breach."""

    CONFIDENTIALITY = "CONFIDENTIALITY"
    INTEGRITY = "INTEGRITY"
    AVAILABILITY = "AVAILABILITY"


class ObligationState(enum.Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    WITHDRAWN = "WITHDRAWN"


@dataclass(frozen=True)
class ContactPoint:
    """Art. 33(3)(b): the DPO or another contact point."""

    name: str = ""
    email: str = ""
    phone: str = ""

    def __bool__(self) -> bool:
        return bool(self.name or self.email or self.phone)


def _union(lists: Iterable[Sequence[str]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for values in lists:
        for v in values:
            seen.setdefault(v, None)
    return tuple(seen)


@dataclass(frozen=True)
class Info:
    """What one phase says (Art. 33(3)); empty fields add nothing."""

    types: tuple[BreachType, ...] = ()
    description: str = ""
    data_categories: tuple[str, ...] = ()
    data_subjects: tuple[str, ...] = ()
    approx_data_subjects: int = 0
    approx_records: int = 0
    subprocessors: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    likely_consequences: str = ""
    measures: str = ""
    contact: ContactPoint = field(default_factory=ContactPoint)

    def is_empty(self) -> bool:
        return self == Info()

    def validate(self, prefix: str, *, initial: bool) -> Violations:
        errors = Violations()
        if initial:
            if not self.types:
                errors.add(f"{prefix}.types", "name at least one kind of breach")
            if not self.description.strip():
                errors.add(f"{prefix}.description", "describe the nature of the breach")
            if not (self.subprocessors or self.systems):
                errors.add(f"{prefix}.subprocessors", "name an affected sub-processor or system")
            if not self.contact:
                errors.add(f"{prefix}.contact", "name a contact point (Art. 33(3)(b))")
        for name in ("description", "likely_consequences", "measures"):
            value: str = getattr(self, name)
            if len(value) > MAX_TEXT:
                errors.add(f"{prefix}.{name}", f"is longer than {MAX_TEXT} characters")
        taxonomy.validate(
            taxonomy.Kind.DATA_CATEGORY, f"{prefix}.data_categories", self.data_categories, errors
        )
        taxonomy.validate(
            taxonomy.Kind.DATA_SUBJECT,
            f"{prefix}.data_subject_categories",
            self.data_subjects,
            errors,
        )
        if self.approx_data_subjects < 0:
            errors.add(f"{prefix}.approx_data_subjects", "must not be negative")
        if self.approx_records < 0:
            errors.add(f"{prefix}.approx_records", "must not be negative")
        for i, sp in enumerate(self.subprocessors):
            validate.resource_id(f"{prefix}.subprocessors[{i}]", sp, errors)
        for i, system in enumerate(self.systems):
            if not system.strip() or len(system) > 200:
                errors.add(f"{prefix}.systems[{i}]", "must be 1 to 200 characters")
        if self.contact.email:
            validate.email(f"{prefix}.contact.email", self.contact.email, errors)
        if len(self.contact.name) > 200 or len(self.contact.phone) > 50:
            errors.add(f"{prefix}.contact", "name or phone is too long")
        return errors

    def to_json(self) -> dict[str, Any]:
        return {
            "types": [t.value for t in self.types],
            "description": self.description,
            "data_categories": list(self.data_categories),
            "data_subjects": list(self.data_subjects),
            "approx_data_subjects": self.approx_data_subjects,
            "approx_records": self.approx_records,
            "subprocessors": list(self.subprocessors),
            "systems": list(self.systems),
            "likely_consequences": self.likely_consequences,
            "measures": self.measures,
            "contact": {
                "name": self.contact.name,
                "email": self.contact.email,
                "phone": self.contact.phone,
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Info:
        contact = data.get("contact") or {}
        return cls(
            types=tuple(BreachType(t) for t in data.get("types", ())),
            description=data.get("description", ""),
            data_categories=tuple(data.get("data_categories", ())),
            data_subjects=tuple(data.get("data_subjects", ())),
            approx_data_subjects=int(data.get("approx_data_subjects", 0)),
            approx_records=int(data.get("approx_records", 0)),
            subprocessors=tuple(data.get("subprocessors", ())),
            systems=tuple(data.get("systems", ())),
            likely_consequences=data.get("likely_consequences", ""),
            measures=data.get("measures", ""),
            contact=ContactPoint(
                contact.get("name", ""), contact.get("email", ""), contact.get("phone", "")
            ),
        )


def merge(phases: Sequence[Info]) -> Info:
    """The current view: lists accumulate, other fields take the latest non-empty value."""

    def latest(name: str) -> Any:
        for info in reversed(phases):
            value = getattr(info, name)
            if value:
                return value
        return getattr(Info(), name)

    return Info(
        types=tuple(BreachType(v) for v in _union([t.value for t in p.types] for p in phases)),
        description=latest("description"),
        data_categories=_union(p.data_categories for p in phases),
        data_subjects=_union(p.data_subjects for p in phases),
        approx_data_subjects=latest("approx_data_subjects"),
        approx_records=latest("approx_records"),
        subprocessors=_union(p.subprocessors for p in phases),
        systems=_union(p.systems for p in phases),
        likely_consequences=latest("likely_consequences"),
        measures=latest("measures"),
        contact=latest("contact"),
    )


# -- deadlines -----------------------------------------------------------------


def deadline(awareness: datetime, hours: int) -> datetime:
    """Art. 33(2) as the DPA fixes it: awareness plus ``hours`` elapsed hours."""
    if hours <= 0:
        raise ValueError("notification hours must be positive")
    return awareness + timedelta(hours=hours)


def supervisory_deadline(notified: datetime) -> datetime:
    """Art. 33(1): the controller's 72 hours, counted from when it was notified."""
    return notified + timedelta(hours=SUPERVISORY_HOURS)


def state_of(
    notified: datetime | None, acknowledged: datetime | None, withdrawn: bool
) -> ObligationState:
    if withdrawn:
        return ObligationState.WITHDRAWN
    if acknowledged is not None:
        return ObligationState.ACKNOWLEDGED
    if notified is not None:
        return ObligationState.SENT
    return ObligationState.PENDING


def overdue_by(state: ObligationState, due: datetime, now: datetime) -> timedelta | None:
    """How long past its deadline an open obligation is; None if it is not overdue.

    An obligation is open until the controller acknowledges the notice: a
    notice sent but not confirmed is not known to have reached the controller,
    so staff follow it up through the controller's contact points.
    """
    if state in (ObligationState.ACKNOWLEDGED, ObligationState.WITHDRAWN):
        return None
    if now <= due:
        return None
    return now - due


def local_time(moment: datetime, time_zone: str) -> str:
    """RFC 3339 with the offset in force at that instant in ``time_zone`` (UTC if empty)."""
    zone = ZoneInfo(time_zone) if time_zone else UTC
    return moment.astimezone(zone).isoformat(timespec="seconds")


# -- who is affected -----------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """A controller whose personal data an affected sub-processor may hold
    (``registry.subprocessors.engagement.holders``), with the reason why."""

    controller_id: str
    subprocessor_id: str
    reason: str


@dataclass(frozen=True)
class Adjustment:
    controller_id: str
    added: bool
    reason: str


@dataclass(frozen=True)
class Affected:
    subprocessors: frozenset[str]
    """The affected sub-processors that process this controller's data."""
    reasons: tuple[str, ...]


def affected(
    holdings: Iterable[Holding],
    adjustments: Iterable[Adjustment],
) -> dict[str, Affected]:
    """Controller id -> why it is affected; staff adjustments apply in order."""
    by_controller: dict[str, dict[str, str]] = {}
    for h in holdings:
        by_controller.setdefault(h.controller_id, {})[h.subprocessor_id] = h.reason
    # Controllers affected alike (the same sub-processors for the same
    # reasons) share one value: a platform-wide breach has one for thousands.
    alike: dict[tuple[tuple[str, str], ...], Affected] = {}
    result: dict[str, Affected] = {}
    for cid, sps in by_controller.items():
        key = tuple(sorted(sps.items()))
        found = alike.get(key)
        if found is None:
            found = alike[key] = Affected(frozenset(sps), tuple(reason for _, reason in key))
        result[cid] = found
    for adj in adjustments:
        if adj.added:
            base = result.get(adj.controller_id, Affected(frozenset(), ()))
            result[adj.controller_id] = replace(
                base, reasons=(*base.reasons, f"added by staff: {adj.reason}")
            )
        else:
            result.pop(adj.controller_id, None)
    return result


# -- one controller's view -----------------------------------------------------


def scoped_keys(keys: Sequence[str], grants: Sequence[str] | None) -> tuple[str, ...]:
    """The incident's fideslang keys in the terms of one controller's DPA.

    ``grants`` are the keys the DPA covers (None: unknown, keep every key). A
    key the DPA covers stays; a broader incident key (``user.contact``) is
    narrowed to the DPA's keys under it (``user.contact.email``); a key
    outside the DPA is left out.
    """
    if grants is None:
        return tuple(keys)
    out: dict[str, None] = {}
    for key in keys:
        if taxonomy.covered_by_any(key, grants):
            out.setdefault(key, None)
            continue
        for grant in grants:
            if taxonomy.covers(key, grant):
                out.setdefault(grant, None)
    return tuple(out)


@dataclass(frozen=True)
class Scope:
    """What of an incident concerns one controller."""

    subprocessors: frozenset[str] | None = None
    """None: every affected sub-processor (a controller added by staff)."""
    data_categories: tuple[str, ...] | None = None
    data_subjects: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "subprocessors": sorted(self.subprocessors) if self.subprocessors is not None else None,
            "data_categories": list(self.data_categories)
            if self.data_categories is not None
            else None,
            "data_subjects": list(self.data_subjects) if self.data_subjects is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        sps = data.get("subprocessors")
        cats = data.get("data_categories")
        subjects = data.get("data_subjects")
        return cls(
            subprocessors=frozenset(sps) if sps is not None else None,
            data_categories=tuple(cats) if cats is not None else None,
            data_subjects=tuple(subjects) if subjects is not None else None,
        )


def view_for(info: Info, scope: Scope) -> Info:
    """``info`` restricted to one controller: its sub-processors, its data."""
    sps = info.subprocessors
    if scope.subprocessors is not None:
        sps = tuple(sp for sp in sps if sp in scope.subprocessors)
    return replace(
        info,
        subprocessors=sps,
        data_categories=scoped_keys(info.data_categories, scope.data_categories),
        data_subjects=scoped_keys(info.data_subjects, scope.data_subjects),
    )
