"""The offline verifier against an attacker with database access (issue 11, part 7).

(a) changed entry bytes with rewritten leaf and node hashes: the first entry no
signed checkpoint vouches for; (b) a truncation with the head moved back is a
rollback; (c) exports checked against a trusted checkpoint; (d) the log origin
cannot change. Each case asserts the index and ``dpa-verify``'s exit status.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpa_client import cli, errors
from dpa_client.audit import EXPORT_FORMAT, LogVerifier, RollbackError, TruncatedLog
from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, NoteSigner, sign_checkpoint
from registry import db, keys
from registry import errors as registry_errors
from registry.audit import export, log, store
from registry.config import Config
from tests import factories, harness
from tests.harness import Harness

ORIGIN = Config().log_origin


def vkey(h: Harness) -> str:
    return keys.load(h.pki.signing_key, ORIGIN).vkey


# -- the pure core: no server, no database --------------------------------------


def _body(seq: int, actor: str = "spiffe://7plus.one/staff/admin") -> bytes:
    return json.dumps({"seq": seq, "actor": actor}, separators=(",", ":")).encode()


def _export(
    signer: NoteSigner, bodies: list[bytes], sizes: list[int], hint_bodies: list[bytes]
) -> dict[str, Any]:
    """An export signed over ``bodies`` whose entries and node hints are attacker-chosen."""
    honest = merkle.MemoryNodes.from_leaf_hashes([merkle.leaf_hash(b) for b in bodies])
    notes = [
        sign_checkpoint(Checkpoint(ORIGIN, s, merkle.root_hash(s, honest)), signer) for s in sizes
    ]
    hints = merkle.MemoryNodes.from_leaf_hashes([merkle.leaf_hash(b) for b in hint_bodies])
    return {
        "format": EXPORT_FORMAT,
        "checkpoints": notes,
        "entries": [
            {"index": i, "body": base64.b64encode(b).decode()} for i, b in enumerate(bodies)
        ],
        "nodes": [[lv, ix, base64.b64encode(h).decode()] for (lv, ix), h in hints.nodes.items()],
    }


SIGNER = NoteSigner.generate(ORIGIN)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 70),
    data=st.data(),
    hints=st.sampled_from(["honest", "leaf rewritten", "all rewritten", "none"]),
)
def test_named_index_is_the_first_unvouched_one(n: int, data: st.DataObject, hints: str) -> None:
    bad = data.draw(st.integers(0, n - 1), "bad")
    sizes = sorted(set(data.draw(st.lists(st.integers(1, n), max_size=5), "sizes")) | {n})
    bodies = [_body(i) for i in range(n)]
    tampered = list(bodies)
    tampered[bad] = _body(bad, "spiffe://7plus.one/staff/mallory")
    exp = _export(SIGNER, bodies, sizes, bodies)
    exp["entries"][bad]["body"] = base64.b64encode(tampered[bad]).decode()
    if hints == "leaf rewritten":
        leaf = base64.b64encode(merkle.leaf_hash(tampered[bad])).decode()
        exp["nodes"] = [[lv, ix, leaf if (lv, ix) == (0, bad) else h] for lv, ix, h in exp["nodes"]]
    elif hints == "all rewritten":
        exp["nodes"] = _export(SIGNER, tampered, [n], tampered)["nodes"]
    elif hints == "none":
        exp["nodes"] = []
    with pytest.raises(errors.TamperedEntry) as err:
        LogVerifier([SIGNER.vkey], ORIGIN).verify_export(exp)
    vouched = max([s for s in sizes if s <= bad], default=0)
    # Never after the changed entry, never before what a checkpoint proves ...
    assert vouched <= err.value.index <= bad
    # ... and exact when a checkpoint ends right before it or the hints are honest.
    if vouched == bad or hints == "honest":
        assert err.value.index == bad
    if hints == "leaf rewritten" and bad % 2 == 0 and bad + 1 < n:
        assert err.value.index == bad  # its right sibling's stored hash still proves it


def test_forged_hints_are_never_trusted() -> None:
    bodies = [_body(i) for i in range(16)]
    exp = _export(SIGNER, bodies, [16], bodies)
    exp["nodes"] = [[lv, ix, base64.b64encode(b"\x00" * 32).decode()] for lv, ix, _ in exp["nodes"]]
    assert LogVerifier([SIGNER.vkey], ORIGIN).verify_export(exp).entries_verified == 16
    exp["entries"][9]["body"] = base64.b64encode(_body(9, "x")).decode()
    with pytest.raises(errors.TamperedEntry) as err:
        LogVerifier([SIGNER.vkey], ORIGIN).verify_export(exp)
    assert err.value.index == 0  # nothing proves any entry of the only checkpoint


# -- against a real registry -----------------------------------------------------


def _drop_guards() -> None:
    if db.is_postgres():
        for table in ("audit_event", "merkle_node", "checkpoint"):
            db.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    else:
        for table in ("audit_event", "merkle_node", "checkpoint"):
            for op in ("update", "delete"):
                db.execute(f"DROP TRIGGER {table}_no_{op}")


def _seed(h: Harness, n: int, *, checkpoint_each: bool, prefix: str = "c") -> list[int]:
    sizes = []
    for i in range(n):
        factories.controller(h.staff, f"{prefix}{i}")
        if checkpoint_each:
            sizes.append(h.staff.checkpoint().size)
    sizes.append(h.staff.checkpoint().size)
    return sizes


def _rewrite_event_and_tree(seq: int) -> None:
    """Changes entry ``seq`` and rewrites every stored hash to match it."""
    row = store.AuditEvent.get(store.AuditEvent.seq == seq)
    body = bytes(row.body).replace(b'"actor":"spiffe://', b'"actor":"spiffe:/x/', 1)
    assert body != bytes(row.body)
    store.AuditEvent.update(body=body).where(store.AuditEvent.seq == seq).execute()
    bodies = [bytes(r.body) for r in store.AuditEvent.select().order_by(store.AuditEvent.seq)]
    tree = merkle.MemoryNodes.from_leaf_hashes([merkle.leaf_hash(b) for b in bodies])
    for (level, index), digest in tree.nodes.items():
        store.MerkleNode.update(hash=digest).where(
            store.MerkleNode.key == store.node_key(level, index)
        ).execute()


def _verify_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _export_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    export.write(path)
    return path


def test_a_rewritten_hashes_name_the_changed_entry(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = _seed(registry, 8, checkpoint_each=True)
    bad = sizes[3]  # a checkpoint ends right before it: entry ``bad`` is the first unvouched
    _drop_guards()
    _rewrite_event_and_tree(bad)
    with pytest.raises(errors.TamperedEntry) as err:
        LogVerifier([vkey(registry)], ORIGIN).verify_export(export.build())
    assert err.value.index == bad
    path = _export_file(tmp_path, "export.json")
    code, stderr = _verify_cli(["export", str(path), "--vkey", vkey(registry)], capsys)
    assert code == 1
    assert f"FAILED at index {bad}:" in stderr


def test_a_sparse_checkpoints_name_the_first_unvouched_entry(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _seed(registry, 2, checkpoint_each=False)[-1]
    for i in range(6):
        factories.controller(registry.staff, f"later{i}")
    registry.staff.checkpoint()
    bad = first + 3
    _drop_guards()
    _rewrite_event_and_tree(bad)
    # Every stored hash agrees with the forged entry: only the signed roots
    # decide, and the checkpoint at ``first`` is the last one that holds.
    path = _export_file(tmp_path, "export.json")
    code, stderr = _verify_cli(["export", str(path), "--vkey", vkey(registry)], capsys)
    assert code == 1
    assert f"FAILED at index {first}:" in stderr
    assert "not vouched for by any signed checkpoint" in stderr


def _auditor_argv(h: Harness, state: Path, *extra: str) -> list[str]:
    cert, key = h.pki.client("auditor", "audit1")
    return [
        "log",
        "--target",
        h.target,
        "--ca",
        str(h.pki.ca_cert),
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--vkey",
        vkey(h),
        "--state",
        str(state),
        *extra,
    ]


def _truncate(cut: int) -> None:
    store.AuditEvent.delete().where(store.AuditEvent.seq >= cut).execute()
    store.LogHead.update(size=cut).execute()


@pytest.mark.parametrize("complete", [True, False])
def test_b_truncation_with_head_moved_back_is_a_rollback(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str], complete: bool
) -> None:
    state = tmp_path / "trusted.json"
    extra = ["--complete"] if complete else []
    trusted = _seed(registry, 4, checkpoint_each=False)[-1]
    assert _verify_cli(_auditor_argv(registry, state, *extra), capsys)[0] == 0
    _seed(registry, 3, checkpoint_each=False, prefix="later")
    cut = trusted - 2
    _drop_guards()
    _truncate(cut)
    # The server still serves its newest signed checkpoint but cannot prove it.
    code, stderr = _verify_cli(_auditor_argv(registry, state, *extra), capsys)
    assert code == 1, stderr
    assert f"FAILED at index {cut}:" in stderr
    assert "rollback: log truncated" in stderr


def test_b_truncation_below_the_trusted_size_equal_checkpoint(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "trusted.json"
    trusted = _seed(registry, 4, checkpoint_each=False)[-1]
    assert _verify_cli(_auditor_argv(registry, state), capsys)[0] == 0
    _drop_guards()
    _truncate(trusted - 1)
    code, stderr = _verify_cli(_auditor_argv(registry, state), capsys)
    assert code == 1, stderr
    assert f"FAILED at index {trusted - 1}:" in stderr and "rollback" in stderr
    auditor = registry.client("auditor", "audit1")
    with pytest.raises(TruncatedLog) as err:
        auditor.verify_log(LogVerifier([vkey(registry)], ORIGIN, state))
    assert err.value.index == trusted - 1


def _roll_back(cut: int) -> None:
    """What restoring an older backup leaves: a smaller, self-consistent log."""
    _truncate(cut)
    log.CheckpointRecord.delete().where(log.CheckpointRecord.size > cut).execute()
    stale = [
        key
        for key in (int(r.key) for r in store.MerkleNode.select(store.MerkleNode.key))
        if ((key & ((1 << 56) - 1)) + 1) << (key >> 56) > cut  # the node ends after ``cut``
    ]
    store.MerkleNode.delete().where(store.MerkleNode.key.in_(stale)).execute()


def test_c_export_takes_the_trusted_state_and_catches_a_rollback(
    registry: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "trusted.json"
    argv = ["--vkey", vkey(registry), "--state", str(state)]
    old_size = _seed(registry, 3, checkpoint_each=False)[-1]
    old_export = _export_file(tmp_path, "old.json")
    assert _verify_cli(["export", str(old_export), *argv], capsys)[0] == 0
    new_size = _seed(registry, 3, checkpoint_each=False, prefix="later")[-1]
    new_export = _export_file(tmp_path, "new.json")
    assert _verify_cli(["export", str(new_export), *argv], capsys)[0] == 0
    assert LogVerifier([vkey(registry)], ORIGIN, state).trusted().size == new_size  # type: ignore[union-attr]

    # An export of an older copy of the database, offered after a newer one.
    code, stderr = _verify_cli(["export", str(old_export), *argv], capsys)
    assert code == 1
    assert "rollback" in stderr and f"size {new_size}" in stderr and f"size {old_size}" in stderr

    # The same with a pinned checkpoint and a database actually rolled back.
    pinned = tmp_path / "pinned.note"
    pinned.write_text(registry.staff.checkpoint().note)
    _drop_guards()
    _roll_back(old_size)
    rolled = _export_file(tmp_path, "rolled.json")
    assert _verify_cli(["export", str(rolled), "--vkey", vkey(registry)], capsys)[0] == 0
    code, stderr = _verify_cli(
        ["export", str(rolled), "--vkey", vkey(registry), "--checkpoint", str(pinned)], capsys
    )
    assert code == 1
    assert "FAILED: rollback" in stderr
    with pytest.raises(RollbackError):
        LogVerifier([vkey(registry)], ORIGIN, pinned=pinned.read_text()).verify_export(
            export.build()
        )


def test_d_restart_with_another_log_origin_is_refused(registry: Harness, tmp_path: Path) -> None:
    import subprocess
    import sys

    _seed(registry, 2, checkpoint_each=False)
    database = registry.database
    registry.close()
    with pytest.raises(registry_errors.FailedPrecondition) as err:
        harness.start(registry.pki, database, log_origin="example.org/other-log")
    assert repr(ORIGIN) in err.value.message and "example.org/other-log" in err.value.message

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "audit",
            "export",
            "--database",
            database,
            "--out",
            str(tmp_path / "x.json"),
            "--signing-key",
            str(registry.pki.signing_key),
            "--log-origin",
            "example.org/other-log",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "origin" in refused.stderr and not (tmp_path / "x.json").exists()

    again = harness.start(registry.pki, database)
    try:
        verifier = LogVerifier([vkey(again)], ORIGIN)
        for cp in again.staff.checkpoints():
            assert cp.origin == ORIGIN and verifier.open(cp.note).origin == ORIGIN
        assert verifier.verify_export(export.build()).entries_verified > 0
    finally:
        again.close()
