"""Values and pure rules of the measures domain: the annex headings, the
impact of a change, and where a piece of evidence stands. No I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any

EXPIRY_WARNING_DAYS = 30
"""Evidence is EXPIRING this many days before its ``valid_until``."""

DEFAULT_NOTICE_DAYS = 30
"""Notice given to controllers of a lowered or removed measure."""

MAX_NOTICE_DAYS = 365


class Category(enum.Enum):
    """The headings of Annex II of the 2021/914 SCCs and Annex III of the
    2021/915 clauses (the value is the heading)."""

    PSEUDONYMISATION_ENCRYPTION = "Pseudonymisation and encryption of personal data"
    CONFIDENTIALITY_INTEGRITY_AVAILABILITY = (
        "Ongoing confidentiality, integrity, availability and resilience of processing systems"
    )
    RESILIENCE_RESTORE = "Restoring availability and access to personal data after an incident"
    TESTING_EVALUATION = "Regular testing, assessment and evaluation of the measures"
    ACCESS_CONTROL = "User identification and authorisation"
    TRANSMISSION_PROTECTION = "Protection of data during transmission"
    STORAGE_PROTECTION = "Protection of data during storage"
    PHYSICAL_SECURITY = "Physical security of locations where personal data are processed"
    LOGGING = "Events logging"
    SYSTEM_CONFIGURATION = "System configuration, including default configuration"
    GOVERNANCE = "Internal IT and IT security governance and management"
    CERTIFICATION = "Certification and assurance of processes and products"
    DATA_MINIMISATION = "Data minimisation"
    DATA_QUALITY = "Data quality"
    LIMITED_RETENTION = "Limited data retention"
    ACCOUNTABILITY = "Accountability"
    PORTABILITY_DELETION = "Data portability and erasure"

    @property
    def heading(self) -> str:
        return self.value


class Impact(enum.Enum):
    EQUIVALENT = "EQUIVALENT"
    STRENGTHENED = "STRENGTHENED"
    LOWERED = "LOWERED"


class EvidenceStatus(enum.Enum):
    VALID = "VALID"
    EXPIRING = "EXPIRING"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"


@dataclass(frozen=True)
class Evidence:
    title: str
    issuer: str
    scope: str
    reference: str
    valid_from: date
    valid_until: date

    def status(self, today: date, warn_days: int = EXPIRY_WARNING_DAYS) -> EvidenceStatus:
        if today < self.valid_from:
            return EvidenceStatus.NOT_YET_VALID
        if today > self.valid_until:
            return EvidenceStatus.EXPIRED
        if (self.valid_until - today).days <= warn_days:
            return EvidenceStatus.EXPIRING
        return EvidenceStatus.VALID

    def days_left(self, today: date) -> int:
        return (self.valid_until - today).days

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "issuer": self.issuer,
            "scope": self.scope,
            "reference": self.reference,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            title=data["title"],
            issuer=data["issuer"],
            scope=data["scope"],
            reference=data["reference"],
            valid_from=date.fromisoformat(data["valid_from"]),
            valid_until=date.fromisoformat(data["valid_until"]),
        )


@dataclass(frozen=True)
class AppliesTo:
    platform: bool = False
    systems: tuple[str, ...] = ()
    subprocessors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "systems": list(self.systems),
            "subprocessors": list(self.subprocessors),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppliesTo:
        return cls(
            platform=bool(data["platform"]),
            systems=tuple(data["systems"]),
            subprocessors=tuple(data["subprocessors"]),
        )

    def covers(self, other: AppliesTo) -> bool:
        """True when this covers at least everything ``other`` covers."""
        if other.platform and not self.platform:
            return False
        return set(other.systems) <= set(self.systems) and set(other.subprocessors) <= set(
            self.subprocessors
        )


@dataclass(frozen=True)
class Content:
    """One version of a measure, as staff state it."""

    category: Category
    title: str
    description: str
    applies_to: AppliesTo
    evidence: tuple[Evidence, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category.name,
            "heading": self.category.heading,
            "title": self.title,
            "description": self.description,
            "applies_to": self.applies_to.to_json(),
            "evidence": [e.to_json() for e in self.evidence],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        return cls(
            category=Category[data["category"]],
            title=data["title"],
            description=data["description"],
            applies_to=AppliesTo.from_json(data["applies_to"]),
            evidence=tuple(Evidence.from_json(e) for e in data["evidence"]),
        )


def effective_impact(old: Content, new: Content, declared: Impact) -> Impact:
    """The impact a change has: what staff declared, but never less than
    LOWERED when the measure covers less or keeps less evidence than before
    (a narrower scope or a dropped certificate is a lowering whatever the
    declaration says)."""
    if declared is Impact.LOWERED:
        return declared
    if not new.applies_to.covers(old.applies_to):
        return Impact.LOWERED
    if {e.reference for e in old.evidence} - {e.reference for e in new.evidence}:
        return Impact.LOWERED
    return declared
