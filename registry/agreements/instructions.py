"""Documented instructions (GDPR Art. 28(3)(a)) and their flags (Art. 28(3)(h)).

A controller issues instructions under its ACTIVE DPA; each issue is a new
version, kept with its issuer and time, and the newest is the one in force.
Instructions must stay within the DPA's Annex II (purposes, data categories,
data subjects, nature of processing, retention); wider processing needs an
amendment. Staff may flag a version as possibly infringing the law: the flag
is kept on the version, and processing under it is suspended until the
controller issues a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from registry import names, paging, taxonomy, validate
from registry.agreements import lifecycle
from registry.agreements.model import AgreementLine, InstructionRow
from registry.agreements.terms import audited_issue
from registry.agreements.types import Operation
from registry.agreements.values import Instruction, instruction_of
from registry.audit.events import canonical
from registry.auth import Caller
from registry.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from registry.ledger import Mutation


def instruction_name(controller_id: str, version: int) -> str:
    return names.make(f"controllers/{controller_id}/instructions", str(version))


def parse_name(name: str, field: str = "name") -> tuple[str, int | None]:
    """``controllers/{c}/instructions/{v}`` -> (c, v); ``-`` means the current one."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "controllers" and parts[2] == "instructions":
        controller_id = names.parse(f"controllers/{parts[1]}", "controllers", field)
        if parts[3] == "-":
            return controller_id, None
        if parts[3].isdigit() and 0 < int(parts[3]) < 2**31:
            return controller_id, int(parts[3])
    raise InvalidArgument.one(
        field, "must look like controllers/{controller}/instructions/{version}"
    )


@dataclass(frozen=True)
class Content:
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    operations: tuple[Operation, ...]
    countries: tuple[str, ...]
    retention_days: int
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "purposes": list(self.purposes),
            "data_categories": list(self.data_categories),
            "data_subjects": list(self.data_subjects),
            "operations": [o.value for o in self.operations],
            "countries": list(self.countries),
            "retention_days": self.retention_days,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        return cls(
            purposes=tuple(data["purposes"]),
            data_categories=tuple(data["data_categories"]),
            data_subjects=tuple(data["data_subjects"]),
            operations=tuple(Operation(o) for o in data["operations"]),
            countries=tuple(data["countries"]),
            retention_days=data["retention_days"],
            note=data.get("note", ""),
        )

    def normalised(self) -> Content:
        return Content(
            purposes=tuple(sorted(set(self.purposes))),
            data_categories=tuple(sorted(set(self.data_categories))),
            data_subjects=tuple(sorted(set(self.data_subjects))),
            operations=tuple(sorted(set(self.operations), key=lambda o: o.value)),
            countries=tuple(sorted(set(self.countries))),
            retention_days=self.retention_days,
            note=self.note,
        )


def validate_content(content: Content, scope: dict[str, Any], retention_limit: int) -> None:
    """Taxonomy keys, countries, and the DPA's bounds; every bad field named."""
    errors = Violations()
    prefix = "instruction"
    for name, kind, values in (
        ("purposes", taxonomy.Kind.DATA_USE, content.purposes),
        ("data_categories", taxonomy.Kind.DATA_CATEGORY, content.data_categories),
        ("data_subjects", taxonomy.Kind.DATA_SUBJECT, content.data_subjects),
    ):
        if not values:
            errors.add(f"{prefix}.{name}", "must name at least one key")
        taxonomy.validate(kind, f"{prefix}.{name}", values, errors)
        known = taxonomy.keys(kind)
        for i, key in enumerate(values):
            if key in known and not taxonomy.covered_by_any(key, scope[name]):
                errors.add(
                    f"{prefix}.{name}[{i}]",
                    f"{key!r} is outside the DPA's Annex II; request an amendment first",
                )
    if not content.operations:
        errors.add(f"{prefix}.operations", "must name at least one operation")
    nature = set(scope["nature"])
    for i, op in enumerate(content.operations):
        if op.value not in nature:
            errors.add(
                f"{prefix}.operations[{i}]",
                f"{op.value} is outside the DPA's nature of processing; request an amendment first",
            )
    for i, country in enumerate(content.countries):
        validate.country(f"{prefix}.countries[{i}]", country, errors)
    if not 1 <= content.retention_days <= retention_limit:
        errors.add(
            f"{prefix}.retention_days",
            f"must be between 1 and the DPA's retention of {retention_limit} days",
        )
    if len(content.note) > 4000:
        errors.add(f"{prefix}.note", "is longer than 4000 characters")
    errors.raise_if_any()


def content_of(instruction: Instruction | InstructionRow) -> Content:
    return Content.from_json(json.loads(instruction.body))


def issue(m: Mutation, controller_id: str, content: Content) -> Instruction:
    """A new version under the ACTIVE DPA; it is in force from now on."""
    if not lifecycle.visible(m.caller, controller_id):
        raise NotFound(f"controllers/{controller_id} not found")
    line = AgreementLine.get_or_none(AgreementLine.controller_id == controller_id)
    if line is None or line.active_version is None:
        raise FailedPrecondition(
            f"controllers/{controller_id} has no ACTIVE DPA to issue instructions under"
        )
    agreement = lifecycle.get_row(m.caller, controller_id, line.active_version)
    validate_content(
        content,
        json.loads(agreement.scope),
        lifecycle.terms_of(agreement).retention_days,
    )
    content = content.normalised()
    version = line.latest_instruction + 1
    row = InstructionRow.create(
        controller_id=controller_id,
        version=version,
        agreement_version=line.active_version,
        issued_by=m.caller.spiffe_id,
        issue_time=m.now,
        body=canonical(content.to_json()).decode(),
    )
    AgreementLine.update(instruction_version=version, latest_instruction=version).where(
        AgreementLine.controller_id == controller_id
    ).execute()
    issued = instruction_of(row)
    m.record(
        "instruction.issue",
        instruction_name(controller_id, version),
        controller_id,
        audited_issue(issued),
    )
    return issued


def current_version(controller_id: str) -> int | None:
    line = AgreementLine.get_or_none(AgreementLine.controller_id == controller_id)
    return None if line is None else line.instruction_version


def get_row(caller: Caller, controller_id: str, version: int | None) -> InstructionRow:
    missing = NotFound(f"{instruction_name(controller_id, version or 0)} not found")
    if not lifecycle.visible(caller, controller_id):
        raise missing
    if version is None:
        version = current_version(controller_id)
        if version is None:
            raise NotFound(f"controllers/{controller_id} has no instruction in force")
    row = InstructionRow.get_or_none(
        (InstructionRow.controller_id == controller_id) & (InstructionRow.version == version)
    )
    if row is None:
        raise missing
    return row


def get(caller: Caller, controller_id: str, version: int | None) -> Instruction:
    return instruction_of(get_row(caller, controller_id, version))


def list_page(caller: Caller, controller_id: str, page: paging.Page) -> list[Instruction]:
    if not lifecycle.visible(caller, controller_id):
        raise NotFound(f"controllers/{controller_id} not found")
    query = (
        InstructionRow.select()
        .where(InstructionRow.controller_id == controller_id)
        .order_by(InstructionRow.version.desc())
        .limit(page.size)
    )
    if page.after is not None:
        query = query.where(InstructionRow.version < int(page.after))
    return [instruction_of(r) for r in query]


def _tell_controller_of_flag(
    m: Mutation, controller_id: str, instruction: str, reason: str
) -> None:
    """Art. 28(3)(h): tells the controller at once that an instruction was flagged.

    The notice goes to the controller's inbox and live stream in the flag's
    own transaction; the flag's audit entry (tenant = controller) covers it.
    """
    from registry.notifications import core as notifications  # noqa: PLC0415

    notifications.notify(
        m,
        [controller_id],
        notifications.Kind.INSTRUCTION_FLAGGED,
        "An instruction of yours may infringe the GDPR (Art. 28(3)(h))",
        f"The processor flagged {instruction}: {reason}\n"
        "Processing under it is suspended until you issue a new instruction.",
        instruction,
        {"instruction": instruction, "reason": reason},
        audit=False,
    )


def flag(m: Mutation, controller_id: str, version: int | None, reason: str) -> Instruction:
    """Staff mark an instruction as possibly infringing the law (Art. 28(3)(h))."""
    row = get_row(m.caller, controller_id, version)
    errors = Violations()
    validate.text("reason", reason, errors, max_len=4000)
    errors.raise_if_any()
    if row.flagged:
        raise FailedPrecondition(
            f"{instruction_name(controller_id, row.version)} is already flagged"
        )
    InstructionRow.update(
        flagged=True, flag_reason=reason, flagged_by=m.caller.spiffe_id, flag_time=m.now
    ).where(InstructionRow.id == row.id).execute()
    name = instruction_name(controller_id, row.version)
    m.record("instruction.flag", name, controller_id, {"version": row.version, "reason": reason})
    _tell_controller_of_flag(m, controller_id, name, reason)
    return instruction_of(InstructionRow.get_by_id(row.id))
