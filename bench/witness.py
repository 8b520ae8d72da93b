"""Witness benchmark: the cosignature round trip over the real mTLS API (fetch
checkpoint and consistency proof, verify, cosign, hand back, server verifies
and stores) and the cost of verifying a checkpoint under a 3-witness policy.

    python -m bench.witness          # DPA_TEST_POSTGRES_URL adds PostgreSQL
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from dpa_client.transparency.cosignature import Cosigner
from dpa_client.transparency.note import NoteVerifier
from dpa_client.witness import Witness, WitnessPolicy
from registry import clock, db, keys
from registry.audit import store
from registry.audit.events import Change
from registry.config import Config
from tests import harness

ROUNDS = 40
PARTIES = [("controller", "acme"), ("controller", "globex"), ("auditor", "audit1")]


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(0.95 * (len(samples) - 1))]
    return f"median {statistics.median(samples) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms"


def round_trip(label: str, url: str, directory: Path) -> None:
    made = harness.make_pki(directory / "pki")
    h = harness.start(made, url)
    origin = Config().log_origin
    log_key = NoteVerifier.from_vkey(keys.load(made.signing_key, origin).vkey)
    try:
        parties = []
        for role, name in PARTIES:
            cosigner = Cosigner.generate(f"{name}.example/witness")
            h.staff.register_witness(cosigner.vkey)
            witness = Witness(cosigner, {origin: [log_key]}, directory / label / name)
            parties.append((h.client(role, name), witness))
        samples: list[float] = []
        for i in range(ROUNDS):
            with db.transaction():
                store.append(
                    [Change("bench.write", f"b/{i}", None, {"i": i})], "b", "", clock.now()
                )
            for client, witness in parties:
                started = time.perf_counter()
                assert client.witness_once(witness).cosigned
                samples.append(time.perf_counter() - started)
        print(f"{label}: cosignature round trip ({len(samples)} rounds): {_ms(samples)}")
        note = h.staff.checkpoint().cosigned_note
        policy = WitnessPolicy.from_json(
            {"threshold": 3, "witnesses": [w.cosigner.vkey for _, w in parties]}
        )
        n = 2000
        started = time.perf_counter()
        for _ in range(n):
            policy.check(note)
        per = (time.perf_counter() - started) / n
        print(f"{label}: 3-of-3 policy check per checkpoint: {per * 1e6:.0f} us")
    finally:
        h.close()
        clock.reset()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        round_trip("sqlite", f"sqlite:///{directory}/bench.db", directory)
        if harness.postgres_url():
            with harness.postgres_schema() as url:
                round_trip("postgres", url, directory)


if __name__ == "__main__":
    main()
