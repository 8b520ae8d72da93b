"""The processor's versioned DPA template: defaults, bounds and the catalogue
of technical and organisational measures (Annex III of Decision (EU) 2021/915).

A controller proposes terms; ``resolve`` fills the gaps from the template's
defaults and checks every value against the template's bounds and the
fideslang taxonomy. Pure: no I/O beyond reading the packaged template once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from registry import taxonomy, validate
from registry.agreements.types import AuthorizationMode, EndOfContract, Operation
from registry.errors import Violations

CURRENT_VERSION = 1
DEFAULT_DSR_ASSISTANCE_DAYS = 10
"""For terms recorded before the template named the assistance period."""


@dataclass(frozen=True)
class Bound:
    min: int
    max: int


@dataclass(frozen=True)
class Measure:
    id: str
    area: str
    title: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "area": self.area,
            "title": self.title,
            "description": self.description,
        }


@dataclass(frozen=True)
class Terms:
    """The negotiable content of a DPA (Annex II plus the Art. 28 numbers)."""

    subject_matter: str
    duration: str
    nature: tuple[Operation, ...]
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    retention_days: int
    authorization_mode: AuthorizationMode
    notice_days: int
    objection_days: int
    breach_notification_hours: int
    end_of_contract: EndOfContract
    measures: tuple[str, ...]
    dsr_assistance_days: int = DEFAULT_DSR_ASSISTANCE_DAYS
    """Art. 28(3)(e): the processor does its part of a data-subject request
    within this many days (never later than the controller's own due date)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_matter": self.subject_matter,
            "duration": self.duration,
            "nature": [o.value for o in self.nature],
            "purposes": list(self.purposes),
            "data_categories": list(self.data_categories),
            "data_subjects": list(self.data_subjects),
            "retention_days": self.retention_days,
            "authorization_mode": self.authorization_mode.name,
            "notice_days": self.notice_days,
            "objection_days": self.objection_days,
            "breach_notification_hours": self.breach_notification_hours,
            "end_of_contract": self.end_of_contract.value,
            "measures": list(self.measures),
            "dsr_assistance_days": self.dsr_assistance_days,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Terms:
        return cls(
            subject_matter=data["subject_matter"],
            duration=data["duration"],
            nature=tuple(Operation(o) for o in data["nature"]),
            purposes=tuple(data["purposes"]),
            data_categories=tuple(data["data_categories"]),
            data_subjects=tuple(data["data_subjects"]),
            retention_days=data["retention_days"],
            authorization_mode=AuthorizationMode[data["authorization_mode"]],
            notice_days=data["notice_days"],
            objection_days=data["objection_days"],
            breach_notification_hours=data["breach_notification_hours"],
            end_of_contract=EndOfContract(data["end_of_contract"]),
            measures=tuple(data["measures"]),
            dsr_assistance_days=data.get("dsr_assistance_days", DEFAULT_DSR_ASSISTANCE_DAYS),
        )


@dataclass(frozen=True)
class Proposal:
    """What a controller (or staff, when drafting) proposes; None/empty = default."""

    subject_matter: str = ""
    duration: str = ""
    nature: tuple[Operation, ...] = ()
    purposes: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    data_subjects: tuple[str, ...] = ()
    retention_days: int | None = None
    authorization_mode: AuthorizationMode | None = None
    notice_days: int | None = None
    objection_days: int | None = None
    breach_notification_hours: int | None = None
    end_of_contract: EndOfContract | None = None
    measures: tuple[str, ...] = field(default=())
    dsr_assistance_days: int | None = None


@dataclass(frozen=True)
class Template:
    template_id: str
    version: int
    title: str
    clauses_reference: str
    processor: dict[str, str]
    governing_law: str
    supervisory_authority: str
    defaults: Terms
    bounds: dict[str, Bound]
    subject_matter_max_length: int
    duration_max_length: int
    measures: tuple[Measure, ...]
    baseline_measures: tuple[str, ...]

    @property
    def ref(self) -> dict[str, Any]:
        return {"id": self.template_id, "version": self.version}

    def measure(self, measure_id: str) -> Measure | None:
        return next((m for m in self.measures if m.id == measure_id), None)

    def resolve(self, proposal: Proposal, prefix: str = "terms") -> Terms:
        """Proposal + defaults -> Terms; INVALID_ARGUMENT naming each bad field."""
        d = self.defaults
        errors = Violations()

        def pick_int(name: str, value: int | None, default: int) -> int:
            chosen = default if value is None else value
            bound = self.bounds[name]
            if not bound.min <= chosen <= bound.max:
                errors.add(
                    f"{prefix}.{name}", f"must be between {bound.min} and {bound.max}, got {chosen}"
                )
            return chosen

        def pick_keys(
            name: str, kind: taxonomy.Kind, value: Sequence[str], default: tuple[str, ...]
        ) -> tuple[str, ...]:
            chosen = tuple(value) or default
            taxonomy.validate(kind, f"{prefix}.{name}", chosen, errors)
            return tuple(sorted(set(chosen)))

        subject_matter = proposal.subject_matter or d.subject_matter
        if len(subject_matter) > self.subject_matter_max_length:
            errors.add(
                f"{prefix}.subject_matter",
                f"is longer than {self.subject_matter_max_length} characters",
            )
        duration = proposal.duration or d.duration
        validate.text(f"{prefix}.duration", duration, errors, max_len=self.duration_max_length)
        measures = set(self.baseline_measures)
        for i, measure_id in enumerate(proposal.measures):
            if self.measure(measure_id) is None:
                errors.add(f"{prefix}.measures[{i}]", f"{measure_id!r} is not in the catalogue")
            measures.add(measure_id)
        terms = Terms(
            subject_matter=subject_matter,
            duration=duration,
            nature=tuple(sorted(set(proposal.nature or d.nature), key=lambda o: o.value)),
            purposes=pick_keys("purposes", taxonomy.Kind.DATA_USE, proposal.purposes, d.purposes),
            data_categories=pick_keys(
                "data_categories",
                taxonomy.Kind.DATA_CATEGORY,
                proposal.data_categories,
                d.data_categories,
            ),
            data_subjects=pick_keys(
                "data_subjects", taxonomy.Kind.DATA_SUBJECT, proposal.data_subjects, d.data_subjects
            ),
            retention_days=pick_int("retention_days", proposal.retention_days, d.retention_days),
            authorization_mode=proposal.authorization_mode or d.authorization_mode,
            notice_days=pick_int("notice_days", proposal.notice_days, d.notice_days),
            objection_days=pick_int("objection_days", proposal.objection_days, d.objection_days),
            breach_notification_hours=pick_int(
                "breach_notification_hours",
                proposal.breach_notification_hours,
                d.breach_notification_hours,
            ),
            end_of_contract=proposal.end_of_contract or d.end_of_contract,
            measures=tuple(sorted(m for m in measures if self.measure(m) is not None)),
            dsr_assistance_days=pick_int(
                "dsr_assistance_days", proposal.dsr_assistance_days, d.dsr_assistance_days
            ),
        )
        errors.raise_if_any()
        return terms


def _parse(data: dict[str, Any]) -> Template:
    bounds = data["bounds"]
    measures = tuple(Measure(**m) for m in data["measures"])
    defaults = dict(data["defaults"])
    defaults["measures"] = data["baseline_measures"]
    return Template(
        template_id=data["template_id"],
        version=data["version"],
        title=data["title"],
        clauses_reference=data["clauses_reference"],
        processor=dict(data["processor"]),
        governing_law=data["governing_law"],
        supervisory_authority=data["supervisory_authority"],
        defaults=Terms.from_json(defaults),
        bounds={k: Bound(v["min"], v["max"]) for k, v in bounds.items() if isinstance(v, dict)},
        subject_matter_max_length=bounds["subject_matter_max_length"],
        duration_max_length=bounds["duration_max_length"],
        measures=measures,
        baseline_measures=tuple(data["baseline_measures"]),
    )


@cache
def load(version: int = CURRENT_VERSION) -> Template:
    """The packaged template ``registry/data/dpa-template-v{version}.json``."""
    text = (
        resources.files("registry")
        .joinpath(f"data/dpa-template-v{version}.json")
        .read_text(encoding="utf-8")
    )
    return _parse(json.loads(text))
