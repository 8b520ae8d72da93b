"""The gateway's signed decision log, without a server: the canonical form of
a record and a batch, the chain across flushes and restarts, batching by
count and time from many threads, and every way a line can be tampered with
(docs/local-checker.md, docs/adr/0025-decision-records-by-the-gateway.md)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dpa_client import (
    ALLOWED,
    DENIED,
    DecisionReceipt,
    DecisionRecorder,
    ProcessingDecision,
    ProcessingReason,
    SccModule,
    TransferDecision,
    TransferReason,
    errors,
    safeguard,
    verify_decision_log,
)
from dpa_client._decision_batch import BATCH_TYPE, plain, record_document, seal
from dpa_client.cli import main as dpa_verify
from dpa_client.decision_log import Head, create_key, load_key
from dpa_client.documents import canonical, digest
from dpa_client.transparency.note import NoteSigner
from dpa_registry_api.v1 import transfers_pb2 as tpb
from tests.test_transfers_api import eventually

CHECKPOINT = (
    "7plus.one/dpa-registry\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 sig\n"
)
AT = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z
REQUEST = {
    "controller_id": "acme",
    "subprocessor_id": "llmcorp",
    "data_categories": ["user.contact.email"],
    "purpose": "essential.service",
}


def transfer(revision: int = 12, *, allowed: bool = True, local: bool = True) -> TransferDecision:
    return TransferDecision(
        verdict=ALLOWED if allowed else DENIED,
        legal_bases=("adequacy: United States; DPF certified",) if allowed else (),
        reasons=()
        if allowed
        else (TransferReason(tpb.TRANSFER_DENIAL_CODE_TIA_MISSING, "no TIA on record"),),
        revision=revision,
        transfer_date="2026-01-01",
        local=local,
    )


def processing(revision: int = 13) -> ProcessingDecision:
    return ProcessingDecision(
        outcome=2,
        reasons=(ProcessingReason("OPERATION_INSTRUCTED", False, "no TRAIN_MODEL", 3, 2, ""),),
        revision=revision,
        agreement="controllers/acme/agreements/3",
        instruction="controllers/acme/instructions/2",
        local=True,
    )


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate("gateway.example/decisions")


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _log(path: Path, signer: NoteSigner, batches: int, per_batch: int = 2) -> None:
    with DecisionRecorder(path, signer, batch_size=per_batch, interval=3600) as recorder:
        for i in range(batches * per_batch):
            recorder.record({**REQUEST, "n": i}, transfer(revision=10 + i))


# --- the canonical form ------------------------------------------------------


def test_a_transfer_record_is_the_rfc8785_form_of_the_answer() -> None:
    answer = transfer(allowed=False, local=False)._replace(
        receipt=DecisionReceipt(12, CHECKPOINT, ())
    )
    record = canonical(record_document(REQUEST, answer, AT))
    assert record == (
        b'{"checkpoint":"7plus.one/dpa-registry\\n12\\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='
        b'\\n\\n\xe2\x80\x94 sig\\n","decided_at":"2026-01-01T00:00:00.250000Z","kind":"transfer",'
        b'"legal_bases":[],"local":false,"reasons":[{"code":"TIA_MISSING","message":'
        b'"no TIA on record"}],"request":{"controller_id":"acme","data_categories":'
        b'["user.contact.email"],"purpose":"essential.service","subprocessor_id":"llmcorp"},'
        b'"revision":12,"transfer_date":"2026-01-01","verdict":"DENIED"}'
    )
    assert record == rfc8785.dumps(json.loads(record))


def test_a_processing_record_keeps_every_rule_evaluated() -> None:
    doc = json.loads(canonical(record_document({"controller_id": "acme"}, processing(), AT)))
    assert doc == {
        "agreement": "controllers/acme/agreements/3",
        "checkpoint": None,
        "decided_at": "2026-01-01T00:00:00.250000Z",
        "instruction": "controllers/acme/instructions/2",
        "kind": "processing",
        "legal_bases": [],
        "local": True,
        "reasons": [
            {
                "agreement_version": 3,
                "code": "OPERATION_INSTRUCTED",
                "instruction_version": 2,
                "message": "no TRAIN_MODEL",
                "satisfied": False,
                "subject": "",
            }
        ],
        "request": {"controller_id": "acme"},
        "revision": 13,
        "verdict": "DENIED",
    }


def test_request_values_become_plain_json() -> None:
    sg = safeguard(
        "IN", "SCC", scc_module=SccModule.PROCESSOR_TO_PROCESSOR, signed=date(2024, 5, 2)
    )
    value: Any = plain(
        {
            "transfer_date": date(2026, 1, 2),
            "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "safeguards": (sg,),
            "huge": 2**60,
            "ratio": float("nan"),
            "raw": b"\x00\x01",
            "module": SccModule.PROCESSOR_TO_PROCESSOR,
        }
    )
    assert value["transfer_date"] == "2026-01-02"
    assert value["at"] == "2026-01-02T03:04:05+00:00"
    assert value["huge"] == str(2**60) and value["ratio"] == "nan" and value["raw"] == "AAE="
    assert value["module"] == "PROCESSOR_TO_PROCESSOR"
    (listed,) = value["safeguards"]
    assert listed["destination_country"] == "IN" and listed["signed_date"] == "2024-05-02"
    assert canonical(value) == rfc8785.dumps(value)


def test_a_batch_line_is_canonical_signs_its_records_and_chains(signer: NoteSigner) -> None:
    records = [canonical(record_document(REQUEST, transfer(revision=r), AT)) for r in (14, 12)]
    line, head = seal(records, [14, 12], signer, None, AT)
    obj = json.loads(line)
    assert rfc8785.dumps(obj) == line
    batch = obj["batch"]
    assert batch == {
        "type": BATCH_TYPE,
        "signer": signer.vkey,
        "sequence": 0,
        "previous": None,
        "records": [digest(r) for r in records],
        "lowest_revision": 12,
        "highest_revision": 14,
        "sealed_at": "2026-01-01T00:00:00.250000Z",
    }
    signer.verifier.public_key.verify(
        base64.b64decode(obj["signature"]), rfc8785.dumps(batch)
    )  # raises if it does not verify
    assert [rfc8785.dumps(r) for r in obj["records"]] == records
    assert head == Head(0, digest(rfc8785.dumps(batch)))
    nxt, second = seal(records[:1], [14], signer, head, AT)
    assert json.loads(nxt)["batch"]["previous"] == head.digest and second.sequence == 1
    assert Head.parse(str(second)) == second


# --- the recorder ------------------------------------------------------------


def test_the_chain_continues_across_flushes_restarts_and_a_new_key(
    tmp_path: Path, signer: NoteSigner
) -> None:
    path = tmp_path / "decisions.jsonl"
    with DecisionRecorder(path, signer, batch_size=3, interval=3600) as recorder:
        for i in range(7):
            recorder.record(REQUEST, transfer(revision=i))
        assert recorder.flush() == recorder.head and recorder.pending == 0
        recorder.record(REQUEST, processing(revision=7))
    rotated = NoteSigner.generate("gateway.example/decisions")
    with DecisionRecorder(path, rotated) as recorder:  # the gateway restarted
        assert recorder.head is not None and recorder.head.sequence == 3
        recorder.record(REQUEST, transfer(revision=8))
    report = verify_decision_log(path, [signer.vkey, rotated.vkey])
    assert [b.sequence for b in report.batches] == [0, 1, 2, 3, 4]
    assert [len(b.records) for b in report.batches] == [3, 3, 1, 1, 1]
    assert [r.revision for r in report.records] == list(range(9))
    assert [r.kind for r in report.records][6:8] == ["transfer", "processing"]
    assert report.signers == (signer.vkey, rotated.vkey)
    with pytest.raises(errors.TamperedDecisionLog, match="line 5: batch 4 is signed by"):
        verify_decision_log(path, [signer.vkey])


def test_a_batch_is_written_every_n_records_and_every_interval(
    tmp_path: Path, signer: NoteSigner
) -> None:
    by_count = DecisionRecorder(tmp_path / "count.jsonl", signer, batch_size=10, interval=3600)
    for i in range(25):
        by_count.record(REQUEST, transfer(revision=i))
    eventually(lambda: by_count.pending < 10)
    assert by_count.head is not None
    by_count.close()
    assert len(verify_decision_log(tmp_path / "count.jsonl", [signer.vkey]).records) == 25
    by_time = DecisionRecorder(tmp_path / "time.jsonl", signer, batch_size=1000, interval=0.05)
    by_time.record(REQUEST, transfer())
    eventually(lambda: by_time.head is not None)
    assert len(verify_decision_log(tmp_path / "time.jsonl", [signer.vkey]).records) == 1
    by_time.close()


def test_records_from_many_threads_land_once_each(tmp_path: Path, signer: NoteSigner) -> None:
    path = tmp_path / "decisions.jsonl"
    recorder = DecisionRecorder(path, signer, batch_size=64, interval=0.01)

    def gateway_thread(t: int) -> None:
        for i in range(1500):
            recorder.record({"thread": t, "i": i}, transfer(revision=i))

    threads = [threading.Thread(target=gateway_thread, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    report = verify_decision_log(path, [signer.vkey])
    seen = [(r.content["request"]["thread"], r.content["request"]["i"]) for r in report.records]
    assert sorted(seen) == [(t, i) for t in range(4) for i in range(1500)]
    assert len(report.batches) >= 6000 // 64


def test_an_unfinished_last_line_is_cut_away_on_reopening(
    tmp_path: Path, signer: NoteSigner
) -> None:
    path = tmp_path / "decisions.jsonl"
    _log(path, signer, batches=2)
    with path.open("ab") as f:  # a crash in the middle of writing batch 2
        f.write(_lines(path)[1][:50])
    with DecisionRecorder(path, signer) as recorder:
        assert recorder.head is not None and recorder.head.sequence == 1
        recorder.record(REQUEST, transfer())
    assert [b.sequence for b in verify_decision_log(path, [signer.vkey]).batches] == [0, 1, 2]


def test_one_recorder_per_file(tmp_path: Path, signer: NoteSigner) -> None:
    with (
        DecisionRecorder(tmp_path / "d.jsonl", signer),
        pytest.raises(BlockingIOError, match="open in another recorder"),
    ):
        DecisionRecorder(tmp_path / "d.jsonl", signer)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_write_keeps_its_records(signer: NoteSigner) -> None:
    recorder = DecisionRecorder("/dev/full", signer, interval=3600)  # every write: ENOSPC
    recorder.record(REQUEST, transfer())
    with pytest.raises(OSError):
        recorder.flush()
    assert recorder.pending == 1 and recorder.head is None
    with pytest.raises(OSError):
        recorder.close()


class _Answers:
    """Answers as a checker gives them (what ``recording`` wraps)."""

    def check_transfer(self, controller_id: str, **request: Any) -> TransferDecision:
        return transfer()

    def check_processing(self, controller_id: str, **request: Any) -> ProcessingDecision:
        return processing()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_log_that_cannot_be_written_stops_recording_at_its_bound(signer: NoteSigner) -> None:
    """Records kept across failed writes are bounded: past ``max_pending``
    ``record`` (and a check made through ``recording``) raises, saying why,
    and what was kept is still kept."""
    recorder = DecisionRecorder("/dev/full", signer, batch_size=2, interval=3600, max_pending=3)
    checks = recorder.recording(_Answers())  # type: ignore[arg-type]
    for _ in range(3):
        recorder.record(REQUEST, transfer())
    with pytest.raises(OSError):
        recorder.flush()
    with pytest.raises(errors.DecisionLogBacklog, match="No space left") as refused:
        checks.check_transfer("acme", purpose="essential.service", data_categories=["user"])
    assert refused.value.pending == 3 and recorder.pending == 3
    with pytest.raises(OSError):
        recorder.close()
    with pytest.raises(ValueError, match="max_pending"):
        DecisionRecorder("/dev/full", signer, batch_size=10, max_pending=5)


def test_the_key_is_the_gateways_own_ed25519_key(tmp_path: Path) -> None:
    created = create_key(tmp_path / "gw.pem", "gateway.example/decisions")
    assert (tmp_path / "gw.pem").stat().st_mode & 0o777 == 0o600
    assert load_key(tmp_path / "gw.pem", "gateway.example/decisions").vkey == created.vkey
    with pytest.raises(FileExistsError):
        create_key(tmp_path / "gw.pem", "gateway.example/decisions")
    ecdsa = ec.generate_private_key(ec.SECP256R1())  # like the mTLS keys: refused
    (tmp_path / "mtls.key").write_bytes(
        ecdsa.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not an Ed25519"):
        load_key(tmp_path / "mtls.key", "gateway.example/decisions")


# --- tampering -----------------------------------------------------------------


def _edit_record(lines: list[bytes]) -> list[bytes]:
    obj = json.loads(lines[1])
    obj["records"][1]["verdict"] = "ALLOWED" if obj["records"][1]["verdict"] == "DENIED" else "X"
    return [lines[0], rfc8785.dumps(obj), *lines[2:]]


def _edit_batch(lines: list[bytes]) -> list[bytes]:
    obj = json.loads(lines[1])
    obj["batch"]["highest_revision"] += 1
    return [lines[0], rfc8785.dumps(obj), *lines[2:]]


def _swap_records(lines: list[bytes]) -> list[bytes]:
    obj = json.loads(lines[2])
    obj["records"].reverse()
    return [*lines[:2], rfc8785.dumps(obj), *lines[3:]]


def _drop_record(lines: list[bytes]) -> list[bytes]:
    obj = json.loads(lines[2])
    obj["records"].pop()
    return [*lines[:2], rfc8785.dumps(obj), *lines[3:]]


def _reformat(lines: list[bytes]) -> list[bytes]:
    return [lines[0], json.dumps(json.loads(lines[1])).encode(), *lines[2:]]


TAMPERING: dict[str, tuple[Callable[[list[bytes]], list[bytes]], str]] = {
    "a record edited": (
        _edit_record,
        "line 2: record 1 of batch 1 is not the one the batch signed",
    ),
    "a batch edited": (_edit_batch, "line 2: the signature of batch 1 does not verify"),
    "records swapped": (_swap_records, "line 3: record 0 of batch 2 is not the one"),
    "a record dropped": (_drop_record, "line 3: batch 2 signed 2 records, the line holds 1"),
    "a line reformatted": (_reformat, "line 2: not in RFC 8785 canonical form"),
    "a line cut": (lambda ls: [ls[0], ls[1][:-9], *ls[2:]], "line 2: not JSON"),
    "a batch dropped": (
        lambda ls: [ls[0], *ls[2:]],
        "line 2: holds batch 2, but batch 1 is missing",
    ),
    "two dropped": (
        lambda ls: [ls[0], ls[3]],
        "line 2: holds batch 3, but batches 1-2 are missing",
    ),
    "the first dropped": (lambda ls: ls[1:], "line 1: holds batch 1, but batch 0 is missing"),
    "lines swapped": (
        lambda ls: [ls[0], ls[2], ls[1], ls[3]],
        "line 2: holds batch 2 where batch 1 belongs; batch 1 is at line 3",
    ),
    "a line copied": (lambda ls: [*ls[:3], ls[1], ls[3]], "line 4: repeats batch 1 (line 2)"),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_a_tampered_log_fails_at_the_line(tmp_path: Path, signer: NoteSigner, how: str) -> None:
    path = tmp_path / "decisions.jsonl"
    _log(path, signer, batches=4)
    verify_decision_log(path, [signer.vkey])
    tamper, message = TAMPERING[how]
    _write(path, tamper(_lines(path)))
    with pytest.raises(errors.TamperedDecisionLog, match="^" + re.escape(message)):
        verify_decision_log(path, [signer.vkey])


def test_a_batch_from_another_chain_does_not_follow(tmp_path: Path, signer: NoteSigner) -> None:
    ours, theirs = tmp_path / "ours.jsonl", tmp_path / "theirs.jsonl"
    _log(ours, signer, batches=3)
    _log(theirs, signer, batches=3)  # same key, same sequence numbers, another chain
    _write(ours, [*_lines(ours)[:2], _lines(theirs)[2]])
    with pytest.raises(errors.TamperedDecisionLog, match="line 3: batch 2 does not follow batch 1"):
        verify_decision_log(ours, [signer.vkey])


def test_batches_cut_from_the_end_show_against_a_trusted_head(
    tmp_path: Path, signer: NoteSigner
) -> None:
    path = tmp_path / "decisions.jsonl"
    _log(path, signer, batches=3)
    head = verify_decision_log(path, [signer.vkey]).head
    assert head is not None and head.sequence == 2
    _write(path, _lines(path)[:2])
    assert len(verify_decision_log(path, [signer.vkey]).batches) == 2  # alone, undetectable
    with pytest.raises(errors.TamperedDecisionLog, match="ends at batch 1, before the trusted"):
        verify_decision_log(path, [signer.vkey], trusted_head=head)
    other = tmp_path / "other.jsonl"
    _log(other, signer, batches=3)
    with pytest.raises(errors.TamperedDecisionLog, match="line 1: batch 0 is not the trusted"):
        verify_decision_log(other, [signer.vkey], trusted_head=Head(0, head.digest))


# --- the command line ----------------------------------------------------------


def test_dpa_verify_decisions(
    tmp_path: Path, signer: NoteSigner, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "decisions.jsonl"
    with DecisionRecorder(path, signer, batch_size=2) as recorder:
        recorder.record(REQUEST, transfer(revision=5))
        recorder.record(REQUEST, transfer(revision=6, allowed=False, local=False))
        recorder.record({"controller_id": "acme"}, processing(revision=7))
        head = recorder.flush()
    assert dpa_verify(["decisions", str(path), "--vkey", signer.vkey, "--head", str(head)]) == 0
    out = capsys.readouterr().out
    assert "OK: 3 decisions in 2 signed batches" in out
    assert (
        "transfer: 2 (1 allowed, 1 denied)" in out and "processing: 1 (0 allowed, 1 denied)" in out
    )
    assert "2 decided locally, 1 by the registry" in out and "registry revisions 5-7" in out
    assert f"head: {head}" in out
    _write(path, _reformat(_lines(path)))
    assert dpa_verify(["decisions", str(path), "--vkey", signer.vkey]) == 1
    assert "FAILED: line 2: not in RFC 8785 canonical form" in capsys.readouterr().err
