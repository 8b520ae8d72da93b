"""The signed audit log over the API: checkpoints, proofs, views, tampering."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import peewee
import pytest

from dpa_client import errors
from dpa_client.audit import ForkError, LogVerifier, RollbackError, check_consistent
from dpa_client.transparency.note import Checkpoint, NoteSigner, sign_checkpoint
from registry import db, keys
from registry.audit import export, store
from registry.config import Config
from tests import factories, independent_tlog
from tests.harness import Harness

ORIGIN = Config().log_origin


def vkey(h: Harness) -> str:
    return keys.load(h.pki.signing_key, ORIGIN).vkey


def test_write_receipt_proof_and_checkpoint_verify_independently(registry: Harness) -> None:
    staff = registry.staff
    factories.controller(staff, "acme")
    receipt = staff.last_receipt
    assert receipt is not None and receipt.count == 1
    signed = staff.checkpoint()
    origin, size, root = independent_tlog.verify_note(signed.note, vkey(registry))
    assert (origin, size, root) == (ORIGIN, signed.size, signed.root_hash)
    assert size > receipt.first_index
    entry = next(e for e in staff.audit_entries(receipt.first_index))
    assert entry.index == receipt.first_index
    proof = staff.inclusion_proof(entry.index, size)
    assert independent_tlog.inclusion_root(entry.index, size, entry.body, proof) == root
    body = json.loads(entry.body)
    assert body["action"] == "controller.create" and body["seq"] == entry.index

    factories.controller(staff, "globex")
    later = staff.checkpoint()
    proof = staff.consistency_proof(size, later.size)
    assert independent_tlog.consistency_ok(size, later.size, root, later.root_hash, proof)


def test_controller_sees_its_own_and_public_entries_only(registry: Harness) -> None:
    staff = registry.staff
    factories.controller(staff, "acme")
    factories.controller(staff, "globex")
    globex_index = staff.last_receipt.first_index  # type: ignore[union-attr]
    acme = registry.client("controller", "acme")
    bodies = [json.loads(e.body) for e in acme.audit_entries()]
    assert bodies, "acme sees its own entries"
    assert all(b["tenant"] in ("acme", None) for b in bodies)
    assert all(b["tenant"] == "acme" or b["action"].startswith("log.") for b in bodies)
    size = acme.checkpoint().size
    with pytest.raises(errors.NotFound):
        acme.inclusion_proof(globex_index, size)
    report = acme.verify_log(LogVerifier([vkey(registry)], ORIGIN))
    assert report.entries_verified == len(bodies)


def test_verify_log_keeps_state_and_detects_rollback_and_fork(
    registry: Harness, tmp_path: Path
) -> None:
    staff = registry.staff
    auditor = registry.client("auditor", "audit1")
    state = tmp_path / "trusted.json"
    verifier = LogVerifier([vkey(registry)], ORIGIN, state)
    factories.controller(staff, "acme")
    first = auditor.verify_log(verifier, complete=True)
    factories.controller(staff, "globex")
    second = auditor.verify_log(verifier, complete=True)
    assert second.checkpoint.size > first.checkpoint.size
    assert verifier.trusted() == second.checkpoint

    # A server that offers an older tree, or a different one, is caught.
    signer = NoteSigner(
        "7plus.one/dpa-registry", keys.load(registry.pki.signing_key, ORIGIN).private
    )
    old = first.checkpoint
    with pytest.raises(RollbackError) as err:
        verifier.advance(sign_checkpoint(old, signer), [])
    assert f"size {old.size}" in str(err.value) and f"size {second.checkpoint.size}" in str(
        err.value
    )
    forged = Checkpoint(ORIGIN, second.checkpoint.size + 1, b"\x07" * 32)
    with pytest.raises(ForkError) as err:
        check_consistent(second.checkpoint, forged, [b"\x00" * 32])
    assert str(second.checkpoint.size) in str(err.value)


def test_checkpoint_signed_by_unpinned_key_is_rejected(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    other = NoteSigner.generate(ORIGIN)
    with pytest.raises(errors.BadSignature):
        LogVerifier([other.vkey], ORIGIN).open(registry.staff.checkpoint().note)


def test_log_tables_are_append_only(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    registry.staff.checkpoint()
    for sql in (
        "UPDATE audit_event SET actor = 'x' WHERE seq = 0",
        "DELETE FROM audit_event WHERE seq = 0",
        "DELETE FROM merkle_node",
        "UPDATE checkpoint SET note = 'x'",
    ):
        with pytest.raises(peewee.DatabaseError), db.database.atomic():
            db.execute(sql)


def _drop_guards() -> None:
    """What an attacker with database access would do first."""
    if db.is_postgres():
        for table in ("audit_event", "merkle_node", "checkpoint"):
            db.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    else:
        for table in ("audit_event", "merkle_node", "checkpoint"):
            for op in ("update", "delete"):
                db.execute(f"DROP TRIGGER {table}_no_{op}")


def _seed(h: Harness, n: int) -> int:
    for i in range(n):
        factories.controller(h.staff, f"c{i}")
    return h.staff.checkpoint().size


def _body(seq: int) -> bytes:
    return bytes(store.AuditEvent.get(store.AuditEvent.seq == seq).body)


def _set_body(seq: int, body: bytes) -> None:
    store.AuditEvent.update(body=body).where(store.AuditEvent.seq == seq).execute()


def _tamper_byte(i: int) -> None:
    body = bytearray(_body(i))
    at = body.index(b'"actor":"') + 12
    body[at] ^= 0x01
    _set_body(i, bytes(body))


def _tamper_delete(i: int) -> None:
    store.AuditEvent.delete().where(store.AuditEvent.seq == i).execute()


def _tamper_swap(i: int) -> None:
    a, b = _body(i), _body(i + 2)
    _set_body(i, b)
    _set_body(i + 2, a)


TAMPERING = {"byte": _tamper_byte, "delete": _tamper_delete, "swap": _tamper_swap}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_names_the_first_bad_index(registry: Harness, kind: str, tmp_path: Path) -> None:
    size = _seed(registry, 6)
    clean = export.build()
    verifier = LogVerifier([vkey(registry)], ORIGIN)
    assert verifier.verify_export(clean).entries_verified == size
    bad = 3
    _drop_guards()
    TAMPERING[kind](bad)

    with pytest.raises(errors.TamperedEntry) as err:
        verifier.verify_export(export.build())
    assert err.value.index == bad

    auditor = registry.client("auditor", "audit1")
    with pytest.raises(errors.TamperedEntry) as err:
        auditor.verify_log(LogVerifier([vkey(registry)], ORIGIN), complete=True)
    assert err.value.index == bad


def test_truncation_is_detected(registry: Harness) -> None:
    size = _seed(registry, 5)
    _drop_guards()
    cut = size - 2
    store.AuditEvent.delete().where(store.AuditEvent.seq >= cut).execute()
    store.LogHead.update(size=cut).execute()
    verifier = LogVerifier([vkey(registry)], ORIGIN)
    with pytest.raises(errors.TamperedEntry) as err:
        verifier.verify_export(export.build())
    assert err.value.index == cut
    auditor = registry.client("auditor", "audit1")
    with pytest.raises(errors.TamperedEntry) as err:
        auditor.verify_log(verifier, complete=True)
    assert err.value.index == cut


def test_export_cli_and_offline_verify_cli(registry: Harness, tmp_path: Path) -> None:
    import subprocess
    import sys

    _seed(registry, 3)
    out = tmp_path / "export.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "audit",
            "export",
            "--database",
            registry.database,
            "--out",
            str(out),
            "--signing-key",
            str(registry.pki.signing_key),
        ],
        check=True,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    assert data["keys"] == [vkey(registry)]
    ok = subprocess.run(
        [sys.executable, "-m", "dpa_client.cli", "export", str(out), "--vkey", vkey(registry)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"{data['size']} entries" in ok.stdout
    entry = data["entries"][1]
    body = bytearray(base64.b64decode(entry["body"]))
    body[-3] ^= 1
    entry["body"] = base64.b64encode(bytes(body)).decode()
    out.write_text(json.dumps(data))
    bad = subprocess.run(
        [sys.executable, "-m", "dpa_client.cli", "export", str(out), "--vkey", vkey(registry)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "index 1" in bad.stderr


def test_key_rotation_is_logged_and_old_checkpoints_still_verify(
    registry: Harness, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests import harness

    _seed(registry, 2)
    old_note = registry.staff.checkpoint().note
    old_vkey = vkey(registry)
    database = registry.database
    registry.close()

    new_key = tmp_path / "new-signing.key"
    new_key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rotated = harness.start(registry.pki, database, signing_key=new_key)
    try:
        new_vkey = keys.load(new_key, ORIGIN).vkey
        info = rotated.staff.log_info()
        assert [k.vkey for k in info.keys] == [old_vkey, new_vkey]
        rotation = next(e for e in rotated.staff.audit_entries(info.keys[1].activated_index))
        assert json.loads(rotation.body)["action"] == "log.key.rotate"
        both = LogVerifier([old_vkey, new_vkey], ORIGIN)
        assert both.open(old_note).size > 0
        with pytest.raises(errors.BadSignature):
            LogVerifier([new_vkey], ORIGIN).open(old_note)
        new_cp = rotated.staff.checkpoint()
        assert LogVerifier([new_vkey], ORIGIN).open(new_cp.note).size == new_cp.size
        assert both.verify_export(export.build()).entries_verified == new_cp.size
    finally:
        rotated.close()


def test_export_and_verification_report_progress(registry: Harness, tmp_path: Path) -> None:
    """Long exports and verifications tell how far they are (the CLIs draw a
    bar from it on a terminal); the last report is (all, all)."""
    size = _seed(registry, 4)
    seen_export: list[tuple[int, int]] = []
    data = export.build(lambda done, total: seen_export.append((done, total)))
    assert seen_export[-1] == (size, size)
    seen_verify: list[tuple[int, int]] = []
    LogVerifier([vkey(registry)], ORIGIN).verify_export(
        data, lambda done, total: seen_verify.append((done, total))
    )
    assert seen_verify[0] == (0, size)
    assert seen_verify[-1] == (size, size)


def test_progress_bar_draws_on_a_terminal_only() -> None:
    import os
    import subprocess
    import sys

    from dpa_client import _progress

    with _progress.bar("x") as update:  # not a terminal here: a no-op
        update(1, 2)
    script = (
        "from dpa_client import _progress\n"
        "with _progress.bar('verifying entries') as u:\n"
        "    u(5, 10)\n"
        "    u(10, 10)\n"
    )
    shown = subprocess.run(
        ["script", "-qec", f'{sys.executable} -c "{script}"', "/dev/null"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "100"},
    )
    assert "verifying entries" in shown.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_starting_at_once_record_the_key_once(
    dev_pki: Any, backend: str, tmp_path: Path
) -> None:
    """Several server processes start together on a fresh database: each
    records the configured key, exactly one entry results, and none takes the
    key another just recorded for a retired one."""
    import threading
    from contextlib import ExitStack

    from registry import db
    from registry import keys as registry_keys
    from registry.audit import log as audit_log
    from registry.auth import Caller, Role
    from tests import harness

    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path}/fresh.db"
        else:
            if not harness.postgres_url():
                pytest.skip(f"{harness.PG_ENV} not set")
            url = stack.enter_context(harness.postgres_schema())
        db.migrate(db.open_database(url))
        registry_keys.activate(registry_keys.load(dev_pki.signing_key, ORIGIN))
        caller = Caller("spiffe://7plus.one/service/starter", Role.SERVICE, "starter")
        barrier = threading.Barrier(4)
        failures: list[BaseException] = []

        def start() -> None:
            barrier.wait()
            try:
                with db.database.connection_context():
                    audit_log.record_active_key(caller)
            except BaseException as err:
                failures.append(err)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        with db.database.connection_context():
            assert [k.vkey for k in audit_log.log_keys()] == [registry_keys.active().vkey]
        db.database.close()


def test_a_key_recorded_by_another_process_meanwhile_is_not_retired(
    dev_pki: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind a failed two-process start: process B looks before
    process A commits the key, A commits, B goes on. B must take the key as
    current (decided under the write lock), not as a retired one."""
    from registry import db
    from registry import keys as registry_keys
    from registry.audit import log as audit_log
    from registry.auth import Caller, Role

    db.migrate(db.open_database(f"sqlite:///{tmp_path}/fresh.db"))
    registry_keys.activate(registry_keys.load(dev_pki.signing_key, ORIGIN))
    caller = Caller("spiffe://7plus.one/service/starter", Role.SERVICE, "starter")
    with db.database.connection_context():
        audit_log.record_active_key(caller)  # process A
        real = audit_log._current_key
        looks = iter([None, None])  # B looks (origin, key) before A commits

        def stale_then_real() -> Any:
            return next(looks, real())

        monkeypatch.setattr(audit_log, "_current_key", stale_then_real)
        audit_log.record_active_key(caller)  # process B: no error, nothing new
        assert len(list(audit_log.log_keys())) == 1
    db.database.close()
