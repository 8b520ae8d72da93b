"""The pure decision behind ``CheckProcessing`` (GDPR Art. 28(3)(a), policy §6).

One implementation, shared with the client library's ``LocalChecker``:
:mod:`dpa_decisions.processing` (its docstring lists every rule).
"""

from dpa_decisions.processing import (
    AI_TRAINING_USE,
    AgreementScope,
    Decision,
    InstructionScope,
    Outcome,
    ProcessingRequest,
    Reason,
    Rule,
    Situation,
    decide,
)

__all__ = [
    "AI_TRAINING_USE",
    "AgreementScope",
    "Decision",
    "InstructionScope",
    "Outcome",
    "ProcessingRequest",
    "Reason",
    "Rule",
    "Situation",
    "decide",
]
