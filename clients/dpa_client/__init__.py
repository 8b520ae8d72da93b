"""Python client for the 7plus.one DPA registry (GDPR Art. 28), over mutual TLS.

Everything a user needs is importable from here; modules whose names start
with an underscore are private and may change.
"""

from dpa_client._base import AuditReceipt
from dpa_client._breaches import BreachDetails, BreachNoticeWatch
from dpa_client._checks import (
    DecisionReceipt,
    ProcessingDecision,
    ProcessingReason,
    TransferDecision,
    TransferReason,
    verify_receipt,
)
from dpa_client._measures import evidence
from dpa_client._records import contact
from dpa_client._tasks import PART_STATES, REQUEST_TYPES
from dpa_client._transfers import ALLOWED, DENIED, denial_code_name, safeguard
from dpa_client.client import RegistryClient
from dpa_client.local_checker import LocalChecker
from dpa_client.receipts import VerifiedTaskDocument, verify_task, verify_task_document

__all__ = [
    "ALLOWED",
    "DENIED",
    "PART_STATES",
    "REQUEST_TYPES",
    "AuditReceipt",
    "BreachDetails",
    "BreachNoticeWatch",
    "DecisionReceipt",
    "LocalChecker",
    "ProcessingDecision",
    "ProcessingReason",
    "RegistryClient",
    "TransferDecision",
    "TransferReason",
    "VerifiedTaskDocument",
    "contact",
    "denial_code_name",
    "evidence",
    "safeguard",
    "verify_receipt",
    "verify_task",
    "verify_task_document",
]
