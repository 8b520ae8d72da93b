"""``dpa-registry``: serve the registry and manage its development PKI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from registry import config, pki
from registry.errors import RegistryError
from registry.observability import requestlog


def _serve(args: argparse.Namespace) -> int:
    from registry import server  # noqa: PLC0415 - keeps `certs` fast

    return server.serve(config.from_arguments(args))


def _certs_init(args: argparse.Namespace) -> int:
    made = pki.init_dev_pki(Path(args.dir), args.trust_domain, force=args.force)
    print(f"dev PKI in {made.directory}/ (CA, server certificate, audit signing key)")
    return 0


def _certs_issue(args: argparse.Namespace) -> int:
    cert, key = pki.issue_client_cert(
        pki.DevPki(Path(args.dir)), args.role, args.name, args.trust_domain
    )
    print(f"spiffe://{args.trust_domain}/{args.role}/{args.name}: {cert} {key}")
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from registry import db, keys  # noqa: PLC0415
    from registry.audit import export, log  # noqa: PLC0415

    db.migrate(db.open_database(args.database))
    if args.signing_key:
        keys.activate(keys.load(Path(args.signing_key), args.log_origin))
        log.check_origin()
        log.latest_checkpoint()  # publish one covering every entry
    from dpa_client import _progress  # noqa: PLC0415

    with _progress.bar("exporting entries") as update:
        data = export.write(Path(args.out), update)
    print(
        f"wrote {args.out}: {len(data['entries'])} entries, "
        f"{len(data['checkpoints'])} checkpoints, keys: {', '.join(data['keys'])}"
    )
    return 0


def _delivery_redeliver(args: argparse.Namespace) -> int:
    from dpa_client import RegistryClient  # noqa: PLC0415
    from dpa_client.errors import RpcError  # noqa: PLC0415

    client = RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)
    try:
        delivery = client.redeliver(args.name)
    except RpcError as err:
        print(f"dpa-registry: {err}", file=sys.stderr)
        return 2
    finally:
        client.close()
    print(f"{delivery.name}: pending again (a fresh series of attempts)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dpa-registry", description=__doc__)
    top.add_argument("--version", action="version", version=f"%(prog)s {config.version()}")
    top.add_argument(
        "--log-level",
        default=config.env("LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="INFO logs one line per RPC, WARNING silences them [env DPA_LOG_LEVEL; default INFO]",
    )
    top.add_argument(
        "--log-format",
        default=config.env("LOG_FORMAT", "text"),
        choices=requestlog.FORMATS,
        help="json: one JSON object per line [env DPA_LOG_FORMAT; default text]",
    )
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the registry over gRPC")
    config.add_arguments(serve)
    serve.set_defaults(run=_serve)

    certs = sub.add_parser("certs", help="development PKI").add_subparsers(
        dest="certs_command", required=True
    )
    defaults = config.Config()
    for name, run, text in (
        ("init", _certs_init, "write a dev CA, server certificate and signing key"),
        ("issue", _certs_issue, "mint a client certificate with a SPIFFE ID"),
    ):
        p = certs.add_parser(name, help=text)
        p.add_argument("--dir", default=str(defaults.certs_dir))
        p.add_argument("--trust-domain", default=defaults.trust_domain)
        p.set_defaults(run=run)
        if name == "init":
            p.add_argument("--force", action="store_true", help="replace existing files")
        else:
            p.add_argument("--role", required=True, choices=sorted(pki.ROLES))
            p.add_argument("--name", required=True)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True
    )
    exp = audit.add_parser("export", help="write a self-contained, verifiable export")
    exp.add_argument("--database", default=config.env("DATABASE", defaults.database))
    exp.add_argument("--out", required=True)
    exp.add_argument(
        "--signing-key",
        default=config.env("SIGNING_KEY", ""),
        help="if given, first sign a checkpoint covering every entry",
    )
    exp.add_argument("--log-origin", default=config.env("LOG_ORIGIN", defaults.log_origin))
    exp.set_defaults(run=_audit_export)
    _add_tasks(sub)

    delivery = sub.add_parser("delivery", help="webhook and e-mail delivery").add_subparsers(
        dest="delivery_command", required=True
    )
    again = delivery.add_parser("redeliver", help="staff: send a dead-lettered delivery again")
    again.add_argument("name", help="controllers/{controller_id}/deliveries/{id}")
    again.add_argument("--target", default=config.env("TARGET", "localhost:50051"))
    again.add_argument("--ca", default=str(defaults.client_ca))
    again.add_argument("--cert", default="certs/staff-admin.crt")
    again.add_argument("--key", default="certs/staff-admin.key")
    again.set_defaults(run=_delivery_redeliver)
    return top


def _staff_client(args: argparse.Namespace) -> Any:
    from dpa_client import RegistryClient  # noqa: PLC0415

    return RegistryClient(args.target, ca=args.ca, cert=args.cert, key=args.key)


def _tasks_overdue(args: argparse.Namespace) -> int:
    client = _staff_client(args)
    try:
        count = 0
        for o in client.list_overdue_task_parts():
            count += 1
            late = o.late
            print(f"{o.part.name}\t{o.controller_id}\t{o.part.target}\tlate {late}")
        print(f"{count} overdue part(s)", file=sys.stderr)
    finally:
        client.close()
    return 0


def _tasks_confirm(args: argparse.Namespace) -> int:
    client = _staff_client(args)
    try:
        task = client.update_task_part(
            args.part, args.state, reference=args.reference, failure_reason=args.reason
        )
        print(f"{task.name}: {len(task.parts)} part(s)")
    finally:
        client.close()
    return 0


def _add_tasks(sub: Any) -> None:
    tasks = sub.add_parser(
        "tasks", help="staff: assistance tasks (data-subject requests, end of contract)"
    ).add_subparsers(dest="tasks_command", required=True)
    overdue = tasks.add_parser("overdue", help="list overdue task parts, with how late")
    overdue.set_defaults(run=_tasks_overdue)
    update = tasks.add_parser("update", help="record a part's progress or failure")
    update.add_argument("part", help="the part's resource name")
    update.add_argument("state", help="e.g. DONE, FAILED, IN_PROGRESS")
    update.add_argument("--reference", default="", help="evidence reference")
    update.add_argument("--reason", default="", help="failure reason")
    update.set_defaults(run=_tasks_confirm)
    for p in (overdue, update):
        p.add_argument("--target", default="localhost:50051", help="registry host:port")
        p.add_argument("--ca", default="certs/ca.crt")
        p.add_argument("--cert", default="certs/staff-admin.crt")
        p.add_argument("--key", default="certs/staff-admin.key")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    requestlog.configure(args.log_level, args.log_format)
    from dpa_client import errors as client_errors  # noqa: PLC0415

    try:
        result: int = args.run(args)
    except RegistryError as err:
        print(f"dpa-registry: {err.message}", file=sys.stderr)
        return 2
    except client_errors.DpaError as err:
        print(f"dpa-registry: {err}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
