"""A gateway records the decisions of a real LocalChecker and of the registry
itself (real server, mTLS, both backends), and the log verifies offline: every
record says what was answered, and a record made with a receipt names a
signed checkpoint of the processor's audit log that covers its revision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dpa_client import DecisionRecorder, LocalChecker, verify_decision_log
from dpa_client.decision_log import create_key
from dpa_client.transparency import merkle
from dpa_client.transparency.note import NoteVerifier, open_checkpoint
from registry import db, keys
from registry.audit import store as audit_store
from tests.harness import Harness
from tests.test_transfers_api import World, build_world

EMAIL = ["user.contact.email"]


@pytest.fixture
def world(registry: Harness) -> World:
    return build_world(registry)


@pytest.fixture
def checker(world: World) -> Iterator[LocalChecker]:
    with LocalChecker(world.checker, heartbeat=0.2, max_staleness=30) as c:
        yield c


def test_a_gateways_decisions_verify_offline_with_their_checkpoints(
    world: World, checker: LocalChecker, registry: Harness, tmp_path: Path
) -> None:
    signer = create_key(tmp_path / "gateway.pem", "gateway.example/decisions")
    path = tmp_path / "decisions.jsonl"
    answers: list[Any] = []
    # Batches by size alone (the timer would cut one early on a slow machine).
    with DecisionRecorder(path, signer, batch_size=3, interval=3600) as recorder:
        local = recorder.recording(checker)
        remote = recorder.recording(world.checker)
        answers += [
            local.check_transfer(
                "acme", subprocessor_id="euhost", data_categories=EMAIL,
                purpose="essential.service", transfer_date=world.on,
            ),
            local.check_transfer(
                "acme", subprocessor_id="jphost", data_categories=["user.financial"],
                purpose="essential.service", transfer_date=world.on,
            ),
            local.check_processing(
                "acme", purpose="train_ai_system", data_categories=["user.contact"],
                operation="TRAIN_MODEL",
            ),
            remote.check_transfer(
                "acme", subprocessor_id="euhost", data_categories=EMAIL,
                purpose="essential.service", transfer_date=world.on,
            ),
            local.check_transfer(
                "acme", subprocessor_id="euhost", data_categories=EMAIL,
                purpose="essential.service", transfer_date=world.on, receipt=True,
            ),
        ]  # fmt: skip
        # The hook a LocalChecker can take (recorder=): its own methods,
        # recorded, so every caller of this checker is covered.
        recorded = recorder.recording(checker)
        checker.check_processing = recorded.check_processing  # type: ignore[method-assign]
        answers.append(
            checker.check_processing(
                "initech", purpose="essential.service", data_categories=["user.contact"],
                operation="STORE", country="EE", receipt=True,
            )
        )  # fmt: skip
        # And a record made by hand, as a caller that decides elsewhere would.
        world.staff.terminate_agreement("globex", reason="the log moves on")
        late = world.checker.check_transfer(
            "initech", subprocessor_id="euhost", data_categories=EMAIL, purpose="essential.service"
        )
        recorder.record({"controller_id": "initech", "subprocessor_id": "euhost"}, late)
        answers.append(late)

    report = verify_decision_log(path, [signer.vkey])
    records = report.records
    assert len(records) == len(answers) == 7 and len(report.batches) == 3
    expected = [
        ("transfer", True, True),
        ("transfer", False, True),
        ("processing", False, True),
        ("transfer", True, False),
        ("transfer", True, True),
        ("processing", True, True),
        ("transfer", True, False),
    ]
    assert [(r.kind, r.verdict == "ALLOWED", r.local) for r in records] == expected
    for record, answer in zip(records, answers, strict=True):
        assert record.revision == answer.revision
    assert records[0].content["request"] == {
        "controller_id": "acme",
        "subprocessor_id": "euhost",
        "data_categories": EMAIL,
        "purpose": "essential.service",
        "transfer_date": world.on.isoformat(),
    }
    assert records[0].content["legal_bases"] == list(answers[0].legal_bases)
    assert [r["code"] for r in records[1].content["reasons"]] == [
        r.code_name for r in answers[1].reasons
    ]
    assert records[2].content["agreement"] == "controllers/acme/agreements/1"
    assert records[6].revision > records[5].revision

    # The receipts: the auditor opens each checkpoint with the processor's
    # pinned key, and its own copy of the audit log proves the checkpoint's
    # tree (and so the state each decision was taken on, a prefix of it).
    vkey = keys.load(registry.pki.signing_key, "7plus.one/dpa-registry").vkey
    with_receipt = [r for r in records if r.checkpoint is not None]
    # The fifth and sixth answers asked for receipts. (Where they sit in
    # their batch depends on when the writer thread woke: a flush takes
    # everything buffered by then.)
    assert [i for i, r in enumerate(records) if r.checkpoint is not None] == [4, 5]
    for record in with_receipt:
        checkpoint = open_checkpoint(record.checkpoint or "", [NoteVerifier.from_vkey(vkey)])
        assert checkpoint.size >= record.revision
        with db.database.connection_context():
            bodies = audit_store.bodies(list(range(checkpoint.size)))
        leaves = [bodies[i] for i in range(checkpoint.size)]
        assert merkle.root_from_leaves(leaves) == checkpoint.root_hash
