"""``dpa-verify``: verify the registry's audit log without trusting the server.

    dpa-verify export FILE --vkey VKEY [--state STATE.json]  # a full export, offline
    dpa-verify log --target HOST:PORT --ca CA --cert CERT --key KEY \\
                   --vkey VKEY --state STATE.json  # your view, online
                   [--witness-policy POLICY.json]  # k of n witnesses must cosign
    dpa-verify witness ...                         # run a witness (docs/witnesses.md)
    dpa-verify evidence-pack --target ... --out PACK.zip [--controller ID]
    dpa-verify bundle PACK.zip --vkey VKEY         # an evidence pack, offline
    dpa-verify task ...                            # a task's signed receipt (docs/tasks.md)
    dpa-verify feed FEED.json --vkey VKEY          # the signed public feed, offline
    dpa-verify decisions LOG.jsonl --vkey VKEY     # a gateway's decision log, offline

Both take the trusted checkpoint from ``--state`` (updated after a success)
and/or ``--checkpoint NOTE`` (a signed checkpoint pinned out of band), so a
rolled-back log or export fails.

Exit status 0: verified; 1: verification failed (the message names the first
bad index, or both checkpoints for a rollback or fork); 2: usage or connection
error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from dpa_client import _bundle_cli, _decisions_cli, _progress, _tasks_cli, _witness_cli
from dpa_client.audit import LogVerifier, Report, load_export
from dpa_client.errors import DpaError, TamperedBundle, TamperedEntry, VerificationError
from dpa_client.witness import WitnessPolicy


def _print(report: Report) -> None:
    cp = report.checkpoint
    print(
        f"OK: {report.entries_verified} entries and {report.checkpoints_verified} "
        f"checkpoint(s) verified; {cp.origin} size {cp.size}"
    )
    for note in report.notes:
        print(f"note: {note}")


def _add_feed_parser(sub: Any) -> None:
    feed = sub.add_parser("feed", help="verify a downloaded public sub-processor feed offline")
    feed.add_argument("file")
    feed.add_argument("--vkey", action="append", required=True, help="pinned processor key")


def _verify_feed(args: argparse.Namespace) -> int:
    from dpa_client.feed import verify_feed  # noqa: PLC0415

    report = verify_feed(Path(args.file).read_bytes(), args.vkey)
    print(
        f"OK: feed of {report.processor} at {report.generated}: "
        f"{len(report.subprocessors)} sub-processor(s), "
        f"{len(report.pending_changes)} pending change(s), "
        f"{report.entries_verified} audit entries in checkpoint size {report.checkpoint.size}"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="dpa-verify", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    try:
        version = metadata.version("dpa-registry-client")
    except metadata.PackageNotFoundError:
        version = "unknown"
    top.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = top.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="verify a full export offline")
    exp.add_argument("file")
    online = sub.add_parser("log", help="verify your view of the live log")
    online.add_argument("--target", required=True)
    online.add_argument("--ca", required=True)
    online.add_argument("--cert", required=True)
    online.add_argument("--key", required=True)
    online.add_argument("--state", required=True, help="trusted-checkpoint state file")
    online.add_argument(
        "--complete", action="store_true", help="auditors/staff: require every index"
    )
    exp.add_argument("--state", default=None, help="trusted-checkpoint state file")
    exp.add_argument(
        "--no-progress", action="store_true", help="no progress bar (shown on a terminal)"
    )
    online.add_argument("--witness-policy", default=None, help="k-of-n witness policy JSON")
    _witness_cli.add_parsers(sub)
    _bundle_cli.add_parsers(sub)
    _tasks_cli.add_parsers(sub)
    _add_feed_parser(sub)
    _decisions_cli.add_parsers(sub)
    for p in (exp, online):
        p.add_argument("--vkey", action="append", required=True, help="pinned verifier key")
        p.add_argument("--origin", default=None)
        p.add_argument(
            "--checkpoint", default=None, help="file holding a signed checkpoint to trust"
        )
    return top


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "witness": _witness_cli.run,
    "witness-keygen": _witness_cli.keygen,
    "evidence-pack": _bundle_cli.fetch,
    "bundle": _bundle_cli.verify,
    "task": _tasks_cli.run,
    "feed": _verify_feed,
    "decisions": _decisions_cli.verify,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        handler = _HANDLERS.get(args.command)
        if handler is not None:
            return handler(args)
        pinned = Path(args.checkpoint).read_text() if args.checkpoint else None
        state = Path(args.state) if args.state else None
        verifier = LogVerifier(args.vkey, args.origin, state, pinned)
        if args.command == "export":
            export = load_export(Path(args.file))
            with _progress.bar("verifying entries", enabled=not args.no_progress) as update:
                report = verifier.verify_export(export, update)
            _print(report)
        else:
            from dpa_client.client import RegistryClient  # noqa: PLC0415

            client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
            try:
                if args.witness_policy:
                    policy = WitnessPolicy.load(Path(args.witness_policy))
                    _print(client.verify_witnessed_log(verifier, policy, complete=args.complete))
                else:
                    _print(client.verify_log(verifier, complete=args.complete))
            finally:
                client.close()
    except TamperedBundle as err:
        print(f"FAILED in {err.part}: {err}", file=sys.stderr)
        return 1
    except TamperedEntry as err:
        print(f"FAILED at index {err.index}: {err}", file=sys.stderr)
        return 1
    except VerificationError as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    except (DpaError, OSError, ValueError) as err:
        print(f"dpa-verify: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
