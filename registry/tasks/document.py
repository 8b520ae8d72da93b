"""The signed result of a task: a data-subject request receipt or an
end-of-contract certificate, as RFC 8785 canonical JSON the processor signs
with Ed25519 (like the DPA, ``registry.agreements.document``). Pure.

Neither document holds personal data: subject references are salted digests
or opaque references, and the receipt carries only their digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from registry.audit.events import canonical, digest
from registry.clock import rfc3339
from registry.tasks.core import Part, Task
from registry.tasks.types import PartKind, TaskKind

RECEIPT_TYPE = "dpa-registry/data-subject-request-receipt/v1"
CERTIFICATE_TYPE = "dpa-registry/end-of-contract-certificate/v1"


def _time(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def _part(p: Part) -> dict[str, Any]:
    item: dict[str, Any] = {
        "part": p.part_id,
        "kind": p.kind.value,
        "target": p.target,
        "due_at": rfc3339(p.due_time),
        "confirmed_by": p.evidence.confirmed_by,
        "confirmed_at": _time(p.evidence.confirm_time),
        "reference": p.evidence.reference,
        "attachment_digest": p.evidence.attachment_digest or None,
    }
    if p.kind is PartKind.EXPORT:
        item["export_ready_at"] = _time(p.ready_time)
        item["retrieval_window_end"] = _time(p.window_end)
    if p.kind is PartKind.BACKUPS:
        item["backups_expire_at"] = _time(p.expire_time)
    return item


def build(
    task: Task,
    *,
    agreement: str | None,
    steps: Sequence[tuple[int, str, str]],
    issued_at: datetime,
) -> dict[str, Any]:
    """The content the processor signs. ``steps``: (audit index, action,
    resource) of every recorded step of the task."""
    content: dict[str, Any] = {
        "task": task.name,
        "controller_id": task.controller_id,
        "issued_at": rfc3339(issued_at),
        "parts": [_part(p) for p in task.parts],
        "audit_steps": [{"index": i, "action": a, "resource": r} for i, a, r in steps],
    }
    if task.kind is TaskKind.DATA_SUBJECT_REQUEST:
        assert task.request is not None
        r = task.request
        content |= {
            "type": RECEIPT_TYPE,
            "request": {
                "type": r.type.value,
                "controller_request_id": r.controller_request_id,
                "received_at": rfc3339(r.receive_time),
                "due_at": _time(r.due_time),
                "extension_reason": task.extension_reason or None,
                "data_categories": list(r.data_categories),
                "subject_references_digest": digest(list(r.subject_references)),
            },
        }
    else:
        content |= {
            "type": CERTIFICATE_TYPE,
            "agreement": agreement,
            "disposition": task.disposition,
            "legal_holds": [
                {
                    "data_category": h.data_category,
                    "legal_basis": h.legal_basis,
                    "until": rfc3339(h.end_time),
                }
                for h in task.holds
                if h.end_time > issued_at
            ],
        }
    return content


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return canonical(content)
