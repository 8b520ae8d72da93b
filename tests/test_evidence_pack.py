"""The evidence pack: built over the API on each backend, verified offline
against the pinned log key, and a one-byte change anywhere fails naming the
part."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dpa_client import documents, errors
from dpa_client.bundle import (
    MANIFEST,
    PARTS,
    SIGNATURE,
    canonical,
    line_digest,
    sha256,
    verify_bundle,
)
from dpa_client.cli import main as dpa_verify
from dpa_client.errors import TamperedBundle
from tests.harness import Harness
from tests.test_records import _scenario


def _vkeys(h: Harness) -> list[str]:
    return [k.vkey for k in h.staff.log_info().keys]


def _with_part(data: bytes, name: str, change: bytes) -> bytes:
    """The zip rebuilt with one part replaced (a tamperer who fixes the CRC)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change if info.filename == name else src.read(info))
    return out.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_an_auditor_verifies_a_pack_offline(registry: Harness, tmp_path: Path) -> None:
    _scenario(registry)
    registry.staff.update_measure(
        "enc-at-rest",
        impact="LOWERED",
        reason="Provider-managed keys",
        category="PSEUDONYMISATION_ENCRYPTION",
        title="Encryption at rest",
        description="AES-256 with provider-managed keys",
    )
    seen: list[tuple[int, int]] = []
    data = registry.client("auditor", "audit1").evidence_pack(
        "acme", progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (len(data), len(data))
    report = verify_bundle(data, _vkeys(registry))
    assert report.scope == "controllers/acme"
    assert report.agreements == 1 and report.signatures == 2  # processor + controller
    assert report.measure_versions == 2
    assert report.entries > 5 and report.record_lines >= 5
    whole = verify_bundle(registry.staff.evidence_pack(), _vkeys(registry))
    assert whole.scope == "processor"

    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    assert dpa_verify(["bundle", str(path), "--vkey", _vkeys(registry)[0]]) == 0


def test_a_controller_gets_only_its_own_pack(registry: Harness) -> None:
    _scenario(registry)
    acme = registry.client("controller", "acme")
    report = verify_bundle(acme.evidence_pack(), _vkeys(registry))
    assert report.scope == "controllers/acme"
    with pytest.raises(errors.NotFound):
        acme.evidence_pack("globex")


def test_a_one_byte_change_fails_naming_the_part(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _scenario(registry)
    data = registry.staff.evidence_pack("acme")
    vkeys = _vkeys(registry)
    archive = zipfile.ZipFile(io.BytesIO(data))
    for name in PARTS:
        original = archive.read(name)
        for at in (0, len(original) // 2, len(original) - 2):
            tampered = _with_part(data, name, _flip(original, at))
            with pytest.raises(TamperedBundle) as caught:
                verify_bundle(tampered, vkeys)
            assert caught.value.part == name, (name, at, str(caught.value))
    # A byte flipped in the zip itself, no CRC fixed: still named.
    raw = archive.getinfo("record.json")
    at = raw.header_offset + 30 + len(raw.filename) + 5
    with pytest.raises(TamperedBundle) as caught:
        verify_bundle(_flip(data, at), vkeys)
    assert caught.value.part == "record.json"
    # A re-signed manifest with another key: not pinned.
    with pytest.raises(TamperedBundle) as caught:
        verify_bundle(data, [_other_vkey()])
    assert caught.value.part == "manifest.json"

    path = tmp_path / "pack.zip"
    path.write_bytes(_with_part(data, "entries.json", _flip(archive.read("entries.json"), 40)))
    assert dpa_verify(["bundle", str(path), "--vkey", vkeys[0]]) == 1
    assert "FAILED in entries.json" in capsys.readouterr().err


def _other_vkey() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from registry import keys

    return keys.from_private("7plus.one/other", Ed25519PrivateKey.generate()).vkey


def _resigned(data: bytes, name: str, edit: Callable[[Any], Any]) -> bytes:
    """The pack with one JSON part edited and the manifest re-signed with the
    processor's own key: a tamperer who holds that key (the processor)."""
    from registry import keys

    src = zipfile.ZipFile(io.BytesIO(data))
    parts = {info.filename: src.read(info) for info in src.infolist()}
    parts[name] = canonical(edit(json.loads(parts[name])))
    manifest = json.loads(parts[MANIFEST])
    manifest["parts"][name] = sha256(parts[name])
    parts[MANIFEST] = canonical(manifest)
    parts[SIGNATURE] = base64.b64encode(keys.active().sign(parts[MANIFEST]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for part, body in parts.items():
            dst.writestr(part, body)
    return out.getvalue()


def _refused(data: bytes, vkeys: list[str], part: str, words: str) -> None:
    with pytest.raises(TamperedBundle) as caught:
        verify_bundle(data, vkeys)
    assert caught.value.part.startswith(part), str(caught.value)
    assert words in str(caught.value)


def test_lines_and_documents_are_bound_by_content(registry: Harness) -> None:
    _scenario(registry)
    data = registry.staff.evidence_pack("acme")
    vkeys = _vkeys(registry)
    report = verify_bundle(data, vkeys)
    assert report.instructions == 1
    assert report.lines_bound_by_content == 2  # acme's processing line, the measure
    record = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("record.json"))
    assert all(c["content_digest"] == line_digest(c) for c in record["controllers"])

    # A line edited, its digest left: named by the line.
    def dpo(r: Any) -> Any:
        r["controllers"][0]["dpo_email"] = "someone@else.example"
        return r

    _refused(_resigned(data, "record.json", dpo), vkeys, "record.json: controllers[0]", "digest")

    # A processing line rewritten with a fresh digest: its instruction says otherwise.
    def widened(r: Any) -> Any:
        p = r["controllers"][0]["processing"][0]
        p["retention_days"] = 3650
        p["content_digest"] = line_digest(p)
        return r

    _refused(
        _resigned(data, "record.json", widened),
        vkeys,
        "record.json: controllers[0].processing[0]",
        "instruction",
    )

    # An instruction swapped for another, body and change alike: no entry records it.
    def swapped(items: Any) -> Any:
        body = json.loads(items[0]["body"])
        body["retention_days"] = 3650
        items[0]["body"] = canonical(body).decode()
        items[0]["change"]["content"] = body
        return items

    _refused(
        _resigned(data, "instructions.json", swapped), vkeys, "instructions.json", "audit entry"
    )

    # A DPA document swapped and re-signed with the processor's key (the
    # controller's countersignature dropped): the log's signing entry names
    # the original document.
    def redrafted(items: Any) -> Any:
        from registry import keys

        a = items[0]
        document = base64.b64decode(a["document"]) + b" "
        a["document"] = base64.b64encode(document).decode()
        a["document_digest"] = documents.digest(document)
        a["processor_signature"]["signature"] = base64.b64encode(
            keys.active().sign(document)
        ).decode()
        a["controller_signature"] = None
        a["sign_change"]["document_digest"] = a["document_digest"]
        return items

    _refused(_resigned(data, "agreements.json", redrafted), vkeys, "agreements.json", "signing")
