"""``dpa-verify task``: fetch a task and verify its signed receipt or certificate.

    dpa-verify task --target HOST:PORT --ca CA --cert CERT --key KEY \\
        --name controllers/acme/tasks/t0123 --vkey PROCESSOR_VKEY [--out FILE.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("task", help="verify a task's signed receipt or certificate")
    for flag in ("--target", "--ca", "--cert", "--key", "--name"):
        p.add_argument(flag, required=True)
    p.add_argument("--vkey", action="append", required=True, help="pinned processor key")
    p.add_argument("--out", default=None, help="write the verified document bytes here")


def run(args: argparse.Namespace) -> int:
    from dpa_client.client import RegistryClient  # noqa: PLC0415
    from dpa_client.receipts import verify_task  # noqa: PLC0415

    client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
    try:
        task = client.get_task(args.name)
    finally:
        client.close()
    verified = verify_task(task, pinned_processor_keys=args.vkey)
    if args.out and task.signed_document is not None:  # verified above: it is there
        Path(args.out).write_bytes(task.signed_document.document)
    parts = verified.content.get("parts", [])
    print(
        f"OK: {verified.type} for {verified.task}, {len(parts)} parts confirmed, "
        f"{len(verified.audit_indices)} audit steps, digest {verified.digest}"
    )
    return 0
