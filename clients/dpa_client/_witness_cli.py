"""``dpa-verify witness`` and ``dpa-verify witness-keygen``.

    dpa-verify witness-keygen --name acme.example/witness --out witness.pem
    dpa-verify witness --target HOST:PORT --ca CA --cert CERT --key KEY \\
        --name acme.example/witness --witness-key witness.pem \\
        --vkey LOG_VKEY --state-dir witness-state [--loop SECONDS]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from dpa_client import _keyfile
from dpa_client.transparency.cosignature import Cosigner
from dpa_client.transparency.note import NoteVerifier
from dpa_client.witness import ConflictingCheckpoint, Witness, write_evidence

log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keygen = sub.add_parser("witness-keygen", help="create a witness key; prints its vkey")
    keygen.add_argument("--name", required=True, help="witness name, e.g. acme.example/witness")
    keygen.add_argument("--out", required=True, help="PEM file for the private key")
    w = sub.add_parser("witness", help="cosign the log's checkpoints (C2SP tlog-witness)")
    for flag in ("--target", "--ca", "--cert", "--key", "--name", "--witness-key"):
        w.add_argument(flag, required=True)
    w.add_argument("--vkey", action="append", required=True, help="the log's verifier key")
    w.add_argument("--state-dir", required=True, help="last cosigned checkpoint per log")
    w.add_argument("--evidence-dir", default=None, help="where conflicts are written")
    w.add_argument("--loop", type=float, default=0.0, help="seconds between rounds; 0: once")


def load_cosigner(name: str, path: Path) -> Cosigner:
    return Cosigner(name, _keyfile.load(path))


def keygen(args: argparse.Namespace) -> int:
    print(Cosigner(args.name, _keyfile.create(Path(args.out))).vkey)
    return 0


def run(args: argparse.Namespace) -> int:
    from dpa_client.client import RegistryClient  # noqa: PLC0415

    verifiers = [NoteVerifier.from_vkey(v) for v in args.vkey]
    origins = {v.name for v in verifiers}
    witness = Witness(
        load_cosigner(args.name, Path(args.witness_key)),
        {origin: [v for v in verifiers if v.name == origin] for origin in origins},
        Path(args.state_dir),
    )
    evidence_dir = Path(args.evidence_dir or Path(args.state_dir) / "evidence")
    client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
    try:
        while True:
            try:
                result = client.witness_once(witness)
            except ConflictingCheckpoint as err:
                path = write_evidence(evidence_dir, err)
                print(f"REFUSED: {err}\nevidence: {path}", file=sys.stderr)
                print(f"cosigned:\n{err.cosigned_note}\noffered:\n{err.offered_note}")
                return 1
            cp = result.checkpoint
            verb = "cosigned" if result.cosigned else "behind; not cosigned"
            print(
                f"{verb}: {cp.origin} size {cp.size}; cosigners: {', '.join(result.cosigners)}",
                flush=True,
            )
            if args.loop <= 0:
                return 0
            time.sleep(args.loop)
    finally:
        client.close()
