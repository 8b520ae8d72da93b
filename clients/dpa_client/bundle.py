"""Evidence packs (Art. 28(3)(h)): a zip the registry builds for one
controller or for the whole processor, verified here offline, trusting only
pinned log keys.

Parts: ``manifest.json`` (the SHA-256 of every other part, signed by the
processor's key in ``manifest.sig``), ``record.json`` (the Art. 30(2)
record), ``checkpoint.txt`` (a signed checkpoint), ``entries.json`` (the
audit-log entries behind the record and the histories, each with an
inclusion proof to the checkpoint), ``agreements.json`` (every signed DPA
version with both signatures), ``instructions.json``, ``measures.json``
(every version with the change its entry digests). Verification is pure:
bytes in, a :class:`BundleReport` out, or :class:`TamperedBundle` naming the
part.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature

from dpa_client import documents
from dpa_client.errors import TamperedBundle, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, NoteVerifier, open_checkpoint

BUNDLE_FORMAT = "dpa-registry/evidence-pack/v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PARTS = (
    "record.json",
    "checkpoint.txt",
    "entries.json",
    "agreements.json",
    "instructions.json",
    "measures.json",
)

Progress = Callable[[str, int, int], None]
"""(stage, done, total): called as verification advances."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value: Any) -> bytes:
    data: bytes = rfc8785.dumps(value)
    return data


NESTED = frozenset({"processing", "subprocessors", "transfers"})
"""Keys of a controller line that hold other lines."""


def line_digest(line: Mapping[str, Any]) -> str:
    """The digest of what one line of the Art. 30(2) record states (its
    ``content_digest``): its own fields, without the lines it holds, its
    ``sources`` or the digest itself."""
    own = {k: v for k, v in line.items() if k not in NESTED | {"sources", "content_digest"}}
    return sha256(canonical(own))


@dataclass
class BundleReport:
    scope: str
    revision: int
    checkpoint: Checkpoint
    entries: int = 0
    agreements: int = 0
    signatures: int = 0
    measure_versions: int = 0
    instructions: int = 0
    record_lines: int = 0
    lines_bound_by_content: int = 0
    """Lines whose content follows from a document whose change an included
    entry digests (processing and measure lines); the others are bound to
    their entries by resource."""
    notes: list[str] = field(default_factory=list)


def _parts(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise TamperedBundle("bundle", f"not a readable zip: {err}") from None
    parts: dict[str, bytes] = {}
    with archive:
        for name in (MANIFEST, SIGNATURE, *PARTS):
            try:
                parts[name] = archive.read(name)
            except KeyError:
                raise TamperedBundle(name, "missing from the bundle") from None
            except (zipfile.BadZipFile, ValueError, OSError) as err:
                raise TamperedBundle(name, f"unreadable: {err}") from None
    return parts


def _json(parts: Mapping[str, bytes], name: str) -> Any:
    try:
        return json.loads(parts[name])
    except (ValueError, UnicodeDecodeError) as err:
        raise TamperedBundle(name, f"not JSON: {err}") from None


def _manifest(parts: Mapping[str, bytes], verifiers: Sequence[NoteVerifier]) -> dict[str, Any]:
    manifest = _json(parts, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise TamperedBundle(MANIFEST, f"not a {BUNDLE_FORMAT} manifest")
    try:
        signature = base64.b64decode(parts[SIGNATURE], validate=True)
    except ValueError:
        raise TamperedBundle(SIGNATURE, "not base64") from None
    key = str(manifest.get("key", ""))
    signer = next((v for v in verifiers if v.vkey == key), None) if key else None
    if signer is None:
        raise TamperedBundle(MANIFEST, "signed by a key that is not pinned")
    try:
        signer.public_key.verify(signature, parts[MANIFEST])
    except InvalidSignature:
        raise TamperedBundle(SIGNATURE, "the manifest signature does not verify") from None
    for name in PARTS:
        if manifest["parts"].get(name) != sha256(parts[name]):
            raise TamperedBundle(name, "its bytes are not the ones the signed manifest names")
    return manifest


def _entries(
    parts: Mapping[str, bytes], checkpoint: Checkpoint, progress: Progress | None
) -> dict[int, dict[str, Any]]:
    entries = _json(parts, "entries.json")
    verified: dict[int, dict[str, Any]] = {}
    for n, item in enumerate(entries):
        index = int(item["index"])
        where = f"entries.json: entry {index}"
        try:
            body = base64.b64decode(item["body"], validate=True)
            proof = [base64.b64decode(h, validate=True) for h in item["proof"]]
            merkle.verify_inclusion(
                merkle.leaf_hash(body), index, checkpoint.size, proof, checkpoint.root_hash
            )
            event = json.loads(body)
        except (ValueError, VerificationError) as err:
            raise TamperedBundle(where, f"not in the signed tree: {err}") from None
        if event.get("seq") != index:
            raise TamperedBundle(where, "its body names another index")
        verified[index] = event
        if progress is not None:
            progress("entries", n + 1, len(entries))
    return verified


def _changes(entries: Mapping[int, dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(resource, action) -> the change digests of the included entries."""
    found: dict[tuple[str, str], set[str]] = {}
    for event in entries.values():
        found.setdefault((event["resource"], event["action"]), set()).add(event["change"])
    return found


def _agreements(
    parts: Mapping[str, bytes],
    pinned: Sequence[str],
    changes: Mapping[tuple[str, str], set[str]],
    report: BundleReport,
) -> None:
    for a in _json(parts, "agreements.json"):
        where = f"agreements.json: {a['agreement']}"
        document = base64.b64decode(a["document"])
        if documents.digest(document) != a["document_digest"]:
            raise TamperedBundle(where, "the document does not match its digest")
        try:
            p = a["processor_signature"]
            documents.verify_processor_signature(
                document, base64.b64decode(p["signature"]), p["key"], pinned
            )
            report.signatures += 1
            c = a.get("controller_signature")
            if c is not None:
                documents.verify_controller_signature(
                    document,
                    base64.b64decode(c["signature"]),
                    c["certificate"].encode(),
                    controller_id=a["controller_id"],
                )
                report.signatures += 1
        except VerificationError as err:
            raise TamperedBundle(where, str(err)) from None
        # The log's signing entry binds the document: a swapped document,
        # even re-signed with the processor's key, is not the one it names.
        sign = a.get("sign_change") or {}
        if (sign.get("version"), sign.get("document_digest"), sign.get("key")) != (
            a["version"],
            a["document_digest"],
            p["key"],
        ) or sha256(canonical(sign)) not in changes.get((a["agreement"], "agreement.sign"), set()):
            raise TamperedBundle(
                where, "no included audit entry records the signing of this document"
            )
        report.agreements += 1


def _instructions(
    parts: Mapping[str, bytes],
    changes: Mapping[tuple[str, str], set[str]],
    report: BundleReport,
) -> dict[str, dict[str, Any]]:
    """Instruction name -> its content, each bound to its issuing entry."""
    found: dict[str, dict[str, Any]] = {}
    for i in _json(parts, "instructions.json"):
        where = f"instructions.json: {i['instruction']}"
        change = i.get("change") or {}
        try:
            body = json.loads(i["body"])
        except (ValueError, TypeError):
            raise TamperedBundle(where, "its body is not JSON") from None
        if change.get("content") != body or change.get("version") != i["version"]:
            raise TamperedBundle(where, "its body is not the content its change names")
        if sha256(canonical(change)) not in changes.get(
            (i["instruction"], "instruction.issue"), set()
        ):
            raise TamperedBundle(where, "no included audit entry records this instruction")
        found[i["instruction"]] = body
        report.instructions += 1
    return found


def _measures(
    parts: Mapping[str, bytes], entries: Mapping[int, dict[str, Any]], report: BundleReport
) -> dict[tuple[str, int], dict[str, Any]]:
    by_resource: dict[str, set[str]] = {}
    for event in entries.values():
        by_resource.setdefault(event["resource"], set()).add(event["change"])
    versions: dict[tuple[str, int], dict[str, Any]] = {}
    for m in _json(parts, "measures.json"):
        where = f"measures.json: {m['measure']} v{m['version']}"
        if sha256(canonical(m["change"])) not in by_resource.get(m["measure"], set()):
            raise TamperedBundle(where, "no included audit entry records this change")
        versions[(m["measure"], int(m["version"]))] = m
        report.measure_versions += 1
    return versions


def _lines(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str, bool]]:
    """(where, line, resource, exact) for every sourced line of the record."""
    # The processor's DPO and representative: entries about "processor", if recorded.
    out: list[tuple[str, Mapping[str, Any], str, bool]] = [
        ("processor", record["processor"], "processor", False)
    ]
    for i, c in enumerate(record["controllers"]):
        out.append((f"controllers[{i}]", c, c["controller"], True))
        for j, p in enumerate(c["processing"]):
            out.append((f"controllers[{i}].processing[{j}]", p, p["instruction"], True))
        for j, s in enumerate(c["subprocessors"]):
            out.append((f"controllers[{i}].subprocessors[{j}]", s, s["subprocessor"], True))
        for j, t in enumerate(c["transfers"]):
            root = t["subprocessor"] + "/safeguards"
            out.append((f"controllers[{i}].transfers[{j}]", t, root, False))
    for i, m in enumerate(record["measures"]):
        out.append((f"measures[{i}]", m, m["measure"], True))
    return out


_SCOPE_FIELDS = ("purposes", "data_categories", "data_subjects", "operations", "countries")


def _processing(line: Mapping[str, Any], content: Mapping[str, Any]) -> bool:
    """True when a processing line states what its instruction's content says."""
    same = all(list(line[k]) == list(content.get(k) or ()) for k in _SCOPE_FIELDS)
    return same and line["retention_days"] == int(content.get("retention_days") or 0)


def _record(
    record: Mapping[str, Any],
    manifest: Mapping[str, Any],
    entries: Mapping[int, dict[str, Any]],
    instructions: Mapping[str, dict[str, Any]],
    measures: Mapping[tuple[str, int], dict[str, Any]],
    report: BundleReport,
) -> None:
    if record.get("revision") != manifest["revision"] or record.get("scope") != manifest["scope"]:
        raise TamperedBundle("record.json", "its revision or scope differs from the manifest")
    for where, line, resource, exact in _lines(record):
        name = f"record.json: {where}"
        if line_digest(line) != line.get("content_digest"):
            raise TamperedBundle(name, "its content is not what its content_digest names")
        sources = line["sources"]
        if not sources and exact:
            raise TamperedBundle(name, f"names no audit entry for {resource}")
        for index in sources:
            event = entries.get(index)
            if event is None:
                raise TamperedBundle(name, f"audit entry {index} is not in the bundle")
            if index >= record["revision"]:
                raise TamperedBundle(name, f"audit entry {index} is after the record's revision")
            ok = event["resource"] == resource or (
                not exact and event["resource"].startswith(resource + "/")
            )
            if not ok:
                raise TamperedBundle(name, f"audit entry {index} is about {event['resource']}")
        report.record_lines += 1
    for i, c in enumerate(record["controllers"]):
        for j, p in enumerate(c["processing"]):
            content = instructions.get(p["instruction"])
            if content is None or not _processing(p, content):
                raise TamperedBundle(
                    f"record.json: controllers[{i}].processing[{j}]",
                    "does not follow from its instruction's content",
                )
            report.lines_bound_by_content += 1
    for i, m in enumerate(record["measures"]):
        version = measures.get((m["measure"], int(m["version"])))
        content = {k: m[k] for k in ("category", "heading", "title", "description")}
        content |= {"applies_to": m["applies_to"], "evidence": m["evidence"]}
        if version is None or version["change"].get("content", content) != content:
            raise TamperedBundle(
                f"record.json: measures[{i}]", "does not follow from the measure's entries"
            )
        report.lines_bound_by_content += 1


def verify_bundle(
    data: bytes, vkeys: Sequence[str], progress: Progress | None = None
) -> BundleReport:
    """Verifies an evidence pack offline against pinned log keys ``vkeys``."""
    if not vkeys:
        raise VerificationError("at least one pinned verifier key is required")
    verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
    parts = _parts(data)
    manifest = _manifest(parts, verifiers)
    try:
        checkpoint = open_checkpoint(parts["checkpoint.txt"].decode(), verifiers, None)
    except (VerificationError, UnicodeDecodeError) as err:
        raise TamperedBundle("checkpoint.txt", str(err)) from None
    if checkpoint.size < int(manifest["revision"]):
        raise TamperedBundle("checkpoint.txt", "does not cover the record's revision")
    report = BundleReport(manifest["scope"], int(manifest["revision"]), checkpoint)
    entries = _entries(parts, checkpoint, progress)
    report.entries = len(entries)
    changes = _changes(entries)
    _agreements(parts, list(vkeys), changes, report)
    instructions = _instructions(parts, changes, report)
    measures = _measures(parts, entries, report)
    _record(_json(parts, "record.json"), manifest, entries, instructions, measures, report)
    if progress is not None:
        progress("record", 1, 1)
    return report
