"""Verification of a signed decision log (the form is in ``_decision_batch``),
pure: lines in, verified batches out, or ``TamperedDecisionLog`` naming the
first bad line and what is wrong with it: an edited record or batch, a batch
signed by a key that is not pinned, a batch dropped, moved or copied.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature

from dpa_client._decision_batch import BATCH_TYPE, Head
from dpa_client.documents import digest
from dpa_client.errors import TamperedDecisionLog
from dpa_client.transparency.note import NoteVerifier


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One verified record, with where it is: its line and batch."""

    line: int
    batch: int
    index: int
    """Its place in the batch."""
    digest: str
    content: Mapping[str, Any]
    """The record as written (module docstring)."""

    @property
    def kind(self) -> str:
        return str(self.content["kind"])

    @property
    def verdict(self) -> str:
        return str(self.content["verdict"])

    @property
    def revision(self) -> int:
        return int(self.content["revision"])

    @property
    def local(self) -> bool:
        return bool(self.content["local"])

    @property
    def checkpoint(self) -> str | None:
        found = self.content.get("checkpoint")
        return str(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class VerifiedBatch:
    line: int
    sequence: int
    signer: str
    digest: str
    lowest_revision: int
    highest_revision: int
    sealed_at: str
    records: tuple[LoggedDecision, ...]


_SHAPE: dict[str, type | tuple[type, ...]] = {
    "type": str,
    "signer": str,
    "sequence": int,
    "previous": (str, type(None)),
    "records": list,
    "lowest_revision": int,
    "highest_revision": int,
    "sealed_at": str,
}


def _parse(number: int, line: bytes) -> tuple[dict[str, Any], list[Any], bytes]:
    try:
        obj = json.loads(line)
    except ValueError:
        raise TamperedDecisionLog(number, "not JSON (a line cut short or edited)") from None
    if not isinstance(obj, dict) or set(obj) != {"batch", "records", "signature"}:
        raise TamperedDecisionLog(number, "not a batch line")
    try:
        canonical_line = rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError:
        canonical_line = b""
    if canonical_line != line:
        raise TamperedDecisionLog(number, "not in RFC 8785 canonical form (the line was edited)")
    batch, records, signature = obj["batch"], obj["records"], obj["signature"]
    if (
        not isinstance(batch, dict)
        or set(batch) != set(_SHAPE)
        or any(isinstance(batch[k], bool) or not isinstance(batch[k], t) for k, t in _SHAPE.items())
        or batch["type"] != BATCH_TYPE
        or not isinstance(records, list)
        or not isinstance(signature, str)
    ):
        raise TamperedDecisionLog(number, f"not a {BATCH_TYPE} batch")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise TamperedDecisionLog(number, "the signature is not base64") from None
    return batch, records, raw


def _position(rest: Iterator[tuple[int, bytes]], sequence: int) -> int | None:
    """The line holding batch ``sequence`` further on, if any."""
    for number, line in rest:
        try:
            if json.loads(line)["batch"]["sequence"] == sequence:
                return number
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _out_of_place(
    number: int,
    found: int,
    expected: int,
    seen: Mapping[int, int],
    rest: Iterator[tuple[int, bytes]],
) -> TamperedDecisionLog:
    if found < expected:
        return TamperedDecisionLog(
            number, f"repeats batch {found} (line {seen[found]}): a line was copied or moved"
        )
    where = _position(rest, expected)
    if where is not None:
        return TamperedDecisionLog(
            number,
            f"holds batch {found} where batch {expected} belongs; batch {expected} is at "
            f"line {where}: the lines are out of order",
        )
    missing = (
        f"batch {expected} is" if found == expected + 1 else f"batches {expected}-{found - 1} are"
    )
    return TamperedDecisionLog(
        number, f"holds batch {found}, but {missing} missing: dropped from the log"
    )


def verify_lines(
    lines: Iterable[bytes], pinned_keys: Sequence[str], trusted_head: Head | None = None
) -> Iterator[VerifiedBatch]:
    """Verifies a log line by line (lines without their newline), yielding
    each batch once its signature, place in the chain and records check out;
    raises :class:`TamperedDecisionLog` at the first bad line. ``trusted_head``
    (from an earlier verification) must be in the log, unchanged."""
    verifiers = {v.vkey: v for v in (NoteVerifier.from_vkey(k) for k in pinned_keys)}
    rest = iter(enumerate(lines, start=1))
    head: Head | None = None
    seen: dict[int, int] = {}
    for number, line in rest:
        batch, records, signature = _parse(number, line)
        sequence = batch["sequence"]
        verifier = verifiers.get(batch["signer"])
        if verifier is None:
            raise TamperedDecisionLog(
                number, f"batch {sequence} is signed by {batch['signer']}, which is not pinned"
            )
        document = rfc8785.dumps(batch)
        try:
            verifier.public_key.verify(signature, document)
        except InvalidSignature:
            raise TamperedDecisionLog(
                number, f"the signature of batch {sequence} does not verify (the batch was edited)"
            ) from None
        expected = 0 if head is None else head.sequence + 1
        if sequence != expected:
            raise _out_of_place(number, sequence, expected, seen, rest)
        previous = None if head is None else head.digest
        if batch["previous"] != previous:
            raise TamperedDecisionLog(
                number,
                f"batch {sequence} does not follow batch {expected - 1}: it names "
                f"{batch['previous']} as the previous batch, which is {previous} "
                "(a batch was replaced)",
            )
        head = Head(sequence, digest(document))
        if trusted_head is not None and sequence == trusted_head.sequence and head != trusted_head:
            raise TamperedDecisionLog(
                number, f"batch {sequence} is not the trusted head {trusted_head}: rewritten"
            )
        seen[sequence] = number
        yield _records(number, batch, records, head)
    if trusted_head is not None and (head is None or head.sequence < trusted_head.sequence):
        last = "no batch" if head is None else f"batch {head.sequence}"
        raise TamperedDecisionLog(
            0,
            f"the log ends at {last}, before the trusted head batch {trusted_head.sequence}: "
            "batches were dropped from its end",
        )


def _records(number: int, batch: dict[str, Any], records: list[Any], head: Head) -> VerifiedBatch:
    sequence, listed = head.sequence, batch["records"]
    if len(records) != len(listed):
        raise TamperedDecisionLog(
            number, f"batch {sequence} signed {len(listed)} records, the line holds {len(records)}"
        )
    out = []
    for index, (record, signed) in enumerate(zip(records, listed, strict=True)):
        found = digest(rfc8785.dumps(record))
        if found != signed:
            raise TamperedDecisionLog(
                number,
                f"record {index} of batch {sequence} is not the one the batch signed "
                "(the record was edited, dropped or moved)",
            )
        if not isinstance(record, dict) or not isinstance(record.get("revision"), int):
            raise TamperedDecisionLog(number, f"record {index} of batch {sequence} is malformed")
        out.append(LoggedDecision(number, sequence, index, found, record))
    revisions = [r.revision for r in out]
    if not out or (min(revisions), max(revisions)) != (
        batch["lowest_revision"],
        batch["highest_revision"],
    ):
        raise TamperedDecisionLog(
            number, f"batch {sequence}'s revisions are not its records' (a faulty writer)"
        )
    return VerifiedBatch(
        line=number,
        sequence=sequence,
        signer=batch["signer"],
        digest=head.digest,
        lowest_revision=batch["lowest_revision"],
        highest_revision=batch["highest_revision"],
        sealed_at=batch["sealed_at"],
        records=tuple(out),
    )
