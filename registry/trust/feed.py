"""The signed public sub-processor feed (docs/feed.md, schema
docs/feed.schema.json).

A feed version lists the platform-wide sub-processors and the open change
notices about them, names the audit-log checkpoint it belongs to, and carries
each item's newest processor-wide audit entry with its inclusion proof in
that checkpoint. The document under ``feed`` is signed as RFC 8785 canonical
JSON with the processor's Ed25519 key (the key that signs checkpoints).
"""

from __future__ import annotations

import base64
from typing import Any

import rfc8785

from dpa_client.transparency import merkle
from registry import clock, keys
from registry.audit import log, store
from registry.subprocessors import notices, public, values

VERSION = 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def build() -> dict[str, Any]:
    """The current feed, signed: ``{"feed": {...}, "signature": {...}}``."""
    listed = public.platform_subprocessors()
    changes = public.open_platform_changes()
    indices: dict[str, int | None] = {}
    for sp in listed:
        indices[sp.name] = store.last_processor_wide_index_of(sp.name)
    for n in changes:
        indices[n.name] = store.last_processor_wide_index_of(n.name)
    signed_checkpoint = log.latest_checkpoint()
    size = signed_checkpoint.checkpoint.size
    nodes = store.StoredNodes()
    entries = [
        {
            "index": index,
            "body": _b64(store.body_at(index)),
            "inclusion_proof": [_b64(h) for h in merkle.inclusion_proof(index, size, nodes)],
        }
        for index in sorted({i for i in indices.values() if i is not None and i < size})
    ]
    feed: dict[str, Any] = {
        "v": VERSION,
        "processor": keys.active().name,
        "generated": clock.rfc3339(clock.now()),
        "subprocessors": [_subprocessor(sp, indices[sp.name]) for sp in listed],
        "pending_changes": [_change(n, indices[n.name]) for n in changes],
        "log": {"checkpoint": signed_checkpoint.note, "tree_size": size, "entries": entries},
    }
    key = keys.active()
    return {
        "feed": feed,
        "signature": {"vkey": key.vkey, "ed25519": _b64(key.sign(rfc8785.dumps(feed)))},
    }


def _subprocessor(sp: values.Subprocessor, index: int | None) -> dict[str, Any]:
    d = sp.details
    return {
        "id": sp.subprocessor_id,
        "display_name": d.display_name,
        "legal_name": d.legal_name,
        "address": d.address,
        "country": d.country,
        "locations": list(d.locations),
        "service_category": d.service_category.value if d.service_category else "",
        "purpose": d.purpose,
        "certifications": list(d.certifications),
        "dpf_status": d.dpf_status.value if d.dpf_status else "",
        "updated": clock.rfc3339(sp.update_time),
        "audit_index": index,
    }


def _change(n: notices.Notice, index: int | None) -> dict[str, Any]:
    return {
        "notice": n.name,
        "kind": n.kind.value,
        "subprocessor": n.subprocessor_id,
        "replaced_subprocessor": n.replaced_id,
        "effective_time": clock.rfc3339(n.effective_time),
        "announced_time": clock.rfc3339(n.create_time),
        "reason": n.reason,
        "audit_index": index,
    }
