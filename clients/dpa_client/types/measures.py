"""Technical and organisational measures (Art. 32) as the client returns them.

Frozen values built from the wire messages of ``measures.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dpa_client.types._convert import enum_of, time_of
from dpa_registry_api.v1 import measures_pb2 as pb


class MeasureCategory(StrEnum):
    """The headings of the annex of measures (2021/914 Annex II, 2021/915 Annex III)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PSEUDONYMISATION_ENCRYPTION = "PSEUDONYMISATION_ENCRYPTION"
    CONFIDENTIALITY_INTEGRITY_AVAILABILITY = "CONFIDENTIALITY_INTEGRITY_AVAILABILITY"
    RESILIENCE_RESTORE = "RESILIENCE_RESTORE"
    TESTING_EVALUATION = "TESTING_EVALUATION"
    ACCESS_CONTROL = "ACCESS_CONTROL"
    TRANSMISSION_PROTECTION = "TRANSMISSION_PROTECTION"
    STORAGE_PROTECTION = "STORAGE_PROTECTION"
    PHYSICAL_SECURITY = "PHYSICAL_SECURITY"
    LOGGING = "LOGGING"
    SYSTEM_CONFIGURATION = "SYSTEM_CONFIGURATION"
    GOVERNANCE = "GOVERNANCE"
    CERTIFICATION = "CERTIFICATION"
    DATA_MINIMISATION = "DATA_MINIMISATION"
    DATA_QUALITY = "DATA_QUALITY"
    LIMITED_RETENTION = "LIMITED_RETENTION"
    ACCOUNTABILITY = "ACCOUNTABILITY"
    PORTABILITY_DELETION = "PORTABILITY_DELETION"


class MeasureImpact(StrEnum):
    """What a change does to the protection a measure gives."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    EQUIVALENT = "EQUIVALENT"
    """Wording, evidence renewal, equivalent replacement."""
    STRENGTHENED = "STRENGTHENED"
    LOWERED = "LOWERED"
    """Less protection: the controllers are told (notice channel)."""


class EvidenceStatus(StrEnum):
    """Where the evidence stands today."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    VALID = "VALID"
    EXPIRING = "EXPIRING"
    """Expires within the warning window (Measure.expiry_warning_days)."""
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliesTo:
    """What a measure covers: the platform, systems, sub-processors."""

    platform: bool
    """The whole platform."""
    systems: tuple[str, ...]
    """Named systems of the processor, e.g. "billing-db"."""
    subprocessors: tuple[str, ...]
    """Sub-processor ids the measure covers (each must be registered)."""

    @classmethod
    def from_proto(cls, msg: pb.AppliesTo) -> AppliesTo:
        """The value of a ``dpa.registry.v1.AppliesTo`` message."""
        return cls(
            platform=msg.platform,
            systems=tuple(msg.systems),
            subprocessors=tuple(msg.subprocessors),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """An evidence reference: a certificate or report, e.g. ISO/IEC 27001, SOC 2."""

    title: str
    """e.g. "ISO/IEC 27001 certificate", "SOC 2 Type II report"."""
    issuer: str
    scope: str
    reference: str
    """Document reference (certificate number, report id)."""
    valid_from: str
    """ISO 8601 dates "YYYY-MM-DD"."""
    valid_until: str
    status: EvidenceStatus
    """Output only: today against the validity dates and the warning window."""
    days_left: int
    """Output only: days until valid_until (negative once expired)."""

    @classmethod
    def from_proto(cls, msg: pb.Evidence) -> Evidence:
        """The value of a ``dpa.registry.v1.Evidence`` message."""
        return cls(
            title=msg.title,
            issuer=msg.issuer,
            scope=msg.scope,
            reference=msg.reference,
            valid_from=msg.valid_from,
            valid_until=msg.valid_until,
            status=enum_of(EvidenceStatus, pb.EvidenceStatus, msg.status),
            days_left=msg.days_left,
        )

    def to_proto(self) -> pb.Evidence:
        """The ``dpa.registry.v1.Evidence`` message of this value, as a request
        carries it: ``status`` and ``days_left`` are the registry's to fill in."""
        return pb.Evidence(
            title=self.title,
            issuer=self.issuer,
            scope=self.scope,
            reference=self.reference,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """A technical or organisational measure (Art. 32), one version."""

    name: str
    """"measures/{measure_id}"."""
    measure_id: str
    version: int
    """The version this message shows; 1 for a new measure."""
    category: MeasureCategory
    title: str
    description: str
    applies_to: AppliesTo
    evidence: tuple[Evidence, ...]
    impact: MeasureImpact
    """Output only: the impact recorded for this version (create: STRENGTHENED)."""
    change_reason: str
    """Output only: the reason given for the change."""
    notice_days: int
    """Output only: days of notice given to the controllers (lowered changes)."""
    effective_time: datetime | None
    """Output only: when the change takes effect (change time + notice_days)."""
    retired: bool
    """Output only: the version is the measure's removal."""
    notified_controllers: int
    """Output only: controllers notified of this version."""
    change_time: datetime | None
    changed_by: str
    expiry_warning_days: int
    """Output only: evidence is EXPIRING this many days before valid_until."""
    etag: str
    """Changes on every version; send it back on update to detect lost updates."""

    @classmethod
    def from_proto(cls, msg: pb.Measure) -> Measure:
        """The value of a ``dpa.registry.v1.Measure`` message."""
        return cls(
            name=msg.name,
            measure_id=msg.measure_id,
            version=msg.version,
            category=enum_of(MeasureCategory, pb.MeasureCategory, msg.category),
            title=msg.title,
            description=msg.description,
            applies_to=AppliesTo.from_proto(msg.applies_to),
            evidence=tuple(Evidence.from_proto(v) for v in msg.evidence),
            impact=enum_of(MeasureImpact, pb.MeasureImpact, msg.impact),
            change_reason=msg.change_reason,
            notice_days=msg.notice_days,
            effective_time=time_of(msg, "effective_time"),
            retired=msg.retired,
            notified_controllers=msg.notified_controllers,
            change_time=time_of(msg, "change_time"),
            changed_by=msg.changed_by,
            expiry_warning_days=msg.expiry_warning_days,
            etag=msg.etag,
        )
