"""Personal data breaches (Art. 33) as the client returns them.

Frozen values built from the wire messages of ``breaches.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dpa_client.types._convert import duration_of, enum_of, time_of
from dpa_registry_api.v1 import breaches_pb2 as pb


class BreachStatus(StrEnum):
    """Breach status."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    OPEN = "OPEN"
    CONTAINED = "CONTAINED"
    CLOSED = "CLOSED"


class BreachType(StrEnum):
    """EDPB Guidelines 9/2022: confidentiality, integrity and availability breaches."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    CONFIDENTIALITY = "CONFIDENTIALITY"
    INTEGRITY = "INTEGRITY"
    AVAILABILITY = "AVAILABILITY"


class ObligationState(StrEnum):
    """The processor's obligation towards one controller."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PENDING = "PENDING"
    """Not yet sent (the breach was reported with hold_notices)."""
    SENT = "SENT"
    """In the controller's inbox and live stream, not yet acknowledged."""
    ACKNOWLEDGED = "ACKNOWLEDGED"
    WITHDRAWN = "WITHDRAWN"
    """Staff removed the controller after it was notified; it was told."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactPoint:
    """Art. 33(3)(b): the DPO or other contact point."""

    name: str
    email: str
    phone: str

    @classmethod
    def from_proto(cls, msg: pb.ContactPoint) -> ContactPoint:
        """The value of a ``dpa.registry.v1.ContactPoint`` message."""
        return cls(
            name=msg.name,
            email=msg.email,
            phone=msg.phone,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreachInfo:
    """What one phase says. In a later phase, an empty field adds nothing; list
    fields add to the earlier ones, other fields supersede them in the current
    view (the earlier phases stay as they were).
    """

    types: tuple[BreachType, ...]
    description: str
    """Nature and description of the breach (Art. 33(3)(a))."""
    data_categories: tuple[str, ...]
    """fideslang data category keys, e.g. "user.contact.email"."""
    data_subject_categories: tuple[str, ...]
    """fideslang data subject keys, e.g. "customer"."""
    approx_data_subjects: int
    """Approximate numbers; 0 means unknown (yet)."""
    approx_records: int
    subprocessors: tuple[str, ...]
    """Sub-processor ids whose processing is affected."""
    systems: tuple[str, ...]
    """Free identifiers of the processor's own affected systems."""
    likely_consequences: str
    """Art. 33(3)(c)."""
    measures: str
    """Art. 33(3)(d): measures taken or proposed, including mitigation."""
    contact: ContactPoint

    @classmethod
    def from_proto(cls, msg: pb.BreachInfo) -> BreachInfo:
        """The value of a ``dpa.registry.v1.BreachInfo`` message."""
        return cls(
            types=tuple(enum_of(BreachType, pb.BreachType, v) for v in msg.types),
            description=msg.description,
            data_categories=tuple(msg.data_categories),
            data_subject_categories=tuple(msg.data_subject_categories),
            approx_data_subjects=msg.approx_data_subjects,
            approx_records=msg.approx_records,
            subprocessors=tuple(msg.subprocessors),
            systems=tuple(msg.systems),
            likely_consequences=msg.likely_consequences,
            measures=msg.measures,
            contact=ContactPoint.from_proto(msg.contact),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreachPhase:
    """What staff reported at one phase of a breach (Art. 33(4): in phases)."""

    number: int
    """1 is the initial report."""
    info: BreachInfo
    status: BreachStatus
    """The status this phase left the breach in."""
    create_time: datetime | None
    author: str
    """SPIFFE ID of the staff member."""

    @classmethod
    def from_proto(cls, msg: pb.BreachPhase) -> BreachPhase:
        """The value of a ``dpa.registry.v1.BreachPhase`` message."""
        return cls(
            number=msg.number,
            info=BreachInfo.from_proto(msg.info),
            status=enum_of(BreachStatus, pb.BreachStatus, msg.status),
            create_time=time_of(msg, "create_time"),
            author=msg.author,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedAdjustment:
    """One adjustment of the affected set by staff."""

    controller: str
    """"controllers/{controller_id}"."""
    added: bool
    """True: added; false: removed."""
    reason: str
    create_time: datetime | None
    author: str

    @classmethod
    def from_proto(cls, msg: pb.AffectedAdjustment) -> AffectedAdjustment:
        """The value of a ``dpa.registry.v1.AffectedAdjustment`` message."""
        return cls(
            controller=msg.controller,
            added=msg.added,
            reason=msg.reason,
            create_time=time_of(msg, "create_time"),
            author=msg.author,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationCounts:
    """How many affected controllers' notices are in which state."""

    affected: int
    pending: int
    sent: int
    acknowledged: int
    withdrawn: int
    overdue: int
    """Not acknowledged (nor withdrawn) and past its deadline, now."""

    @classmethod
    def from_proto(cls, msg: pb.ObligationCounts) -> ObligationCounts:
        """The value of a ``dpa.registry.v1.ObligationCounts`` message."""
        return cls(
            affected=msg.affected,
            pending=msg.pending,
            sent=msg.sent,
            acknowledged=msg.acknowledged,
            withdrawn=msg.withdrawn,
            overdue=msg.overdue,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """A personal data breach at the processor (Art. 33(2)), with its phases."""

    name: str
    """"breaches/{breach_id}"."""
    breach_id: str
    status: BreachStatus
    awareness_time: datetime | None
    """When the processor became aware (the deadlines count from here)."""
    detection_time: datetime | None
    phases: tuple[BreachPhase, ...]
    """Every phase, oldest first."""
    current: BreachInfo
    """The information of all phases merged (see BreachInfo)."""
    adjustments: tuple[AffectedAdjustment, ...]
    counts: ObligationCounts
    create_time: datetime | None
    update_time: datetime | None
    etag: str
    """Changes with every phase or adjustment."""

    @classmethod
    def from_proto(cls, msg: pb.Breach) -> Breach:
        """The value of a ``dpa.registry.v1.Breach`` message."""
        return cls(
            name=msg.name,
            breach_id=msg.breach_id,
            status=enum_of(BreachStatus, pb.BreachStatus, msg.status),
            awareness_time=time_of(msg, "awareness_time"),
            detection_time=time_of(msg, "detection_time"),
            phases=tuple(BreachPhase.from_proto(v) for v in msg.phases),
            current=BreachInfo.from_proto(msg.current),
            adjustments=tuple(AffectedAdjustment.from_proto(v) for v in msg.adjustments),
            counts=ObligationCounts.from_proto(msg.counts),
            create_time=time_of(msg, "create_time"),
            update_time=time_of(msg, "update_time"),
            etag=msg.etag,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreachObligation:
    """The processor's duty to notify one controller of a breach, with its deadline."""

    name: str
    """"controllers/{controller_id}/breachNotices/{breach_id}"."""
    controller: str
    breach: str
    state: ObligationState
    notification_hours: int
    """From the controller's ACTIVE DPA (24, 48, 72); the default without one."""
    deadline: datetime | None
    """awareness_time + notification_hours."""
    notify_time: datetime | None
    acknowledge_time: datetime | None
    overdue: bool
    overdue_by: timedelta | None
    reasons: tuple[str, ...]
    """Why the controller is affected (sub-processors, staff additions)."""
    withdraw_reason: str
    time_zone: str
    """The controller's time zone (its notification preferences) and the
    deadline in it, RFC 3339 with offset.
    """
    deadline_local: str

    @classmethod
    def from_proto(cls, msg: pb.BreachObligation) -> BreachObligation:
        """The value of a ``dpa.registry.v1.BreachObligation`` message."""
        return cls(
            name=msg.name,
            controller=msg.controller,
            breach=msg.breach,
            state=enum_of(ObligationState, pb.ObligationState, msg.state),
            notification_hours=msg.notification_hours,
            deadline=time_of(msg, "deadline"),
            notify_time=time_of(msg, "notify_time"),
            acknowledge_time=time_of(msg, "acknowledge_time"),
            overdue=msg.overdue,
            overdue_by=duration_of(msg, "overdue_by"),
            reasons=tuple(msg.reasons),
            withdraw_reason=msg.withdraw_reason,
            time_zone=msg.time_zone,
            deadline_local=msg.deadline_local,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreachNotice:
    """What one controller is told: only its own data and deadlines, never who
    else is affected.
    """

    name: str
    """"controllers/{controller_id}/breachNotices/{breach_id}"."""
    controller: str
    breach: str
    """"breaches/{breach_id}"."""
    status: BreachStatus
    state: ObligationState
    awareness_time: datetime | None
    detection_time: datetime | None
    notification_hours: int
    deadline: datetime | None
    """The processor's deadline towards this controller."""
    notify_time: datetime | None
    acknowledge_time: datetime | None
    supervisory_deadline: datetime | None
    """Art. 33(1): the controller's own 72 hours to tell its supervisory
    authority, counted from when it was notified, and what is left of them
    now (negative once passed).
    """
    supervisory_time_left: timedelta | None
    phases: tuple[BreachPhase, ...]
    """The phases as this controller sees them (its sub-processors and data)."""
    current: BreachInfo
    time_zone: str
    deadline_local: str
    notify_time_local: str
    supervisory_deadline_local: str
    notifications: tuple[int, ...]
    """Ids of the inbox notifications that carried this notice."""

    @classmethod
    def from_proto(cls, msg: pb.BreachNotice) -> BreachNotice:
        """The value of a ``dpa.registry.v1.BreachNotice`` message."""
        return cls(
            name=msg.name,
            controller=msg.controller,
            breach=msg.breach,
            status=enum_of(BreachStatus, pb.BreachStatus, msg.status),
            state=enum_of(ObligationState, pb.ObligationState, msg.state),
            awareness_time=time_of(msg, "awareness_time"),
            detection_time=time_of(msg, "detection_time"),
            notification_hours=msg.notification_hours,
            deadline=time_of(msg, "deadline"),
            notify_time=time_of(msg, "notify_time"),
            acknowledge_time=time_of(msg, "acknowledge_time"),
            supervisory_deadline=time_of(msg, "supervisory_deadline"),
            supervisory_time_left=duration_of(msg, "supervisory_time_left"),
            phases=tuple(BreachPhase.from_proto(v) for v in msg.phases),
            current=BreachInfo.from_proto(msg.current),
            time_zone=msg.time_zone,
            deadline_local=msg.deadline_local,
            notify_time_local=msg.notify_time_local,
            supervisory_deadline_local=msg.supervisory_deadline_local,
            notifications=tuple(msg.notifications),
        )
