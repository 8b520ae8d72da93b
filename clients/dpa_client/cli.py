"""``dpa-verify``: verify the registry's audit log without trusting the server.

    dpa-verify export FILE --vkey VKEY             # a full export, offline
    dpa-verify log --target HOST:PORT --ca CA --cert CERT --key KEY \\
                   --vkey VKEY --state STATE.json  # your view, online

Exit status 0: verified; 1: verification failed (the message names the first
bad index or both checkpoints); 2: usage or connection error.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

from dpa_client.audit import LogVerifier, Report, load_export
from dpa_client.errors import DpaError, TamperedEntry, VerificationError


def _print(report: Report) -> None:
    cp = report.checkpoint
    print(
        f"OK: {report.entries_verified} entries and {report.checkpoints_verified} "
        f"checkpoint(s) verified; {cp.origin} size {cp.size}"
    )
    for note in report.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
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
    for p in (exp, online):
        p.add_argument("--vkey", action="append", required=True, help="pinned verifier key")
        p.add_argument("--origin", default=None)
    args = top.parse_args(argv)
    try:
        if args.command == "export":
            verifier = LogVerifier(args.vkey, args.origin)
            _print(verifier.verify_export(load_export(Path(args.file))))
        else:
            from dpa_client.client import RegistryClient  # noqa: PLC0415

            verifier = LogVerifier(args.vkey, args.origin, Path(args.state))
            client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
            try:
                _print(client.verify_log(verifier, complete=args.complete))
            finally:
                client.close()
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
