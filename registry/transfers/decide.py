"""The pure decision behind ``CheckTransfer`` (GDPR Art. 28 and Art. 44-49).

One implementation, shared with the client library's ``LocalChecker``:
:mod:`dpa_decisions.transfer` (its docstring lists every rule). This module
adds the server's vocabulary (fideslang's default taxonomy) to request
validation.
"""

from __future__ import annotations

from dpa_decisions import transfer
from dpa_decisions.transfer import decide
from registry import taxonomy
from registry.errors import Violations
from registry.transfers.model import TransferRequest
from registry.transfers.reference import Reference

__all__ = ["decide", "validate_request"]


def validate_request(request: TransferRequest, reference: Reference, errors: Violations) -> None:
    """Field checks for the RPC layer (INVALID_ARGUMENT); adds to ``errors``."""
    transfer.validate_request(request, reference, taxonomy.vocabulary(), errors)
