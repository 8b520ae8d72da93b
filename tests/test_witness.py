"""Controllers as witnesses over the API: cosigning, serving cosignatures, policies,
bad input, and a split view (two databases grown from a common prefix)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dpa_client import RegistryClient, errors
from dpa_client.audit import LogVerifier
from dpa_client.cli import main as dpa_verify
from dpa_client.transparency.cosignature import Cosigner
from dpa_client.transparency.note import NoteVerifier, open_checkpoint
from dpa_client.witness import ConflictingCheckpoint, NotWitnessed, Witness, WitnessPolicy
from registry import db, keys, pki
from registry.audit import store
from registry.config import Config
from tests import factories, harness
from tests.harness import Harness

ORIGIN = Config().log_origin
# The two controllers and the auditor of the harness each run a witness.
WITNESSES = [("controller", "acme"), ("controller", "globex"), ("auditor", "audit1")]


def _log_vkey(made: pki.DevPki) -> str:
    return keys.load(made.signing_key, ORIGIN).vkey


class Party:
    """One witness operator: its mTLS identity, witness key and state directory."""

    def __init__(self, role: str, name: str, made: pki.DevPki, state: Path) -> None:
        self.role, self.name = role, name
        self.cosigner = Cosigner.generate(f"{name}.example/witness")
        log_key = NoteVerifier.from_vkey(_log_vkey(made))
        self.witness = Witness(self.cosigner, {ORIGIN: [log_key]}, state / name)

    def client(self, target: str, made: pki.DevPki) -> RegistryClient:
        cert, key = made.client(self.role, self.name)
        return RegistryClient(target, ca=made.ca_cert, cert=cert, key=key)


def _parties(made: pki.DevPki, tmp_path: Path) -> list[Party]:
    return [Party(role, name, made, tmp_path / "witness-state") for role, name in WITNESSES]


def _policy(parties: list[Party], threshold: int) -> WitnessPolicy:
    return WitnessPolicy.from_json(
        {"threshold": threshold, "witnesses": [p.cosigner.vkey for p in parties]}
    )


def _cosign_all(parties: list[Party], target: str, made: pki.DevPki) -> None:
    for p in parties:
        c = p.client(target, made)
        try:
            assert c.witness_once(p.witness).cosigned
        finally:
            c.close()


def test_every_checkpoint_carries_three_cosignatures(registry: Harness, tmp_path: Path) -> None:
    parties = _parties(registry.pki, tmp_path)
    for p in parties:
        registry.staff.register_witness(p.cosigner.vkey)
    assert [w.name for w in registry.staff.list_witnesses()] == sorted(
        p.cosigner.name for p in parties
    )
    for round_ in range(3):
        factories.controller(registry.staff, f"c{round_}")
        _cosign_all(parties, registry.target, registry.pki)
        signed = registry.staff.checkpoint()
        assert sorted(c.witness for c in signed.cosignatures) == sorted(
            p.cosigner.name for p in parties
        )
        assert signed.cosigned_note.startswith(signed.note)
        witnessed = _policy(parties, 3).check(signed.cosigned_note)
        assert len(witnessed.names) == 3
    # A controller verifies its view under a 2-of-3 policy.
    acme = registry.client("controller", "acme")
    verifier = LogVerifier([_log_vkey(registry.pki)], ORIGIN, tmp_path / "acme-trust.json")
    report = acme.verify_witnessed_log(verifier, _policy(parties, 2))
    assert report.checkpoint.size == store.size()
    # Registrations are public log entries every controller sees.
    actions = [json.loads(e.body)["action"] for e in acme.audit_entries()]
    assert actions.count("log.witness.register") == 3


def test_add_checkpoint_and_register_reject_bad_input(registry: Harness, tmp_path: Path) -> None:
    party = _parties(registry.pki, tmp_path)[0]
    staff = registry.staff
    with pytest.raises(errors.InvalidArgument) as bad_key:
        staff.register_witness("acme+00000000+AQ==")
    assert bad_key.value.violations[0].field == "vkey"
    staff.register_witness(party.cosigner.vkey)
    with pytest.raises(errors.AlreadyExists):
        staff.register_witness(Cosigner.generate(party.cosigner.name).vkey)
    factories.controller(staff, "acme")
    signed = staff.checkpoint()
    body = signed.note[: signed.note.rfind("\n\n") + 1]
    line = party.cosigner.cosign(body, 1_700_000_000)
    acme = registry.client("controller", "acme")

    def field(old: int, proof: list[bytes], note: str) -> str:
        with pytest.raises(errors.InvalidArgument) as err:
            acme.add_checkpoint(old, proof, note)
        return err.value.violations[0].field

    assert field(0, [], "not a note") == "checkpoint"
    assert field(signed.size + 1, [], signed.note + line) == "old_size"
    assert field(1, [b"\x00" * 32], signed.note + line) == "consistency_proof"
    assert field(0, [b"\x00" * 32], signed.note + line) == "consistency_proof"
    assert field(0, [], signed.note) == "checkpoint"  # no registered cosignature
    stranger = Cosigner.generate("stranger.example/w").cosign(body, 1)
    assert field(0, [], signed.note + stranger) == "checkpoint"
    forged = line.replace(line.split(" ")[2][:8], "AAAAAAAA")
    assert field(0, [], signed.note + forged) == "checkpoint"
    # A checkpoint the log never signed (another root at that size): NOT_FOUND.
    fake = signed.note.replace(signed.note.split("\n")[2], "A" * 43 + "=", 1)
    with pytest.raises(errors.NotFound):
        acme.add_checkpoint(0, [], fake)
    stored = acme.add_checkpoint(0, [], signed.note + line)
    assert [c.witness for c in stored.cosignatures] == [party.cosigner.name]
    assert acme.checkpoint().cosigned_note == signed.note + line


def _copy_sqlite(source: str, target: Path) -> str:
    db.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source.removeprefix("sqlite:///"), target)
    return f"sqlite:///{target}"


@pytest.mark.slow
def test_split_view_is_caught_by_witnesses_and_policy(
    dev_pki: pki.DevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The processor serves log A to acme and a fork B (same key, common prefix)
    to globex. Plain verification accepts both views; the 2-of-3 policy refuses
    B, and globex's witness refuses B's checkpoint with both notes as evidence."""
    made = dev_pki
    log_vkey = _log_vkey(made)
    parties = _parties(made, tmp_path)
    a = harness.start(made, f"sqlite:///{tmp_path}/a.db")
    b: harness.ServerProcess | None = None
    try:
        for p in parties:
            a.staff.register_witness(p.cosigner.vkey)
        factories.controller(a.staff, "acme")
        factories.controller(a.staff, "globex")
        _cosign_all(parties, a.target, made)
        prefix = a.staff.checkpoint()
        trust = {p.name: tmp_path / f"{p.name}-trust.json" for p in parties}
        for p in parties:  # everyone trusts the common, witnessed prefix
            c = p.client(a.target, made)
            c.verify_log(LogVerifier([log_vkey], ORIGIN, trust[p.name]))
            c.close()

        b = harness.ServerProcess(made, _copy_sqlite(a.database, tmp_path / "b.db"))
        staff_b = b.client("staff", "admin")
        factories.controller(a.staff, "initech")  # the real log grows ...
        factories.controller(staff_b, "hooli")  # ... and so does the fork
        factories.controller(staff_b, "piedpiper")
        _cosign_all(parties, a.target, made)  # every witness follows A
        a_note = a.staff.checkpoint().cosigned_note
        b_signed = staff_b.checkpoint()
        assert b_signed.size > prefix.size and not b_signed.cosignatures

        acme, globex_on_b = parties[0].client(a.target, made), parties[1].client(b.target, made)
        # Plain verification: each controller's view verifies on its own.
        acme.verify_log(LogVerifier([log_vkey], ORIGIN, trust["acme"]))
        fork_report = globex_on_b.verify_log(LogVerifier([log_vkey], ORIGIN, trust["globex"]))
        assert fork_report.checkpoint.root_hash == b_signed.root_hash

        # 2-of-3 policy: A's checkpoint passes, B's is refused.
        policy = _policy(parties, 2)
        acme.verify_witnessed_log(LogVerifier([log_vkey], ORIGIN), policy)
        with pytest.raises(NotWitnessed) as refused:
            globex_on_b.verify_witnessed_log(LogVerifier([log_vkey], ORIGIN), policy)
        assert b_signed.note in str(refused.value)

        # globex's witness, shown B, refuses it and names both notes.
        with pytest.raises(ConflictingCheckpoint) as conflict:
            globex_on_b.witness_once(parties[1].witness)
        cosigned, offered = conflict.value.cosigned_note, conflict.value.offered_note
        assert a_note.startswith(cosigned) and offered == b_signed.note
        a_cp = open_checkpoint(cosigned, [NoteVerifier.from_vkey(log_vkey)])
        b_cp = open_checkpoint(offered, [NoteVerifier.from_vkey(log_vkey)])
        assert a_cp != b_cp  # two signed, inconsistent views: the evidence

        # The CLI, as a controller would run it against the fork.
        policy_file = tmp_path / "policy.json"
        policy_file.write_text(
            json.dumps({"threshold": 2, "witnesses": [p.cosigner.vkey for p in parties]})
        )
        cert, key = made.client("controller", "globex")
        common = ["--target", b.target, "--ca", str(made.ca_cert), "--cert", str(cert)]
        common += ["--key", str(key), "--vkey", log_vkey]
        args = ["log", *common, "--state", str(tmp_path / "cli.json")]
        assert dpa_verify([*args, "--witness-policy", str(policy_file)]) == 1
        assert "required cosignatures" in capsys.readouterr().err
        assert dpa_verify(args) == 0  # plain verification accepts the fork
        key_file = tmp_path / "globex-witness.pem"
        key_file.write_bytes(
            parties[1].cosigner.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        witness_args = ["witness", *common, "--name", parties[1].cosigner.name]
        witness_args += ["--witness-key", str(key_file), "--state-dir", str(tmp_path / "ws")]
        shutil.copytree(parties[1].witness.state_dir, tmp_path / "ws")
        assert dpa_verify(witness_args) == 1
        out = capsys.readouterr()
        assert "REFUSED: split view" in out.err and b_signed.note in out.out
        assert list((tmp_path / "ws" / "evidence").glob("conflict-*.json"))
        for c in (acme, globex_on_b, staff_b):
            c.close()
    finally:
        if b is not None:
            b.stop()
        a.close()
