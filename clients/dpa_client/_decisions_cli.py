"""``dpa-verify decisions LOG --vkey GATEWAY_VKEY [--head SEQ:DIGEST]``: verify
a gateway's signed decision log offline and print a summary."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from dpa_client.decision_log import DecisionLogReport, Head, verify_decision_log


def add_parsers(sub: Any) -> None:
    check = sub.add_parser("decisions", help="verify a gateway's signed decision log offline")
    check.add_argument("file")
    check.add_argument("--vkey", action="append", required=True, help="pinned gateway key")
    check.add_argument(
        "--head", default=None, help="a head kept from before (SEQ:DIGEST): the log must hold it"
    )


def _print(report: DecisionLogReport) -> None:
    records = report.records
    kinds = Counter((r.kind, r.verdict) for r in records)
    batches = len(report.batches)
    print(f"OK: {len(records)} decisions in {batches} signed batch{'' if batches == 1 else 'es'}")
    for kind in ("transfer", "processing"):
        allowed, denied = kinds[(kind, "ALLOWED")], kinds[(kind, "DENIED")]
        print(f"  {kind}: {allowed + denied} ({allowed} allowed, {denied} denied)")
    local = sum(r.local for r in records)
    receipts = sum(r.checkpoint is not None for r in records)
    print(f"  {local} decided locally, {len(records) - local} by the registry; "
          f"{receipts} with a receipt's checkpoint")  # fmt: skip
    if records:
        low = min(b.lowest_revision for b in report.batches)
        high = max(b.highest_revision for b in report.batches)
        first, last = records[0].content["decided_at"], records[-1].content["decided_at"]
        print(f"  registry revisions {low}-{high}; decided {first} to {last}")
    for signer in report.signers:
        print(f"  signed by {signer}")
    print(f"head: {report.head}" if report.head else "head: none (an empty log)")


def verify(args: argparse.Namespace) -> int:
    head = Head.parse(args.head) if args.head else None
    _print(verify_decision_log(args.file, args.vkey, trusted_head=head))
    return 0
