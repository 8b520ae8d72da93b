"""The DPA domain's values as its functions return them: frozen, never rows.

A DPA version with its signatures and its end (Art. 28(3), 28(9)), and a
documented instruction (Art. 28(3)(a)); built from storage by
:func:`agreement_of` and :func:`instruction_of`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from registry.agreements import template
from registry.agreements.model import AgreementRow, InstructionRow
from registry.agreements.types import AgreementState, EndOfContract


@dataclass(frozen=True)
class ProcessorSignature:
    signature: bytes
    key: str
    signed_by: str
    sign_time: datetime | None


@dataclass(frozen=True)
class ControllerSignature:
    signature: bytes
    certificate: str
    signed_by: str
    sign_time: datetime | None


@dataclass(frozen=True)
class Termination:
    terminated_by: str
    terminate_time: datetime
    reason: str
    disposition: EndOfContract
    confirmation: str
    confirmed_by: str
    confirm_time: datetime | None


@dataclass(frozen=True)
class Agreement:
    controller_id: str
    version: int
    state: AgreementState
    terms: template.Terms
    document: bytes | None
    document_digest: str
    requested_by: str
    create_time: datetime
    update_time: datetime
    etag: str
    processor_signature: ProcessorSignature | None
    controller_signature: ControllerSignature | None
    termination: Termination | None

    @property
    def template_ref(self) -> str:
        """``{template id}/v{version}`` of a drafted document, else ""."""
        if self.document is None:
            return ""
        ref = json.loads(self.document)["template"]
        return f"{ref['id']}/v{ref['version']}"


def agreement_of(row: AgreementRow) -> Agreement:
    return Agreement(
        controller_id=row.controller_id,
        version=row.version,
        state=AgreementState(row.state),
        terms=template.Terms.from_json(json.loads(row.proposal)),
        document=bytes(row.document) if row.document is not None else None,
        document_digest=row.document_digest,
        requested_by=row.requested_by,
        create_time=row.create_time,
        update_time=row.update_time,
        etag=f"r{row.revision}",
        processor_signature=(
            ProcessorSignature(
                bytes(row.processor_signature),
                row.processor_vkey,
                row.processor_signed_by,
                row.processor_sign_time,
            )
            if row.processor_signature is not None
            else None
        ),
        controller_signature=(
            ControllerSignature(
                bytes(row.controller_signature),
                row.controller_certificate,
                row.controller_signed_by,
                row.controller_sign_time,
            )
            if row.controller_signature is not None
            else None
        ),
        termination=(
            Termination(
                row.terminated_by,
                row.terminate_time,
                row.termination_reason,
                EndOfContract(row.disposition),
                row.disposition_confirmation,
                row.disposition_confirmed_by,
                row.disposition_confirm_time,
            )
            if row.terminate_time is not None
            else None
        ),
    )


@dataclass(frozen=True)
class Instruction:
    controller_id: str
    version: int
    agreement_version: int
    body: str
    """The canonical JSON of its content (``instructions.Content``)."""
    issued_by: str
    issue_time: datetime
    flagged: bool
    flag_reason: str
    flagged_by: str
    flag_time: datetime | None


def instruction_of(row: InstructionRow) -> Instruction:
    return Instruction(
        controller_id=row.controller_id,
        version=row.version,
        agreement_version=row.agreement_version,
        body=row.body,
        issued_by=row.issued_by,
        issue_time=row.issue_time,
        flagged=bool(row.flagged),
        flag_reason=row.flag_reason,
        flagged_by=row.flagged_by,
        flag_time=row.flag_time,
    )
