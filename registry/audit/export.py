"""``dpa-registry audit export``: a self-contained, offline-verifiable export.

The export holds every entry's exact bytes, every signed checkpoint, and the
verifier keys. The stored tree's node hashes (``[level, index, hash]``) are
included as hints that let a verifier name the first bad index; a verifier
uses one only after hashing it up to a signed root, never on trust.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dpa_client.audit import EXPORT_FORMAT
from registry import db
from registry.audit import log, store

_INDEX_MASK = (1 << 56) - 1


def build(progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The export; ``progress(done, total)`` is told how far the entries are."""
    with db.database.atomic():
        size = store.size()
        entries = []
        rows = (
            store.AuditEvent.select(store.AuditEvent.seq, store.AuditEvent.body)
            .where(store.AuditEvent.seq < size)
            .order_by(store.AuditEvent.seq)
        )
        for r in rows.iterator():
            entries.append({"index": int(r.seq), "body": base64.b64encode(bytes(r.body)).decode()})
            if progress is not None and len(entries) % 5000 == 0:
                progress(len(entries), size)
        if progress is not None:
            progress(size, size)
        nodes = [
            [int(r.key) >> 56, int(r.key) & _INDEX_MASK, base64.b64encode(bytes(r.hash)).decode()]
            for r in store.MerkleNode.select().order_by(store.MerkleNode.key)
        ]
        checkpoints = [
            row.note for row in log.CheckpointRecord.select().order_by(log.CheckpointRecord.size)
        ]
        vkeys = [row.vkey for row in log.log_keys()]
    return {
        "format": EXPORT_FORMAT,
        "size": size,
        "keys": vkeys,
        "checkpoints": checkpoints,
        "entries": entries,
        "nodes": nodes,
    }


def write(path: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    data = build(progress)
    path.write_text(json.dumps(data, separators=(",", ":")))
    return data
