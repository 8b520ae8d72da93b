"""Signed batches of decision records (RFC 8785 canonical JSON, Ed25519): the
form a gateway writes and its verification. Pure: no I/O, no clock.

A *record* is one answer of CheckTransfer or CheckProcessing, local or
remote, as a canonical JSON object: ``kind``, the ``request`` as asked,
``verdict``, ``legal_bases``, ``reasons`` (codes and messages), the
``revision`` decided at, ``local``, ``decided_at`` and the ``checkpoint`` of
its receipt (null without one). A *batch* document (``type``
``dpa-registry/decision-batch/v1``) names its ``signer`` (a verifier key,
``name+keyid+base64``), its ``sequence`` number, the digest of the
``previous`` batch document (a hash chain; null for batch 0), the SHA-256
digest of each of its ``records`` in order, the ``lowest_revision`` and
``highest_revision`` they were decided at and when it was ``sealed_at``; it
is signed with Ed25519 over its canonical bytes. One line of the log holds a
batch and its records, itself canonical:
``{"batch":B,"records":[R,...],"signature":"<base64>"}``.
``_decision_verify`` checks a log of such lines.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TypeAlias

import rfc8785

from dpa_client._checks import ProcessingDecision, TransferDecision
from dpa_client.documents import canonical, digest
from dpa_client.errors import VerificationError
from dpa_client.transparency.note import NoteSigner

BATCH_TYPE = "dpa-registry/decision-batch/v1"

Plain: TypeAlias = "bool | int | float | str | list[Plain] | dict[str, Plain] | None"
Decision: TypeAlias = TransferDecision | ProcessingDecision

_SAFE_INT = 2**53 - 1


def plain(value: object) -> Plain:
    """A request value as JSON for :func:`canonical`: dates and times in ISO
    8601, enums by value, value objects as objects, sequences as arrays,
    bytes in base64; integers beyond +-(2**53 - 1) and floats that are not
    finite as text (RFC 8785 has no form for them)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value) if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def timestamp(seconds: float) -> str:
    """RFC 3339 UTC with microseconds: ``2026-02-03T10:11:12.123456Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _code(reason: Any) -> str:
    try:
        return str(reason.code_name)
    except ValueError:  # a code this client does not know (a newer server)
        return str(reason.code)


def record_document(request: Mapping[str, object], answer: Decision, decided_at: float) -> Plain:
    """One answer and the request it answered, as a record (module docstring)."""
    doc: dict[str, Plain] = {
        "request": plain(request),
        "verdict": "ALLOWED" if answer.allowed else "DENIED",
        "revision": answer.revision,
        "local": answer.local,
        "decided_at": timestamp(decided_at),
        "checkpoint": answer.receipt.checkpoint if answer.receipt is not None else None,
    }
    if isinstance(answer, TransferDecision):
        doc["kind"] = "transfer"
        doc["legal_bases"] = list(answer.legal_bases)
        doc["reasons"] = [{"code": _code(r), "message": r.message} for r in answer.reasons]
        doc["transfer_date"] = answer.transfer_date
        return doc
    doc["kind"] = "processing"
    doc["legal_bases"] = []
    doc["reasons"] = [
        {
            "code": r.rule,
            "message": r.message,
            "satisfied": r.satisfied,
            "agreement_version": r.agreement_version,
            "instruction_version": r.instruction_version,
            "subject": r.subject,
        }
        for r in answer.reasons
    ]
    doc["agreement"] = answer.agreement
    doc["instruction"] = answer.instruction
    return doc


@dataclass(frozen=True, slots=True)
class Head:
    """Where a log's chain stands: its newest batch's sequence and digest.
    Written ``<sequence>:<digest>``; kept elsewhere, it shows a log that was
    cut back (``verify_decision_log(..., trusted_head=)``)."""

    sequence: int
    digest: str

    def __str__(self) -> str:
        return f"{self.sequence}:{self.digest}"

    @classmethod
    def parse(cls, text: str) -> Head:
        sequence, _, value = text.partition(":")
        if not sequence.isdigit() or not value.startswith("sha256:"):
            raise ValueError(f"not a head <sequence>:sha256:<hex>: {text!r}")
        return cls(int(sequence), value)


def seal(
    records: Sequence[bytes],
    revisions: Sequence[int],
    signer: NoteSigner,
    after: Head | None,
    sealed_at: float,
) -> tuple[bytes, Head]:
    """The signed line for canonical ``records`` (at least one) following
    ``after`` (None: the first batch), and the new head."""
    sequence = 0 if after is None else after.sequence + 1
    document = canonical(
        {
            "type": BATCH_TYPE,
            "signer": signer.vkey,
            "sequence": sequence,
            "previous": None if after is None else after.digest,
            "records": [digest(r) for r in records],
            "lowest_revision": min(revisions),
            "highest_revision": max(revisions),
            "sealed_at": timestamp(sealed_at),
        }
    )
    signature = base64.b64encode(signer.private_key.sign(document))
    # The line's keys in RFC 8785 order; each part is canonical already.
    line = b'{"batch":%s,"records":[%s],"signature":"%s"}' % (
        document,
        b",".join(records),
        signature,
    )
    return line, Head(sequence, digest(document))


def head_of(line: bytes) -> Head:
    """The head a log line leaves (a reopened log continues from it)."""
    try:
        batch = json.loads(line)["batch"]
        return Head(int(batch["sequence"]), digest(rfc8785.dumps(batch)))
    except (ValueError, KeyError, TypeError) as err:
        raise VerificationError(f"the log's last line is not a batch: {err}") from None
