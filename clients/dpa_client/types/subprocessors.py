"""Sub-processors (Art. 28(2), 28(4)), change notices and the controller's list.

Frozen values built from the wire messages of ``subprocessors.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dpa_client.types._convert import enum_of, set_time, time_of, wire
from dpa_registry_api.v1 import subprocessors_pb2 as pb


class ServiceCategory(StrEnum):
    """Service category."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    HOSTING = "HOSTING"
    CLOUD_INFRASTRUCTURE = "CLOUD_INFRASTRUCTURE"
    IT_SERVICES = "IT_SERVICES"
    PAYMENT_PROCESSING = "PAYMENT_PROCESSING"
    CUSTOMER_SUPPORT_TOOLING = "CUSTOMER_SUPPORT_TOOLING"
    AI_MODEL_PROVIDER = "AI_MODEL_PROVIDER"


class SubprocessorStatus(StrEnum):
    """Subprocessor status."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PROPOSED = "PROPOSED"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


class DpfStatus(StrEnum):
    """EU-US Data Privacy Framework, adequacy decision (EU) 2023/1795."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    NOT_APPLICABLE = "NOT_APPLICABLE"
    """Not a US entity."""
    CERTIFIED = "CERTIFIED"
    NOT_CERTIFIED = "NOT_CERTIFIED"


class EngagementScope(StrEnum):
    """Engagement scope."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PLATFORM = "PLATFORM"
    """Processes every controller's data (the default)."""
    NAMED_CONTROLLERS = "NAMED_CONTROLLERS"
    """Only the data of controllers named in its change notices."""


class SubprocessorAuthorizationState(StrEnum):
    """Subprocessor authorization state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    OBJECTED = "OBJECTED"
    WITHDRAWN = "WITHDRAWN"
    """No longer engaged for this controller (removed or replaced)."""


class ChangeKind(StrEnum):
    """Change kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    ADDITION = "ADDITION"
    REPLACEMENT = "REPLACEMENT"
    REMOVAL = "REMOVAL"


class ChangeNoticeState(StrEnum):
    """Change notice state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    OPEN = "OPEN"
    """Before its effective time."""
    EFFECTIVE = "EFFECTIVE"


class ControllerDecision(StrEnum):
    """Controller decision."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    OBJECTED = "OBJECTED"
    INFORMED = "INFORMED"
    """A removal: nothing to authorise."""


class ObjectionResolution(StrEnum):
    """Objection resolution."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    UNRESOLVED = "UNRESOLVED"
    ALTERNATIVE_ARRANGEMENT = "ALTERNATIVE_ARRANGEMENT"
    """Processing for this controller continues without the sub-processor."""
    TERMINATION = "TERMINATION"
    """The controller exercises its right to terminate the DPA."""


class SubprocessorAuthorizationMode(StrEnum):
    """The controller's authorisation mode, from its DPA (SCC 2021/914 Clause 9)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    SPECIFIC = "SPECIFIC"
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubprocessorAgreement:
    """The Art. 28(4) contract with the sub-processor."""

    signed_date: str
    """ISO 8601 date "YYYY-MM-DD"."""
    reference: str
    document_digest: str
    """"sha256:<hex>" of the signed document."""
    flow_down_confirmed: bool
    """The DPA's obligations flow down to the sub-processor (Art. 28(4))."""

    @classmethod
    def from_proto(cls, msg: pb.SubprocessorAgreement) -> SubprocessorAgreement:
        """The value of a ``dpa.registry.v1.SubprocessorAgreement`` message."""
        return cls(
            signed_date=msg.signed_date,
            reference=msg.reference,
            document_digest=msg.document_digest,
            flow_down_confirmed=msg.flow_down_confirmed,
        )

    def to_proto(self) -> pb.SubprocessorAgreement:
        """The ``dpa.registry.v1.SubprocessorAgreement`` message of this value."""
        return pb.SubprocessorAgreement(
            signed_date=self.signed_date,
            reference=self.reference,
            document_digest=self.document_digest,
            flow_down_confirmed=self.flow_down_confirmed,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DpfCertification:
    """A US recipient's EU-US Data Privacy Framework status, and when it was checked."""

    status: DpfStatus
    checked_date: str
    """ISO 8601 date the certification was last checked; required for US entities."""

    @classmethod
    def from_proto(cls, msg: pb.DpfCertification) -> DpfCertification:
        """The value of a ``dpa.registry.v1.DpfCertification`` message."""
        return cls(
            status=enum_of(DpfStatus, pb.DpfStatus, msg.status),
            checked_date=msg.checked_date,
        )

    def to_proto(self) -> pb.DpfCertification:
        """The ``dpa.registry.v1.DpfCertification`` message of this value."""
        return pb.DpfCertification(
            status=wire(pb.DpfStatus, self.status),
            checked_date=self.checked_date,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Subprocessor:
    """A sub-processor in the registry (Art. 28(2), 28(4))."""

    name: str
    """"subprocessors/{subprocessor_id}"."""
    subprocessor_id: str
    display_name: str
    legal_name: str
    address: str
    """Postal address."""
    country: str
    """ISO 3166-1 alpha-2 country of establishment."""
    contact_email: str
    service_category: ServiceCategory
    locations: tuple[str, ...]
    """ISO 3166-1 alpha-2 countries where it processes data."""
    data_categories: tuple[str, ...]
    """fideslang data category keys it may process."""
    purpose: str
    agreement: SubprocessorAgreement
    certifications: tuple[str, ...]
    dpf: DpfCertification
    status: SubprocessorStatus
    """Output only: changes through change notices."""
    scope: EngagementScope
    create_time: datetime | None
    update_time: datetime | None
    etag: str

    @classmethod
    def from_proto(cls, msg: pb.Subprocessor) -> Subprocessor:
        """The value of a ``dpa.registry.v1.Subprocessor`` message."""
        return cls(
            name=msg.name,
            subprocessor_id=msg.subprocessor_id,
            display_name=msg.display_name,
            legal_name=msg.legal_name,
            address=msg.address,
            country=msg.country,
            contact_email=msg.contact_email,
            service_category=enum_of(ServiceCategory, pb.ServiceCategory, msg.service_category),
            locations=tuple(msg.locations),
            data_categories=tuple(msg.data_categories),
            purpose=msg.purpose,
            agreement=SubprocessorAgreement.from_proto(msg.agreement),
            certifications=tuple(msg.certifications),
            dpf=DpfCertification.from_proto(msg.dpf),
            status=enum_of(SubprocessorStatus, pb.SubprocessorStatus, msg.status),
            scope=enum_of(EngagementScope, pb.EngagementScope, msg.scope),
            create_time=time_of(msg, "create_time"),
            update_time=time_of(msg, "update_time"),
            etag=msg.etag,
        )

    def to_proto(self) -> pb.Subprocessor:
        """The ``dpa.registry.v1.Subprocessor`` message of this value."""
        msg = pb.Subprocessor(
            name=self.name,
            subprocessor_id=self.subprocessor_id,
            display_name=self.display_name,
            legal_name=self.legal_name,
            address=self.address,
            country=self.country,
            contact_email=self.contact_email,
            service_category=wire(pb.ServiceCategory, self.service_category),
            locations=list(self.locations),
            data_categories=list(self.data_categories),
            purpose=self.purpose,
            agreement=self.agreement.to_proto(),
            certifications=list(self.certifications),
            dpf=self.dpf.to_proto(),
            status=wire(pb.SubprocessorStatus, self.status),
            scope=wire(pb.EngagementScope, self.scope),
            etag=self.etag,
        )
        set_time(msg, "create_time", self.create_time)
        set_time(msg, "update_time", self.update_time)
        return msg


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeNotice:
    """An intended addition, replacement or removal of a sub-processor (Art. 28(2))."""

    name: str
    """"changeNotices/{notice_id}"."""
    notice_id: str
    kind: ChangeKind
    subprocessor: str
    """ADDITION, REPLACEMENT: the one added; REMOVAL: the one removed."""
    replaced_subprocessor: str
    """REPLACEMENT: the one replaced."""
    effective_time: datetime | None
    reason: str
    state: ChangeNoticeState
    """Output only."""
    recipient_count: int
    """Output only: how many controllers were notified."""
    create_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.ChangeNotice) -> ChangeNotice:
        """The value of a ``dpa.registry.v1.ChangeNotice`` message."""
        return cls(
            name=msg.name,
            notice_id=msg.notice_id,
            kind=enum_of(ChangeKind, pb.ChangeKind, msg.kind),
            subprocessor=msg.subprocessor,
            replaced_subprocessor=msg.replaced_subprocessor,
            effective_time=time_of(msg, "effective_time"),
            reason=msg.reason,
            state=enum_of(ChangeNoticeState, pb.ChangeNoticeState, msg.state),
            recipient_count=msg.recipient_count,
            create_time=time_of(msg, "create_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticePeriodConflict:
    """A controller whose advance-notice period a change would violate."""

    controller_id: str
    notice_days: int
    """The advance-notice period of its ACTIVE DPA, in days."""
    earliest_effective_time: datetime | None
    """The earliest effective time its DPA allows for a change proposed now."""

    @classmethod
    def from_proto(cls, msg: pb.NoticePeriodConflict) -> NoticePeriodConflict:
        """The value of a ``dpa.registry.v1.NoticePeriodConflict`` message."""
        return cls(
            controller_id=msg.controller_id,
            notice_days=msg.notice_days,
            earliest_effective_time=time_of(msg, "earliest_effective_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerChange:
    """One controller's copy of a change notice."""

    change_notice: str
    """"changeNotices/{notice_id}"."""
    controller_id: str
    kind: ChangeKind
    subprocessor: str
    replaced_subprocessor: str
    effective_time: datetime | None
    authorization_mode: SubprocessorAuthorizationMode
    notified_time: datetime | None
    """When the notice was sent (put in the controller's inbox)."""
    objection_deadline: datetime | None
    """The end of this controller's objection window: its objection period
    counted from first_delivery_time. Unset while the notice has reached the
    controller by no channel: the window has not begun.
    """
    decision: ControllerDecision
    reason: str
    decided_time: datetime | None
    resolution: ObjectionResolution
    resolution_note: str
    first_delivery_time: datetime | None
    """When the notice first reached the controller (Watch stream, inbox
    acknowledgement, webhook 2xx or e-mail accepted and not bounced); unset:
    not yet. See DeliveryService.GetNoticeEvidence for every channel.
    """

    @classmethod
    def from_proto(cls, msg: pb.ControllerChange) -> ControllerChange:
        """The value of a ``dpa.registry.v1.ControllerChange`` message."""
        return cls(
            change_notice=msg.change_notice,
            controller_id=msg.controller_id,
            kind=enum_of(ChangeKind, pb.ChangeKind, msg.kind),
            subprocessor=msg.subprocessor,
            replaced_subprocessor=msg.replaced_subprocessor,
            effective_time=time_of(msg, "effective_time"),
            authorization_mode=enum_of(
                SubprocessorAuthorizationMode,
                pb.SubprocessorAuthorizationMode,
                msg.authorization_mode,
            ),
            notified_time=time_of(msg, "notified_time"),
            objection_deadline=time_of(msg, "objection_deadline"),
            decision=enum_of(ControllerDecision, pb.ControllerDecision, msg.decision),
            reason=msg.reason,
            decided_time=time_of(msg, "decided_time"),
            resolution=enum_of(ObjectionResolution, pb.ObjectionResolution, msg.resolution),
            resolution_note=msg.resolution_note,
            first_delivery_time=time_of(msg, "first_delivery_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubprocessorListEntry:
    """One line of a controller's sub-processor annex."""

    subprocessor: str
    display_name: str
    legal_name: str
    address: str
    country: str
    contact_email: str
    locations: tuple[str, ...]
    purpose: str
    service_category: ServiceCategory
    state: SubprocessorAuthorizationState

    @classmethod
    def from_proto(cls, msg: pb.SubprocessorListEntry) -> SubprocessorListEntry:
        """The value of a ``dpa.registry.v1.SubprocessorListEntry`` message."""
        return cls(
            subprocessor=msg.subprocessor,
            display_name=msg.display_name,
            legal_name=msg.legal_name,
            address=msg.address,
            country=msg.country,
            contact_email=msg.contact_email,
            locations=tuple(msg.locations),
            purpose=msg.purpose,
            service_category=enum_of(ServiceCategory, pb.ServiceCategory, msg.service_category),
            state=enum_of(
                SubprocessorAuthorizationState, pb.SubprocessorAuthorizationState, msg.state
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawal:
    """One controller's withdrawal of its authorisation of one sub-processor."""

    controller_id: str
    subprocessor: str
    """"subprocessors/{subprocessor_id}"."""
    reason: str
    withdraw_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.Withdrawal) -> Withdrawal:
        """The value of a ``dpa.registry.v1.Withdrawal`` message."""
        return cls(
            controller_id=msg.controller_id,
            subprocessor=msg.subprocessor,
            reason=msg.reason,
            withdraw_time=time_of(msg, "withdraw_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubprocessorList:
    """A controller's sub-processor list (Annex IV) with its pending changes."""

    controller: str
    entries: tuple[SubprocessorListEntry, ...]
    """What the DPA's sub-processor annex lists (authorised or pending), plus
    the ones this controller objected to (OBJECTED) or withdrew (WITHDRAWN).
    """
    pending_changes: tuple[ControllerChange, ...]
    """Changes this controller was notified of that are still open: not yet
    effective, or awaiting its decision.
    """

    @classmethod
    def from_proto(cls, msg: pb.SubprocessorList) -> SubprocessorList:
        """The value of a ``dpa.registry.v1.SubprocessorList`` message."""
        return cls(
            controller=msg.controller,
            entries=tuple(SubprocessorListEntry.from_proto(v) for v in msg.entries),
            pending_changes=tuple(ControllerChange.from_proto(v) for v in msg.pending_changes),
        )
