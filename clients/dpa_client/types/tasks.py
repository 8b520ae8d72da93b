"""Data-subject requests and end-of-contract tasks (Art. 28(3)(e), (g)).

Frozen values built from the wire messages of ``tasks.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dpa_client.types._convert import duration_of, enum_of, time_of
from dpa_registry_api.v1 import tasks_pb2 as pb


class TaskKind(StrEnum):
    """Task kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    DATA_SUBJECT_REQUEST = "DATA_SUBJECT_REQUEST"
    """Art. 28(3)(e): assistance with a data-subject request."""
    END_OF_CONTRACT = "END_OF_CONTRACT"
    """Art. 28(3)(g): return or deletion at the end of the contract."""


class TaskState(StrEnum):
    """Task state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    OPEN = "OPEN"
    """Some part is not done yet."""
    COMPLETED = "COMPLETED"
    """Every part is done and the signed receipt or certificate is issued."""


class DataSubjectRequestType(StrEnum):
    """The data subject's right exercised (GDPR Arts. 15-18, 20, 21)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    ACCESS = "ACCESS"
    RECTIFICATION = "RECTIFICATION"
    ERASURE = "ERASURE"
    RESTRICTION = "RESTRICTION"
    PORTABILITY = "PORTABILITY"
    OBJECTION = "OBJECTION"


class TaskPartKind(StrEnum):
    """Task part kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    SYSTEM = "SYSTEM"
    """One of the processor's own systems."""
    SUBPROCESSOR = "SUBPROCESSOR"
    """A sub-processor that holds the controller's data."""
    EXPORT = "EXPORT"
    """End of contract with RETURN: export ready, retrieval window, retrieved."""
    BACKUPS = "BACKUPS"
    """End of contract: backups holding the data expire on a recorded date."""


class TaskPartState(StrEnum):
    """Task part state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"


class Disposition(StrEnum):
    """Disposition."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    RETURN = "RETURN"
    """Return (export, retrieval window, retrieved), then deletion."""
    DELETE = "DELETE"
    """Deletion alone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSubjectRequest:
    """The data-subject request a task assists with (Art. 28(3)(e))."""

    type: DataSubjectRequestType
    controller_request_id: str
    """The controller's own id of the request; it travels to every part."""
    receive_time: datetime | None
    """When the controller received the request from the data subject."""
    due_time: datetime | None
    """The controller's deadline: at most one month after receive_time (Art.
    12(3)), three with a recorded extension. Unset: one month.
    """
    subject_references: tuple[str, ...]
    """Salted digests ("sha256:<64 hex>") or opaque references; an e-mail
    address or phone number in clear is INVALID_ARGUMENT.
    """
    data_categories: tuple[str, ...]
    """fideslang data-category keys concerned."""
    extension_reason: str
    """Set when extended (Art. 12(3))."""
    extend_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.DataSubjectRequest) -> DataSubjectRequest:
        """The value of a ``dpa.registry.v1.DataSubjectRequest`` message."""
        return cls(
            type=enum_of(DataSubjectRequestType, pb.DataSubjectRequestType, msg.type),
            controller_request_id=msg.controller_request_id,
            receive_time=time_of(msg, "receive_time"),
            due_time=time_of(msg, "due_time"),
            subject_references=tuple(msg.subject_references),
            data_categories=tuple(msg.data_categories),
            extension_reason=msg.extension_reason,
            extend_time=time_of(msg, "extend_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfContractTask:
    """The return or deletion of a controller's data at the end of its DPA."""

    agreement: str
    """The terminated DPA version."""
    disposition: Disposition

    @classmethod
    def from_proto(cls, msg: pb.EndOfContractTask) -> EndOfContractTask:
        """The value of a ``dpa.registry.v1.EndOfContractTask`` message."""
        return cls(
            agreement=msg.agreement,
            disposition=enum_of(Disposition, pb.Disposition, msg.disposition),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvidence:
    """The evidence staff attached when they confirmed a task part."""

    confirmed_by: str
    confirm_time: datetime | None
    reference: str
    """Ticket, certificate or message id at the confirming party."""
    attachment_digest: str
    """"sha256:<64 hex>" of an attached document, if any."""

    @classmethod
    def from_proto(cls, msg: pb.TaskEvidence) -> TaskEvidence:
        """The value of a ``dpa.registry.v1.TaskEvidence`` message."""
        return cls(
            confirmed_by=msg.confirmed_by,
            confirm_time=time_of(msg, "confirm_time"),
            reference=msg.reference,
            attachment_digest=msg.attachment_digest,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskPart:
    """One part of a task: a system or sub-processor that must act."""

    name: str
    """"controllers/{controller_id}/tasks/{task_id}/parts/{part_id}"."""
    part_id: str
    kind: TaskPartKind
    target: str
    """The system or sub-processor id."""
    state: TaskPartState
    due_time: datetime | None
    evidence: TaskEvidence
    failure_reason: str
    ready_time: datetime | None
    """EXPORT: when the export was ready, and the end of the retrieval window."""
    window_end_time: datetime | None
    expire_time: datetime | None
    """BACKUPS: when the last backup holding the data expires."""
    etag: str

    @classmethod
    def from_proto(cls, msg: pb.TaskPart) -> TaskPart:
        """The value of a ``dpa.registry.v1.TaskPart`` message."""
        return cls(
            name=msg.name,
            part_id=msg.part_id,
            kind=enum_of(TaskPartKind, pb.TaskPartKind, msg.kind),
            target=msg.target,
            state=enum_of(TaskPartState, pb.TaskPartState, msg.state),
            due_time=time_of(msg, "due_time"),
            evidence=TaskEvidence.from_proto(msg.evidence),
            failure_reason=msg.failure_reason,
            ready_time=time_of(msg, "ready_time"),
            window_end_time=time_of(msg, "window_end_time"),
            expire_time=time_of(msg, "expire_time"),
            etag=msg.etag,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalHold:
    """A data category kept on a legal basis past the end of the contract."""

    data_category: str
    """fideslang data-category key kept."""
    legal_basis: str
    end_time: datetime | None
    created_by: str

    @classmethod
    def from_proto(cls, msg: pb.LegalHold) -> LegalHold:
        """The value of a ``dpa.registry.v1.LegalHold`` message."""
        return cls(
            data_category=msg.data_category,
            legal_basis=msg.legal_basis,
            end_time=time_of(msg, "end_time"),
            created_by=msg.created_by,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedTaskDocument:
    """The processor's signed receipt (data-subject request) or certificate (end of
    contract): Ed25519 over the exact RFC 8785 bytes of document.
    """

    document: bytes
    digest: str
    """"sha256:<hex>" of document."""
    signature: bytes
    key: str
    """C2SP verifier key of the processor key: "<name>+<key id>+<base64 key>"."""
    issue_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.SignedTaskDocument) -> SignedTaskDocument:
        """The value of a ``dpa.registry.v1.SignedTaskDocument`` message."""
        return cls(
            document=msg.document,
            digest=msg.digest,
            signature=msg.signature,
            key=msg.key,
            issue_time=time_of(msg, "issue_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    """An assistance task: a data-subject request or the end of a contract."""

    name: str
    """"controllers/{controller_id}/tasks/{task_id}"."""
    task_id: str
    controller_id: str
    kind: TaskKind
    state: TaskState
    create_time: datetime | None
    data_subject_request: DataSubjectRequest | None
    end_of_contract: EndOfContractTask | None
    parts: tuple[TaskPart, ...]
    legal_holds: tuple[LegalHold, ...]
    signed_document: SignedTaskDocument | None

    @classmethod
    def from_proto(cls, msg: pb.Task) -> Task:
        """The value of a ``dpa.registry.v1.Task`` message."""
        return cls(
            name=msg.name,
            task_id=msg.task_id,
            controller_id=msg.controller_id,
            kind=enum_of(TaskKind, pb.TaskKind, msg.kind),
            state=enum_of(TaskState, pb.TaskState, msg.state),
            create_time=time_of(msg, "create_time"),
            data_subject_request=DataSubjectRequest.from_proto(msg.data_subject_request)
            if msg.HasField("data_subject_request")
            else None,
            end_of_contract=EndOfContractTask.from_proto(msg.end_of_contract)
            if msg.HasField("end_of_contract")
            else None,
            parts=tuple(TaskPart.from_proto(v) for v in msg.parts),
            legal_holds=tuple(LegalHold.from_proto(v) for v in msg.legal_holds),
            signed_document=SignedTaskDocument.from_proto(msg.signed_document)
            if msg.HasField("signed_document")
            else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OverdueTaskPart:
    """A task part past its due time, and how late it is."""

    part: TaskPart
    controller_id: str
    kind: TaskKind
    late: timedelta | None

    @classmethod
    def from_proto(cls, msg: pb.OverdueTaskPart) -> OverdueTaskPart:
        """The value of a ``dpa.registry.v1.OverdueTaskPart`` message."""
        return cls(
            part=TaskPart.from_proto(msg.part),
            controller_id=msg.controller_id,
            kind=enum_of(TaskKind, pb.TaskKind, msg.kind),
            late=duration_of(msg, "late"),
        )
