"""The evidence pack (Art. 28(3)(h)): the Art. 30(2) record with the facts
behind it, in a zip a controller, an auditor or an authority verifies
offline (``dpa-verify bundle``; format: ``dpa_client.bundle``).

It holds the record, every signed DPA version with both signatures, the
instruction and measure histories, and every audit entry about the
record's resources (controllers, their DPAs and instructions, the engaged
sub-processors and their safeguards, the measures) with an inclusion proof
to a signed checkpoint. The manifest names the SHA-256 of every part and is
signed with the processor's key.
"""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

from dpa_client.bundle import BUNDLE_FORMAT, MANIFEST, PARTS, SIGNATURE, sha256
from dpa_client.transparency import merkle
from registry import keys
from registry.agreements import terms
from registry.agreements.values import Agreement
from registry.audit import log, store
from registry.audit.events import canonical
from registry.auth import Caller
from registry.measures import core as measures
from registry.records import gather
from registry.records import record as record_

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _agreement(a: Agreement) -> dict[str, Any] | None:
    if a.document is None or a.processor_signature is None:
        return None
    c = a.controller_signature
    return {
        "agreement": terms.agreement_name(a.controller_id, a.version),
        "controller_id": a.controller_id,
        "version": a.version,
        "state": a.state.value,
        "document": base64.b64encode(a.document).decode(),
        "document_digest": a.document_digest,
        "processor_signature": {
            "signature": base64.b64encode(a.processor_signature.signature).decode(),
            "key": a.processor_signature.key,
        },
        "controller_signature": None
        if c is None
        else {"signature": base64.b64encode(c.signature).decode(), "certificate": c.certificate},
        "sign_change": terms.audited_sign(a),
    }


def _roots(record: dict[str, Any]) -> list[str]:
    """The resources the pack's entries are about: the controllers in the
    record, the sub-processors engaged for them, the measures."""
    roots = {c["controller"] for c in record["controllers"]}
    roots |= {s["subprocessor"] for c in record["controllers"] for s in c["subprocessors"]}
    return sorted(roots | {measures.COLLECTION, record_.PROCESSOR_RESOURCE})


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data)
    return out.getvalue()


def build(caller: Caller, controller_id: str | None) -> tuple[bytes, int]:
    """The pack's bytes and the revision its record reflects."""
    record = gather.build(caller, controller_id, 0)
    revision = int(record["revision"])
    signed = log.latest_checkpoint()
    size = signed.checkpoint.size
    index = store.entries_under(_roots(record), revision)
    wanted = sorted({s for seqs in index.values() for s in seqs})
    bodies = store.bodies(wanted)
    nodes = store.StoredNodes()
    entries = [
        {
            "index": i,
            "body": base64.b64encode(bodies[i]).decode(),
            "proof": [base64.b64encode(h).decode() for h in merkle.inclusion_proof(i, size, nodes)],
        }
        for i in wanted
    ]
    ids = [c["controller_id"] for c in record["controllers"]]
    agreements, instructions = terms.history(ids)
    parts = {
        "record.json": canonical(record),
        "checkpoint.txt": signed.note.encode(),
        "entries.json": canonical(entries),
        "agreements.json": canonical([x for a in agreements if (x := _agreement(a))]),
        "instructions.json": canonical(
            [
                {
                    "instruction": f"controllers/{i.controller_id}/instructions/{i.version}",
                    "version": i.version,
                    "agreement_version": i.agreement_version,
                    "issued_by": i.issued_by,
                    "body": i.body,
                    "flagged": i.flagged,
                    "change": terms.audited_issue(i),
                }
                for i in instructions
            ]
        ),
        "measures.json": canonical(
            [
                {"measure": v.name, "version": v.version, "change": measures.audited_change(v)}
                for v in measures.history()
            ]
        ),
    }
    key = keys.active()
    manifest = canonical(
        {
            "format": BUNDLE_FORMAT,
            "scope": record["scope"],
            "revision": revision,
            "checkpoint_size": size,
            "key": key.vkey,
            "parts": {name: sha256(parts[name]) for name in PARTS},
        }
    )
    signature = base64.b64encode(key.sign(manifest))
    return _zip({MANIFEST: manifest, SIGNATURE: signature, **parts}), revision
