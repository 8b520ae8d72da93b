"""Offline verification of the processor's signed task documents: the receipt
of a data-subject request (Art. 28(3)(e)) and the certificate of return or
deletion at the end of the contract (Art. 28(3)(g)).

Each is RFC 8785 canonical JSON signed with Ed25519 by the processor key, like
the DPA (:mod:`dpa_client.documents`). :func:`verify_task_document` checks,
without the network: the bytes are canonical, name the expected task and
controller, are of a known type, and the signature verifies under a pinned key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from dpa_client.documents import digest, verify_processor_signature
from dpa_client.errors import VerificationError
from dpa_client.types.tasks import Task

RECEIPT_TYPE = "dpa-registry/data-subject-request-receipt/v1"
CERTIFICATE_TYPE = "dpa-registry/end-of-contract-certificate/v1"


@dataclass(frozen=True)
class VerifiedTaskDocument:
    """A receipt or certificate whose processor signature verified offline."""

    type: str
    task: str
    controller_id: str
    digest: str
    content: dict[str, Any]
    processor_key: str

    @property
    def audit_indices(self) -> tuple[int, ...]:
        """Audit-log indices of every recorded step (prove each with an
        inclusion proof, :mod:`dpa_client.audit`)."""
        return tuple(int(s["index"]) for s in self.content.get("audit_steps", ()))


def verify_task_document(
    document: bytes,
    *,
    signature: bytes,
    key: str,
    pinned_processor_keys: Sequence[str],
    controller_id: str,
    task: str | None = None,
) -> VerifiedTaskDocument:
    """Verifies a signed task document (see the module docstring)."""
    try:
        content = json.loads(document)
    except ValueError:
        raise VerificationError("the document is not JSON") from None
    if not isinstance(content, dict):
        raise VerificationError("the document is not a JSON object")
    if rfc8785.dumps(content) != document:
        raise VerificationError("the document bytes are not RFC 8785 canonical")
    kind = content.get("type")
    if kind not in (RECEIPT_TYPE, CERTIFICATE_TYPE):
        raise VerificationError(f"unknown document type {kind!r}")
    if content.get("controller_id") != controller_id:
        raise VerificationError(f"the document is not about {controller_id}")
    if task is not None and content.get("task") != task:
        raise VerificationError(f"the document is not about {task}")
    verify_processor_signature(document, signature, key, pinned_processor_keys)
    return VerifiedTaskDocument(
        type=str(kind),
        task=str(content.get("task", "")),
        controller_id=controller_id,
        digest=digest(document),
        content=content,
        processor_key=key,
    )


def verify_task(
    task: Task, *, pinned_processor_keys: Sequence[str], controller_id: str | None = None
) -> VerifiedTaskDocument:
    """:func:`verify_task_document` over a :class:`Task` fetched from the registry."""
    s = task.signed_document
    if s is None:
        raise VerificationError(f"{task.name} has no signed document yet")
    return verify_task_document(
        s.document,
        signature=s.signature,
        key=s.key,
        pinned_processor_keys=pinned_processor_keys,
        controller_id=controller_id or task.controller_id,
        task=task.name,
    )
