"""C2SP cosignature/v1, the witness's add-checkpoint rules and k-of-n policies (pure)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dpa_client.errors import BadSignature, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.cosignature import (
    CosignatureVerifier,
    Cosigner,
    verify_cosignatures,
)
from dpa_client.transparency.note import Checkpoint, NoteSigner, sign_checkpoint
from dpa_client.witness import (
    AddCheckpoint,
    ConflictingCheckpoint,
    NotWitnessed,
    OldSizeMismatch,
    UnknownLog,
    Witness,
    WitnessPolicy,
)

ORIGIN = "example.test/log"
LOG = NoteSigner.generate(ORIGIN)


def _tree(entries: list[bytes]) -> merkle.MemoryNodes:
    return merkle.MemoryNodes.from_leaf_hashes([merkle.leaf_hash(e) for e in entries])


def _note(entries: list[bytes], signer: NoteSigner = LOG) -> str:
    cp = Checkpoint(ORIGIN, len(entries), merkle.root_hash(len(entries), _tree(entries)))
    return sign_checkpoint(cp, signer)


def _entries(n: int, tag: str = "e") -> list[bytes]:
    return [f"{tag}{i}".encode() for i in range(n)]


def test_cosignature_line_matches_the_spec_byte_for_byte() -> None:
    """Recomputes the line from the spec's definitions with plain primitives."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    name = "witness.example/w1"
    body = f"{ORIGIN}\n5\n{base64.b64encode(bytes(32)).decode()}\n"
    line = Cosigner(name, key).cosign(body, 1679315147)
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    raw = key_id + (1679315147).to_bytes(8, "big") + key.sign(message)  # Ed25519 is deterministic
    assert line == f"\u2014 {name} {base64.b64encode(raw).decode()}\n"
    vkey = CosignatureVerifier(name, key.public_key()).vkey
    encoded = base64.b64encode(bytes([4]) + pub).decode()
    assert vkey == f"{name}+{key_id.hex()}+{encoded}"
    assert CosignatureVerifier.from_vkey(vkey).key_id == key_id


def test_cosignatures_verify_and_tampering_is_caught() -> None:
    note = _note(_entries(3))
    w1, w2 = Cosigner.generate("w1.example"), Cosigner.generate("w2.example")
    body = note[: note.rfind("\n\n") + 1]
    cosigned = note + w1.cosign(body, 100) + w2.cosign(body, 200)
    found = verify_cosignatures(cosigned, [w1.verifier, w2.verifier])
    assert {n: c.timestamp for n, c in found.items()} == {"w1.example": 100, "w2.example": 200}
    # The log's own signature and unknown witnesses are ignored.
    assert verify_cosignatures(cosigned, [Cosigner.generate("w3.example").verifier]) == {}
    # A cosignature moved onto another checkpoint does not verify.
    other = _note(_entries(4))
    with pytest.raises(BadSignature):
        verify_cosignatures(other + w1.cosign(body, 100), [w1.verifier])
    # A note signature (alg 0x01) is not a cosignature (alg 0x04): different key ID.
    same_key = NoteSigner("w1.example", w1.private_key)
    assert verify_cosignatures(same_key.sign(body), [w1.verifier]) == {}


@pytest.mark.parametrize(
    "vkey",
    ["", "a+b+c", "w+00000000+AQ==", "w+zz+BA==", "w+00000000+" + "A" * 44],
)
def test_malformed_witness_keys_are_refused(vkey: str) -> None:
    with pytest.raises(VerificationError):
        CosignatureVerifier.from_vkey(vkey)


def test_add_checkpoint_message_round_trips() -> None:
    request = AddCheckpoint(3, (bytes(32), b"\x01" * 32), _note(_entries(5)))
    text = request.encode()
    assert text.startswith("old 3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    assert AddCheckpoint.parse(text) == request
    for bad in ("old 03\n\n", "old x\n\n", "old 1\nAAAA\n\n", "old 1\n"):
        with pytest.raises(ValueError):
            AddCheckpoint.parse(bad + request.checkpoint)


def _witness(tmp_path: Path, name: str = "w1.example", now: float = 1000.0) -> Witness:
    return Witness(Cosigner.generate(name), {ORIGIN: [LOG.verifier]}, tmp_path, clock=lambda: now)


def test_witness_cosigns_only_consistent_checkpoints(tmp_path: Path) -> None:
    w = _witness(tmp_path)
    entries = _entries(7)
    first = _note(entries[:3])
    line = w.add_checkpoint(AddCheckpoint(0, (), first))
    assert set(verify_cosignatures(first + line, [w.cosigner.verifier])) == {"w1.example"}
    state = w.state(ORIGIN)
    assert state is not None and state.size == 3 and state.note == first
    second = _note(entries)
    proof = tuple(merkle.consistency_proof(3, 7, _tree(entries)))
    with pytest.raises(OldSizeMismatch) as mismatch:
        w.add_checkpoint(AddCheckpoint(0, (), second))
    assert mismatch.value.latest_size == 3
    w.add_checkpoint(AddCheckpoint(3, proof, second))
    assert w.state(ORIGIN).size == 7  # type: ignore[union-attr]
    # The same checkpoint again is fine and changes nothing.
    w.add_checkpoint(AddCheckpoint(7, (), second))
    # A fork from the common prefix of 3: refused, with both notes.
    forked_entries = entries[:3] + _entries(6, "fork")
    forked = _note(forked_entries)
    bad_proof = tuple(merkle.consistency_proof(7, 9, _tree(forked_entries)))
    with pytest.raises(ConflictingCheckpoint) as conflict:
        w.add_checkpoint(AddCheckpoint(7, bad_proof, forked))
    assert conflict.value.cosigned_note == second
    assert conflict.value.offered_note == forked
    assert w.state(ORIGIN).size == 7  # type: ignore[union-attr]
    # Same size, other root: refused as well.
    same_size = _note(entries[:3] + _entries(4, "x"))
    with pytest.raises(ConflictingCheckpoint):
        w.add_checkpoint(AddCheckpoint(7, (), same_size))


def test_witness_refuses_unknown_logs_and_untrusted_signatures(tmp_path: Path) -> None:
    w = _witness(tmp_path)
    other = NoteSigner.generate("other.test/log")
    cp = Checkpoint("other.test/log", 0, merkle.EMPTY_ROOT)
    with pytest.raises(UnknownLog):
        w.add_checkpoint(AddCheckpoint(0, (), sign_checkpoint(cp, other)))
    impostor = NoteSigner.generate(ORIGIN)
    with pytest.raises(BadSignature):
        w.add_checkpoint(AddCheckpoint(0, (), _note(_entries(2), impostor)))
    with pytest.raises(ValueError):
        w.add_checkpoint(AddCheckpoint(5, (), _note(_entries(2))))
    assert w.state(ORIGIN) is None


def test_policy_needs_k_of_n_valid_cosignatures(tmp_path: Path) -> None:
    note = _note(_entries(4))
    body = note[: note.rfind("\n\n") + 1]
    ws = [Cosigner.generate(f"w{i}.example") for i in range(3)]
    policy = WitnessPolicy.from_json(
        {"threshold": 2, "witnesses": [w.vkey for w in ws]},
    )
    one = note + ws[0].cosign(body, 1)
    with pytest.raises(NotWitnessed) as err:
        policy.check(one)
    assert "1 of the 2" in str(err.value) and "w0.example" in str(err.value)
    two = one + ws[2].cosign(body, 2)
    assert policy.check(two).names == ("w0.example", "w2.example")
    # Two lines by one witness count once.
    with pytest.raises(NotWitnessed):
        policy.check(one + ws[0].cosign(body, 3))
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"threshold": 3, "witnesses": [w.vkey for w in ws]}))
    assert WitnessPolicy.load(path).threshold == 3
    with pytest.raises(VerificationError):
        WitnessPolicy.from_json({"threshold": 4, "witnesses": [w.vkey for w in ws]})
    with pytest.raises(VerificationError):
        WitnessPolicy.from_json({"threshold": 1, "witnesses": [ws[0].vkey, ws[0].vkey]})
