"""``dpa-verify evidence-pack`` (fetch) and ``dpa-verify bundle`` (verify
offline), with a progress bar on a terminal (``_progress``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dpa_client import _progress
from dpa_client.bundle import BundleReport, verify_bundle


def add_parsers(sub: Any) -> None:
    fetch = sub.add_parser("evidence-pack", help="fetch an evidence pack (zip) from the registry")
    fetch.add_argument("--target", required=True)
    fetch.add_argument("--ca", required=True)
    fetch.add_argument("--cert", required=True)
    fetch.add_argument("--key", required=True)
    fetch.add_argument("--controller", default="", help="controller id; empty: the processor")
    fetch.add_argument("--out", required=True)
    check = sub.add_parser("bundle", help="verify an evidence pack offline")
    check.add_argument("file")
    check.add_argument("--vkey", action="append", required=True, help="pinned log key")
    for p in (fetch, check):
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def fetch(args: argparse.Namespace) -> int:
    from dpa_client.client import RegistryClient  # noqa: PLC0415

    client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
    try:
        with _progress.bar("fetching the evidence pack", enabled=not args.no_progress) as update:
            data = client.evidence_pack(args.controller, progress=update)
    finally:
        client.close()
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out}: {len(data)} bytes")
    return 0


def _print(report: BundleReport) -> None:
    cp = report.checkpoint
    print(
        f"OK: evidence pack of {report.scope} as of revision {report.revision}: "
        f"{report.entries} audit entries proven in checkpoint {cp.origin} size {cp.size}; "
        f"{report.agreements} DPA versions ({report.signatures} signatures), "
        f"{report.instructions} instruction versions and {report.measure_versions} measure "
        f"versions bound to their entries by content; {report.record_lines} record lines "
        f"follow from the entries, {report.lines_bound_by_content} of them by content"
    )
    for note in report.notes:
        print(f"note: {note}")


def verify(args: argparse.Namespace) -> int:
    data = Path(args.file).read_bytes()
    with _progress.bar("verifying the evidence pack", enabled=not args.no_progress) as update:
        report = verify_bundle(data, args.vkey, lambda stage, done, total: update(done, total))
    _print(report)
    return 0
