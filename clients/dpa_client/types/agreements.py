"""DPAs (Art. 28(3)) and documented instructions as the client returns them.

Frozen values built from the wire messages of ``agreements.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dpa_client.types._convert import enum_of, time_of, wire
from dpa_registry_api.v1 import agreements_pb2 as pb


class AgreementState(StrEnum):
    """Agreement state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    REQUESTED = "REQUESTED"
    DRAFTED = "DRAFTED"
    SIGNED_BY_PROCESSOR = "SIGNED_BY_PROCESSOR"
    ACTIVE = "ACTIVE"
    SUPERSEDED = "SUPERSEDED"
    """Replaced by a later ACTIVE version (an amendment); content unchanged."""
    TERMINATED = "TERMINATED"


class AuthorizationMode(StrEnum):
    """Art. 28(2): prior specific or general written authorisation."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    SPECIFIC = "SPECIFIC"
    GENERAL = "GENERAL"


class EndOfContract(StrEnum):
    """Art. 28(3)(g)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    RETURN = "RETURN"
    DELETE = "DELETE"


class ProcessingOperation(StrEnum):
    """Processing operations (Art. 4(2))."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    COLLECT = "COLLECT"
    STORE = "STORE"
    ANALYZE = "ANALYZE"
    TRANSMIT = "TRANSMIT"
    DISCLOSE = "DISCLOSE"
    DELETE = "DELETE"
    TRAIN_MODEL = "TRAIN_MODEL"
    """Training AI models on the client's data (company policy section 6)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreementTerms:
    """The negotiable content. In a request, empty/unset fields take the
    template's default; values must lie within the template's bounds.
    """

    subject_matter: str
    duration: str
    nature: tuple[ProcessingOperation, ...]
    """Nature of the processing."""
    purposes: tuple[str, ...]
    """fideslang data-use keys."""
    data_categories: tuple[str, ...]
    """fideslang data-category keys."""
    data_subjects: tuple[str, ...]
    """fideslang data-subject keys."""
    retention_days: int | None
    authorization_mode: AuthorizationMode
    notice_days: int | None
    """Advance notice of an intended sub-processor change, in days."""
    objection_days: int | None
    """Objection period, in days, counted separately from the notice."""
    breach_notification_hours: int | None
    """Art. 33(2): the processor notifies a breach within this many hours."""
    end_of_contract: EndOfContract
    measures: tuple[str, ...]
    """Annex III measure ids from the catalogue, beyond the template's baseline."""
    dsr_assistance_days: int | None
    """Art. 28(3)(e): the processor does its part of a data-subject request
    within this many days (template bounds), never after the controller's
    own due date.
    """

    @classmethod
    def from_proto(cls, msg: pb.AgreementTerms) -> AgreementTerms:
        """The value of a ``dpa.registry.v1.AgreementTerms`` message."""
        return cls(
            subject_matter=msg.subject_matter,
            duration=msg.duration,
            nature=tuple(
                enum_of(ProcessingOperation, pb.ProcessingOperation, v) for v in msg.nature
            ),
            purposes=tuple(msg.purposes),
            data_categories=tuple(msg.data_categories),
            data_subjects=tuple(msg.data_subjects),
            retention_days=msg.retention_days if msg.HasField("retention_days") else None,
            authorization_mode=enum_of(
                AuthorizationMode, pb.AuthorizationMode, msg.authorization_mode
            ),
            notice_days=msg.notice_days if msg.HasField("notice_days") else None,
            objection_days=msg.objection_days if msg.HasField("objection_days") else None,
            breach_notification_hours=msg.breach_notification_hours
            if msg.HasField("breach_notification_hours")
            else None,
            end_of_contract=enum_of(EndOfContract, pb.EndOfContract, msg.end_of_contract),
            measures=tuple(msg.measures),
            dsr_assistance_days=msg.dsr_assistance_days
            if msg.HasField("dsr_assistance_days")
            else None,
        )

    def to_proto(self) -> pb.AgreementTerms:
        """The ``dpa.registry.v1.AgreementTerms`` message of this value."""
        return pb.AgreementTerms(
            subject_matter=self.subject_matter,
            duration=self.duration,
            nature=[wire(pb.ProcessingOperation, v) for v in self.nature],
            purposes=list(self.purposes),
            data_categories=list(self.data_categories),
            data_subjects=list(self.data_subjects),
            retention_days=self.retention_days,
            authorization_mode=wire(pb.AuthorizationMode, self.authorization_mode),
            notice_days=self.notice_days,
            objection_days=self.objection_days,
            breach_notification_hours=self.breach_notification_hours,
            end_of_contract=wire(pb.EndOfContract, self.end_of_contract),
            measures=list(self.measures),
            dsr_assistance_days=self.dsr_assistance_days,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessorSignature:
    """The processor's Ed25519 signature over the DPA document's canonical bytes."""

    signature: bytes
    """Ed25519 over the canonical document bytes."""
    key: str
    """C2SP verifier key of the processor key: "<name>+<key id>+<base64 key>"."""
    signed_by: str
    sign_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.ProcessorSignature) -> ProcessorSignature:
        """The value of a ``dpa.registry.v1.ProcessorSignature`` message."""
        return cls(
            signature=msg.signature,
            key=msg.key,
            signed_by=msg.signed_by,
            sign_time=time_of(msg, "sign_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerSignature:
    """The controller's countersignature, with the client certificate it used."""

    signature: bytes
    """ECDSA P-256 with SHA-256 (DER) over the canonical document bytes."""
    certificate: str
    """PEM of the client certificate the controller countersigned with."""
    signed_by: str
    """The SPIFFE ID of that certificate."""
    sign_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.ControllerSignature) -> ControllerSignature:
        """The value of a ``dpa.registry.v1.ControllerSignature`` message."""
        return cls(
            signature=msg.signature,
            certificate=msg.certificate,
            signed_by=msg.signed_by,
            sign_time=time_of(msg, "sign_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Termination:
    """How and when a DPA ended, and the evidence of return or deletion (Art. 28(3)(g))."""

    terminated_by: str
    terminate_time: datetime | None
    reason: str
    disposition: EndOfContract
    """Return or delete, as chosen at termination (Art. 28(3)(g))."""
    confirmation: str
    """Evidence that the data were returned or deleted, once attached."""
    confirmed_by: str
    confirm_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.Termination) -> Termination:
        """The value of a ``dpa.registry.v1.Termination`` message."""
        return cls(
            terminated_by=msg.terminated_by,
            terminate_time=time_of(msg, "terminate_time"),
            reason=msg.reason,
            disposition=enum_of(EndOfContract, pb.EndOfContract, msg.disposition),
            confirmation=msg.confirmation,
            confirmed_by=msg.confirmed_by,
            confirm_time=time_of(msg, "confirm_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    """One version of a controller's Data Processing Agreement (Art. 28(3))."""

    name: str
    """"controllers/{controller}/agreements/{version}"."""
    controller_id: str
    version: int
    state: AgreementState
    terms: AgreementTerms
    """The requested terms (before drafting) or the drafted ones."""
    document: bytes
    """RFC 8785 canonical JSON of the document; what both parties sign. Set
    from DRAFTED on, never changed after.
    """
    document_digest: str
    """"sha256:<hex>" of document."""
    processor_signature: ProcessorSignature | None
    controller_signature: ControllerSignature | None
    termination: Termination | None
    requested_by: str
    create_time: datetime | None
    update_time: datetime | None
    etag: str
    template: str
    """Template the document was drafted from: "{id}/v{version}"."""

    @classmethod
    def from_proto(cls, msg: pb.Agreement) -> Agreement:
        """The value of a ``dpa.registry.v1.Agreement`` message."""
        return cls(
            name=msg.name,
            controller_id=msg.controller_id,
            version=msg.version,
            state=enum_of(AgreementState, pb.AgreementState, msg.state),
            terms=AgreementTerms.from_proto(msg.terms),
            document=msg.document,
            document_digest=msg.document_digest,
            processor_signature=ProcessorSignature.from_proto(msg.processor_signature)
            if msg.HasField("processor_signature")
            else None,
            controller_signature=ControllerSignature.from_proto(msg.controller_signature)
            if msg.HasField("controller_signature")
            else None,
            termination=Termination.from_proto(msg.termination)
            if msg.HasField("termination")
            else None,
            requested_by=msg.requested_by,
            create_time=time_of(msg, "create_time"),
            update_time=time_of(msg, "update_time"),
            etag=msg.etag,
            template=msg.template,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionFlag:
    """Staff's flag on an instruction that may infringe the law (Art. 28(3)(h))."""

    flagged: bool
    reason: str
    flagged_by: str
    flag_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.InstructionFlag) -> InstructionFlag:
        """The value of a ``dpa.registry.v1.InstructionFlag`` message."""
        return cls(
            flagged=msg.flagged,
            reason=msg.reason,
            flagged_by=msg.flagged_by,
            flag_time=time_of(msg, "flag_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """One version of a controller's documented instructions (Art. 28(3)(a))."""

    name: str
    """"controllers/{controller}/instructions/{version}"."""
    controller_id: str
    version: int
    agreement: str
    """The DPA version in force when it was issued."""
    purposes: tuple[str, ...]
    """fideslang data-use keys permitted."""
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    operations: tuple[ProcessingOperation, ...]
    countries: tuple[str, ...]
    """ISO 3166-1 alpha-2 countries where data may be stored or processed."""
    retention_days: int
    note: str
    """Free text the controller adds (not evaluated by the check)."""
    issued_by: str
    """SPIFFE ID of the issuer."""
    issue_time: datetime | None
    flag: InstructionFlag
    current: bool
    """True for the version in force."""

    @classmethod
    def from_proto(cls, msg: pb.Instruction) -> Instruction:
        """The value of a ``dpa.registry.v1.Instruction`` message."""
        return cls(
            name=msg.name,
            controller_id=msg.controller_id,
            version=msg.version,
            agreement=msg.agreement,
            purposes=tuple(msg.purposes),
            data_categories=tuple(msg.data_categories),
            data_subjects=tuple(msg.data_subjects),
            operations=tuple(
                enum_of(ProcessingOperation, pb.ProcessingOperation, v) for v in msg.operations
            ),
            countries=tuple(msg.countries),
            retention_days=msg.retention_days,
            note=msg.note,
            issued_by=msg.issued_by,
            issue_time=time_of(msg, "issue_time"),
            flag=InstructionFlag.from_proto(msg.flag),
            current=msg.current,
        )
