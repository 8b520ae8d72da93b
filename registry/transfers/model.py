"""Value types for Chapter V GDPR transfer decisions (Art. 44-49).

One definition, shared with the client library: :mod:`dpa_decisions.transfer_types`
(docs/adr/0017-shared-decision-code.md).
"""

from dpa_decisions.transfer_types import (
    Art49Ground,
    AuthorizationState,
    Clause9Option,
    ControllerView,
    Decision,
    Mechanism,
    Reason,
    ReasonCode,
    RecipientSector,
    Safeguard,
    SccDecision,
    SccModule,
    Subprocessor,
    SubprocessorStatus,
    TransferRequest,
)

__all__ = [
    "Art49Ground",
    "AuthorizationState",
    "Clause9Option",
    "ControllerView",
    "Decision",
    "Mechanism",
    "Reason",
    "ReasonCode",
    "RecipientSector",
    "Safeguard",
    "SccDecision",
    "SccModule",
    "Subprocessor",
    "SubprocessorStatus",
    "TransferRequest",
]
