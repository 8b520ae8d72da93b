"""The values of the breach domain: incidents, phases, obligations, notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from registry import names, validate
from registry.auth import Caller
from registry.breaches import rules
from registry.errors import InvalidArgument


def tuples(query: Any) -> list[tuple[Any, ...]]:
    """Rows of a ``.tuples()`` query (peewee's stubs type them as models)."""
    return [tuple(t) for t in query]


COLLECTION = "breaches"
NOTICES = "breachNotices"
BATCH = 500
CLOCK_SKEW = timedelta(minutes=5)
"""Times of awareness and detection may be this far in the future (clock skew)."""


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
    """Numbers of the inbox notifications that told the controller of it."""
    unread: tuple[int, ...] = ()
    """Those not yet acknowledged."""

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
