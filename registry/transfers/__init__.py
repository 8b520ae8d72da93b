"""Chapter V GDPR (Art. 44-49) transfer decisions for the processor registry.

The pure decision core behind ``CheckTransfer``: may 7plus.one (the processor)
move a controller's personal data to a sub-processor or a one-off recipient,
and on what Chapter V basis (EEA, Art. 45 adequacy, Art. 46 safeguards such
as SCC Decision (EU) 2021/914 or Art. 47 BCR; Art. 49 derogations only for a
one-off transfer)?

* :mod:`registry.transfers.model`: frozen dataclasses and enums.
* :mod:`registry.transfers.reference`: the reviewed reference table
  (``registry/data/adequacy.json``), loaded once.
* :mod:`registry.transfers.decide`: ``decide()``, pure and deterministic.
"""

from registry.transfers.decide import decide, validate_request
from registry.transfers.model import (
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
from registry.transfers.reference import (
    AdequacyDecision,
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
    Reference,
    ReferenceDataError,
    default_reference,
    load_reference,
    validate_country,
)

__all__ = [
    "AdequacyDecision",
    "AdequacyScope",
    "AdequacyStatus",
    "Art49Ground",
    "AuthorizationState",
    "Clause9Option",
    "ControllerView",
    "Decision",
    "DestinationKind",
    "Mechanism",
    "Reason",
    "ReasonCode",
    "RecipientSector",
    "Reference",
    "ReferenceDataError",
    "Safeguard",
    "SccDecision",
    "SccModule",
    "Subprocessor",
    "SubprocessorStatus",
    "TransferRequest",
    "decide",
    "default_reference",
    "load_reference",
    "validate_country",
    "validate_request",
]
