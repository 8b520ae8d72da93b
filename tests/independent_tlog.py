"""An independent verifier for C2SP signed checkpoints and RFC 9162 proofs.

Written from the specifications alone (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, RFC 9162 sections 2.1.3.2 and 2.1.4.2) and sharing
no code with dpa_client, so the tests check the server's output against a
second reading of the specs.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verify_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Returns (origin, size, root) of a checkpoint note signed by ``vkey``."""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 1 and len(key) == 33  # Ed25519 algorithm byte
    assert _h(name.encode() + b"\n" + key)[:4].hex() == key_id_hex
    text, sep, sigs = note.partition("\n\n")
    assert sep, "a note separates text and signatures with a blank line"
    text += "\n"
    ok = False
    for line in sigs.splitlines():
        assert line.startswith("\u2014 ")
        signer, sig_b64 = line[2:].split(" ")
        sig = base64.b64decode(sig_b64)
        if signer == name and sig[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(key[1:]).verify(sig[4:], text.encode())
            ok = True
    assert ok, "no signature by the pinned key"
    origin, size, root, *rest = text.split("\n")
    assert rest == [""], "a checkpoint body has exactly three lines"
    return origin, int(size), base64.b64decode(root)


def inclusion_root(index: int, size: int, leaf_data: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2, step by step."""
    assert index < size
    fn, sn = index, size - 1
    r = _h(b"\x00" + leaf_data)
    for p in proof:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    assert sn == 0
    return r


def consistency_ok(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, step by step."""
    if first == second:
        return first_root == second_root and not proof
    if first & (first - 1) == 0:  # exact power of two: prepend first_hash
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
