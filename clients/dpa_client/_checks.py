"""Answers of CheckTransfer and CheckProcessing, remote or local, as immutable values.

``RegistryClient.check_transfer``/``check_processing`` (a round trip) and
``LocalChecker`` (in process) return the same types. Equality ignores where
an answer was made (``local``) and its optional receipt, so a local answer
equals the server's answer on the same state.

The answers and their reasons are named tuples, not frozen dataclasses: a
local checker builds one per decision, and a tuple is built about ten times
faster (ADR 0026).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from dpa_client.errors import VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, NoteVerifier, open_checkpoint
from dpa_decisions import processing as shared_processing
from dpa_decisions import transfer_types as shared_transfer
from dpa_decisions.common import iso_day
from dpa_registry_api.v1 import agreements_pb2 as apb
from dpa_registry_api.v1 import transfers_pb2 as tpb


@dataclass(frozen=True, slots=True)
class DecisionReceipt:
    """Binds an answer to the audit log, for an auditor to check offline.

    ``revision`` is the audit-log size the answer was decided at: the state
    is the log's first ``revision`` entries. ``checkpoint`` is the
    processor's signed checkpoint (a C2SP signed note) of a tree of size at
    least ``revision``, and ``consistency_proof`` (RFC 9162 2.1.4) proves
    the tree of size ``revision`` is its prefix. :func:`verify_receipt`
    checks both against the pinned verifier key and the root of the first
    ``revision`` entries of the log the auditor holds.
    """

    revision: int
    checkpoint: str
    consistency_proof: tuple[bytes, ...]


def verify_receipt(
    receipt: DecisionReceipt, *, vkeys: Sequence[str], root_at_revision: bytes
) -> Checkpoint:
    """Checks a receipt offline; returns the signed checkpoint that covers it.

    ``root_at_revision``: the RFC 9162 root of the log's first
    ``receipt.revision`` entries, from the auditor's own copy (for example
    ``merkle.root_from_leaves`` over an export's leaf hashes). Raises
    ``VerificationError`` (bad signature, a checkpoint smaller than the
    revision, an inconsistent proof).
    """
    checkpoint = open_checkpoint(receipt.checkpoint, [NoteVerifier.from_vkey(v) for v in vkeys])
    if checkpoint.size < receipt.revision:
        raise VerificationError(
            f"checkpoint of size {checkpoint.size} does not cover revision {receipt.revision}"
        )
    merkle.verify_consistency(
        receipt.revision,
        checkpoint.size,
        receipt.consistency_proof,
        root_at_revision,
        checkpoint.root_hash,
    )
    return checkpoint


class TransferReason(NamedTuple):
    code: int
    """A ``TransferDenialCode`` number; ``code_name`` gives its name."""
    message: str

    @property
    def code_name(self) -> str:
        """``TIA_MISSING`` for ``TRANSFER_DENIAL_CODE_TIA_MISSING``."""
        name = tpb.TransferDenialCode.Name(self.code)  # type: ignore[arg-type]
        return name.removeprefix("TRANSFER_DENIAL_CODE_")


class TransferDecision(NamedTuple):
    """May this transfer happen: ALLOWED with its legal bases, or DENIED with
    every reason, at registry revision ``revision``."""

    verdict: int
    """``dpa_client.ALLOWED`` or ``dpa_client.DENIED``."""
    legal_bases: tuple[str, ...]
    reasons: tuple[TransferReason, ...]
    revision: int
    transfer_date: str
    local: bool = False
    """Decided in this process by a ``LocalChecker``."""
    receipt: DecisionReceipt | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransferDecision):
            return NotImplemented
        return self[:5] == other[:5]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:5])

    @property
    def allowed(self) -> bool:
        return self.verdict == tpb.TRANSFER_VERDICT_ALLOWED

    @classmethod
    def from_proto(cls, msg: tpb.TransferDecision) -> TransferDecision:
        return cls(
            verdict=msg.verdict,
            legal_bases=tuple(msg.legal_bases),
            reasons=tuple(TransferReason(r.code, r.message) for r in msg.reasons),
            revision=msg.revision,
            transfer_date=msg.transfer_date,
        )


_DENIAL = {
    code: tpb.TransferDenialCode.Value(f"TRANSFER_DENIAL_CODE_{code.value}")
    for code in shared_transfer.ReasonCode
}


_ALLOWED = tpb.TRANSFER_VERDICT_ALLOWED
_DENIED = tpb.TRANSFER_VERDICT_DENIED


_new = tuple.__new__


def transfer_decision(decision: shared_transfer.Decision, on: date) -> TransferDecision:
    """The answer of the shared ``decide`` on day ``on``, as the server would
    send it: one value per distinct decision and day, shared by every check
    that gets it (answers are immutable), so a check that is remembered keeps
    no new answer alive, only its key."""
    key = (decision, on)
    found = _ANSWERS.get(key)
    if found is None:
        if decision.allowed:
            # TransferDecision(_ALLOWED, bases, (), revision, on, True), as a
            # plain tuple.
            fields = (
                _ALLOWED,
                decision.legal_bases,
                (),
                decision.revision,
                iso_day(on),
                True,
                None,
            )
            found = _new(TransferDecision, fields)
        else:
            reasons = tuple(TransferReason(_DENIAL[r.code], r.message) for r in decision.reasons)
            found = TransferDecision(_DENIED, (), reasons, decision.revision, iso_day(on), True)
        if len(_ANSWERS) >= _ANSWERS_BOUND:
            _ANSWERS.clear()
        _ANSWERS[key] = found
    return found


_ANSWERS: dict[tuple[shared_transfer.Decision, date], TransferDecision] = {}
_ANSWERS_BOUND = 4096


class ProcessingReason(NamedTuple):
    rule: str
    """Stable rule code, e.g. ``PURPOSE_INSTRUCTED``."""
    satisfied: bool
    message: str
    agreement_version: int
    """0 when the rule does not depend on it."""
    instruction_version: int
    subject: str


class ProcessingDecision(NamedTuple):
    """May this processing go ahead: every rule evaluated, at ``revision``."""

    outcome: int
    """``PROCESSING_OUTCOME_ALLOWED`` or ``_DENIED`` (agreements_pb2)."""
    reasons: tuple[ProcessingReason, ...]
    revision: int
    agreement: str
    """Resource name of the DPA decided against, if any."""
    instruction: str
    local: bool = False
    receipt: DecisionReceipt | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProcessingDecision):
            return NotImplemented
        return self[:5] == other[:5]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:5])

    @property
    def allowed(self) -> bool:
        return self.outcome == apb.PROCESSING_OUTCOME_ALLOWED

    @property
    def denials(self) -> tuple[ProcessingReason, ...]:
        return tuple(r for r in self.reasons if not r.satisfied)

    @classmethod
    def from_proto(cls, msg: apb.ProcessingDecision) -> ProcessingDecision:
        return cls(
            outcome=msg.outcome,
            reasons=tuple(
                ProcessingReason(
                    r.rule,
                    r.satisfied,
                    r.message,
                    r.agreement_version,
                    r.instruction_version,
                    r.subject,
                )
                for r in msg.reasons
            ),
            revision=msg.revision,
            agreement=msg.agreement,
            instruction=msg.instruction,
        )


_PROCESSING_ALLOWED = apb.PROCESSING_OUTCOME_ALLOWED
_PROCESSING_DENIED = apb.PROCESSING_OUTCOME_DENIED
_OUTCOME = {
    shared_processing.Outcome.ALLOWED: _PROCESSING_ALLOWED,
    shared_processing.Outcome.DENIED: _PROCESSING_DENIED,
}
_RULE = {rule: rule.value for rule in shared_processing.Rule}
"""Plain strings for the rules (reading ``.value`` is a Python-level call)."""


_CONVERTED: dict[int, tuple[object, tuple[ProcessingReason, ...]]] = {}


def _public_reasons(reasons: tuple[shared_processing.Reason, ...]) -> tuple[ProcessingReason, ...]:
    """The reasons as this library's values, converted once per tuple: a
    remembered decision (``dpa_decisions.processing.Memo``) returns the same
    tuple object, found here by identity (the entry holds it, so its id is
    not reused while the entry lives)."""
    found = _CONVERTED.get(id(reasons))
    if found is not None and found[0] is reasons:
        return found[1]
    public = tuple(
        ProcessingReason(
            _RULE[r.rule],
            r.satisfied,
            r.message,
            r.agreement_version or 0,
            r.instruction_version or 0,
            r.subject,
        )
        for r in reasons
    )
    if len(_CONVERTED) >= 10_000:
        _CONVERTED.clear()
    _CONVERTED[id(reasons)] = (reasons, public)
    return public


def processing_decision(
    controller_id: str, decision: shared_processing.Decision
) -> ProcessingDecision:
    """The answer of the shared ``decide``, as the server would send it."""
    av, iv = decision.agreement_version, decision.instruction_version
    # ProcessingDecision(outcome, reasons, revision, agreement, instruction,
    # local=True), as a plain tuple: built on every local check.
    return _new(
        ProcessingDecision,
        (
            _OUTCOME[decision.outcome],
            _public_reasons(decision.reasons),
            decision.revision,
            f"controllers/{controller_id}/agreements/{av}" if av else "",
            f"controllers/{controller_id}/instructions/{iv}" if iv else "",
            True,
            None,
        ),
    )
