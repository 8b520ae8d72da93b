"""Tests for dpa_client.transparency.note (C2SP signed-note and tlog-checkpoint)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dpa_client.errors import BadSignature, VerificationError
from dpa_client.transparency import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

DASH = "\u2014"  # em dash

# golang.org/x/mod/sumdb/note documentation example (Ed25519 is deterministic).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    f"{DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_SIG

# The example of the C2SP signed-note specification.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{DASH} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYj"
    "OBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# A checkpoint served by sum.golang.org (a real C2SP tlog-checkpoint), and its key.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
    f"{DASH} sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz"
    "7l/R3cVtYspg3dxXABkGZZKdsQ8=\n"
)


def sig_line(name: str, raw: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(raw).decode()}\n"


# --- Known vectors.


def test_go_reference_vector() -> None:
    signer = NoteSigner.from_skey(GO_SKEY)
    assert signer.vkey == GO_VKEY
    assert signer.skey == GO_SKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.sign(GO_TEXT) == GO_NOTE
    verified = open_note(GO_NOTE, [NoteVerifier.from_vkey(GO_VKEY)])
    assert verified == VerifiedNote(GO_TEXT, ("PeterNeumann",))


def test_key_id_by_hand() -> None:
    raw = base64.b64decode(GO_VKEY.split("+", 2)[2])
    assert raw[0] == 0x01
    assert len(raw) == 33
    by_hand = hashlib.sha256(b"PeterNeumann" + b"\x0a" + b"\x01" + raw[1:]).digest()[:4]
    assert by_hand.hex() == "c74f20a3"
    assert key_id("PeterNeumann", raw[1:]) == by_hand
    assert NoteVerifier.from_vkey(GO_VKEY).key_id == by_hand


def test_spec_example() -> None:
    verifier = NoteVerifier.from_vkey(SPEC_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.vkey == SPEC_VKEY
    assert open_note(SPEC_NOTE, [verifier]).text == "This is an example message.\n"


def test_sumdb_checkpoint() -> None:
    verifier = NoteVerifier.from_vkey(SUMDB_VKEY)  # its base64 contains "+"
    cp = open_checkpoint(SUMDB_NOTE, [verifier], origin="go.sum database tree")
    assert cp.size == 65209736
    assert base64.b64encode(cp.root_hash).decode() == "5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo="
    assert cp.body() == SUMDB_NOTE.split("\n\n", maxsplit=1)[0] + "\n"
    with pytest.raises(VerificationError):
        open_checkpoint(SUMDB_NOTE, [verifier], origin="example.com/log")
    with pytest.raises(BadSignature):
        open_checkpoint(SUMDB_NOTE.replace("65209736", "65209737"), [verifier])


# --- Round trips and multiple signers.


def test_round_trip() -> None:
    signer = NoteSigner.generate("registry.example/log")
    verifier = NoteVerifier.from_vkey(signer.vkey)
    assert verifier.vkey == signer.vkey
    assert verifier.key_id == signer.key_id
    assert NoteSigner.from_skey(signer.skey).vkey == signer.vkey
    text = "hello\n\nworld, with a blank line\n"
    note = signer.sign(text)
    assert note.startswith(text + "\n" + DASH + " registry.example/log ")
    assert open_note(note, [verifier]) == VerifiedNote(text, ("registry.example/log",))


def test_several_signatures_and_unknown_keys() -> None:
    log = NoteSigner.generate("log.example")
    witness = NoteSigner.generate("witness.example")
    stranger = NoteSigner.generate("stranger.example")
    text = "some text\n"
    note = log.sign(text) + witness.sign(text).split("\n\n", 1)[1]
    note += stranger.sign(text).split("\n\n", 1)[1]
    both = [NoteVerifier.from_vkey(log.vkey), NoteVerifier.from_vkey(witness.vkey)]
    assert open_note(note, both).names == ("log.example", "witness.example")
    assert open_note(note, both[1:]).names == ("witness.example",)
    # An unknown line that would not even verify is ignored...
    junk = note + sig_line("unknown.example", b"\x00\x01\x02\x03" + b"x" * 64)
    assert open_note(junk, both[:1]).names == ("log.example",)
    # ...but a note signed by no trusted key is refused.
    with pytest.raises(BadSignature):
        open_note(note, [NoteVerifier.from_vkey(NoteSigner.generate("x").vkey)])
    with pytest.raises(BadSignature):
        open_note(note, [])


# --- Failures.


def test_wrong_key() -> None:
    # Same name, other key: the key ID differs, the line is unknown, nothing verified.
    other = NoteVerifier("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(BadSignature):
        open_note(GO_NOTE, [other])
    # Same key, other name: likewise.
    renamed = NoteVerifier("SomeoneElse", NoteVerifier.from_vkey(GO_VKEY).public_key)
    with pytest.raises(BadSignature):
        open_note(GO_NOTE, [renamed])


def test_tampered_text() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    for tampered in (
        GO_NOTE.replace("answer", "answers"),
        GO_NOTE.replace("problem,", "problem;"),
        "X" + GO_NOTE,
    ):
        with pytest.raises(BadSignature):
            open_note(tampered, [verifier])


def test_tampered_signature() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    raw = bytearray(base64.b64decode(GO_SIG.split(" ")[2]))
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        with pytest.raises(BadSignature):
            open_note(GO_TEXT + "\n" + sig_line("PeterNeumann", bytes(bad)), [verifier])
    # A known key's bad signature fails even next to a good one.
    bad = bytearray(raw)
    bad[10] ^= 0x80
    with pytest.raises(BadSignature):
        open_note(GO_NOTE + sig_line("PeterNeumann", bytes(bad)), [verifier])


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT + GO_SIG,  # no blank line
        GO_NOTE[:-1],  # no final newline
        GO_TEXT + "\n",  # no signatures
        GO_NOTE.replace(DASH, "-"),  # hyphen, not em dash
        GO_NOTE.replace(DASH + " ", DASH),  # no space after the dash
        GO_NOTE.replace("PeterNeumann ", "PeterNeumann  "),  # double space
        GO_NOTE.replace("PeterNeumann ", "Peter+Neumann "),  # "+" in name
        GO_NOTE.replace("AM=\n", "AM\n"),  # bad padding
        GO_NOTE.replace("x08go", "x08g!"),  # not base64
        GO_TEXT + "\n" + sig_line("PeterNeumann", b"\xc7\x4f\x20\xa3"),  # no signature bytes
        "a\tb\n" + "\n" + GO_SIG,  # control character in the text
        GO_NOTE + GO_SIG * 100,  # too many signatures
    ],
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(VerificationError) as info:
        open_note(note, [NoteVerifier.from_vkey(GO_VKEY)])
    assert info.type is VerificationError


@pytest.mark.parametrize(
    "vkey",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # uppercase id
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # short id
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # truncated
        "PeterNeumann+c74f20a3+AhpcNkGHFDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # bad base64
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # empty name
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space
    ],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(VerificationError):
        NoteVerifier.from_vkey(vkey)


def test_other_algorithm_is_refused() -> None:
    raw = base64.b64decode(GO_VKEY.split("+", 2)[2])
    other = base64.b64encode(b"\x02" + raw[1:]).decode()
    with pytest.raises(VerificationError):
        NoteVerifier.from_vkey(f"PeterNeumann+c74f20a3+{other}")


def test_invalid_names_and_texts_are_refused_by_the_signer() -> None:
    key = Ed25519PrivateKey.generate()
    for name in ("", "a b", "a+b", "a\nb", "a\u00a0b"):
        with pytest.raises(ValueError, match="invalid key name"):
            NoteSigner(name, key)
    signer = NoteSigner("ok", key)
    for text in ("no newline", "bell\x07\n"):
        with pytest.raises(ValueError, match="note text"):
            signer.sign(text)
    for skey in ("", GO_VKEY, GO_SKEY.replace("c74f20a3", "c74f20a4"), GO_SKEY[:-2]):
        with pytest.raises(ValueError):
            NoteSigner.from_skey(skey)


# --- Checkpoints.

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_B64 = base64.urlsafe_b64encode(bytes([0xFF] * 32)).decode()


def test_checkpoint_round_trip() -> None:
    signer = NoteSigner.generate("registry.example/log")
    verifier = NoteVerifier.from_vkey(signer.vkey)
    for size in (0, 1, 12345, 2**64 - 1):
        cp = Checkpoint("registry.example/log", size, ROOT)
        assert cp.body() == f"registry.example/log\n{size}\n{ROOT_B64}\n"
        assert Checkpoint.parse(cp.body()) == cp
        note = sign_checkpoint(cp, signer)
        assert open_checkpoint(note, [verifier]) == cp
        assert open_checkpoint(note, [verifier], origin="registry.example/log") == cp
        with pytest.raises(VerificationError):
            open_checkpoint(note, [verifier], origin="registry.example/other")
        with pytest.raises(BadSignature):
            open_checkpoint(note.replace(f"\n{size}\n", f"\n{size + 1}\n"), [verifier])


def test_checkpoint_body_refuses_invalid_fields() -> None:
    for cp in (
        Checkpoint("", 1, ROOT),
        Checkpoint("a\nb", 1, ROOT),
        Checkpoint("o", -1, ROOT),
        Checkpoint("o", 1, ROOT[:31]),
    ):
        with pytest.raises(ValueError, match="invalid checkpoint"):
            cp.body()


@pytest.mark.parametrize(
    "body",
    [
        f"origin\n5\n{ROOT_B64}",  # no final newline
        f"origin\n5\n{ROOT_B64}\nextension line\n",  # extension lines refused
        f"origin\n5\n{ROOT_B64}\n\n",  # trailing blank line
        "origin\n5\n",  # missing root
        f"\n5\n{ROOT_B64}\n",  # empty origin
        f"origin\n05\n{ROOT_B64}\n",  # leading zero
        f"origin\n00\n{ROOT_B64}\n",
        f"origin\n+5\n{ROOT_B64}\n",
        f"origin\n-5\n{ROOT_B64}\n",
        f"origin\n 5\n{ROOT_B64}\n",
        f"origin\n5 \n{ROOT_B64}\n",
        f"origin\n5_0\n{ROOT_B64}\n",
        f"origin\n\u0665\n{ROOT_B64}\n",  # non-ASCII digit
        f"origin\n\n{ROOT_B64}\n",
        f"origin\n{2**64}\n{ROOT_B64}\n",
        f"origin\nfive\n{ROOT_B64}\n",
        f"origin\r\n5\n{ROOT_B64}\n",
        f"origin\n5\n{ROOT_B64[:-1]}\n",  # bad padding
        f"origin\n5\n{ROOT_B64[:-2]}9=\n",  # non-canonical base64 (nonzero pad bits)
        f"origin\n5\n{ROOT_B64.replace('A', '!')}\n",
        f"origin\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31 bytes
        f"origin\n5\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33 bytes
        f"origin\n5\n{URLSAFE_B64}\n",  # URL alphabet
    ],
)
def test_checkpoint_parse_is_strict(body: str) -> None:
    with pytest.raises(VerificationError):
        Checkpoint.parse(body)
