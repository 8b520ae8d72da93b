"""Offline verification of the registry's signed public sub-processor feed.

Checks, with no network: the Ed25519 signature over the RFC 8785 canonical
``feed`` object by a pinned processor key; the audit-log checkpoint the feed
names, signed by the same key; and for every listed sub-processor and pending
change, that its audit entry is in that checkpoint (RFC 9162 inclusion proof)
and is a processor-wide entry about exactly that resource.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature

from dpa_client.errors import BadSignature, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, NoteVerifier, open_checkpoint


@dataclass(frozen=True)
class FeedReport:
    """What a verified feed says."""

    processor: str
    generated: str
    subprocessors: tuple[str, ...]
    pending_changes: tuple[str, ...]
    checkpoint: Checkpoint
    entries_verified: int


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise VerificationError(f"{what} is not base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise VerificationError(f"{what} is not base64") from err


def verify_feed(data: bytes, vkeys: Sequence[str]) -> FeedReport:
    """Verifies a downloaded ``feed.json``; raises VerificationError."""
    try:
        doc = json.loads(data)
        feed, signature = doc["feed"], doc["signature"]
        vkey = signature["vkey"]
    except (ValueError, KeyError, TypeError) as err:
        raise VerificationError(f"not a signed feed: {err}") from err
    pinned = [NoteVerifier.from_vkey(k) for k in vkeys]
    signer = next((v for v in pinned if v.vkey == vkey), None)
    if signer is None:
        raise BadSignature(f"feed signed by {vkey!r}, which is not a pinned key")
    try:
        signer.public_key.verify(_b64(signature.get("ed25519"), "signature"), rfc8785.dumps(feed))
    except InvalidSignature as err:
        raise BadSignature("the feed's signature does not verify") from err
    log = feed["log"]
    checkpoint = open_checkpoint(log["checkpoint"], [signer])
    if log["tree_size"] != checkpoint.size:
        raise VerificationError("tree_size differs from the checkpoint's")
    proven: dict[int, dict[str, Any]] = {}
    for entry in log["entries"]:
        index, body = int(entry["index"]), _b64(entry["body"], "entry body")
        proof = [_b64(h, "proof hash") for h in entry["inclusion_proof"]]
        merkle.verify_inclusion(
            merkle.leaf_hash(body), index, checkpoint.size, proof, checkpoint.root_hash
        )
        event = json.loads(body)
        if event.get("seq") != index:
            raise VerificationError(f"entry {index} carries seq {event.get('seq')}")
        proven[index] = event
    items = [(f"subprocessors/{sp['id']}", sp["audit_index"]) for sp in feed["subprocessors"]]
    items += [(c["notice"], c["audit_index"]) for c in feed["pending_changes"]]
    for resource, index in items:
        event = proven.get(index) if isinstance(index, int) else None
        if event is None:
            raise VerificationError(f"{resource}: no audit entry proven in the checkpoint")
        if event.get("resource") != resource or event.get("tenant") is not None:
            raise VerificationError(f"{resource}: audit entry {index} is about something else")
    return FeedReport(
        processor=str(feed["processor"]),
        generated=str(feed["generated"]),
        subprocessors=tuple(str(sp["id"]) for sp in feed["subprocessors"]),
        pending_changes=tuple(str(c["notice"]) for c in feed["pending_changes"]),
        checkpoint=checkpoint,
        entries_verified=len(proven),
    )
