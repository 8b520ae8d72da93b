"""Server configuration: command-line flags with ``DPA_*`` environment defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50051"
    database: str = "sqlite:///var/registry.db"
    certs_dir: Path = Path("certs")
    tls_cert: Path = Path("certs/server.crt")
    tls_key: Path = Path("certs/server.key")
    client_ca: Path = Path("certs/ca.crt")
    signing_key: Path = Path("certs/audit-signing.key")
    trust_domain: str = "7plus.one"
    log_origin: str = "7plus.one/dpa-registry"
    insecure: bool = False
    workers: int = 64
    max_watchers: int = 1000
    """Live Watch streams per process, each on its own thread beside ``workers``."""
    grace_seconds: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    page_token_secret: Path | None = None
    """File holding the page-token secret; None derives it from the signing key."""


def env(name: str, default: str) -> str:
    return os.environ.get(f"DPA_{name}", default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Config()
    parser.add_argument("--listen", default=env("LISTEN", d.listen), help="host:port")
    parser.add_argument(
        "--database", default=env("DATABASE", d.database), help="playhouse db_url URL"
    )
    parser.add_argument("--tls-cert", default=env("TLS_CERT", str(d.tls_cert)))
    parser.add_argument("--tls-key", default=env("TLS_KEY", str(d.tls_key)))
    parser.add_argument("--client-ca", default=env("CLIENT_CA", str(d.client_ca)))
    parser.add_argument("--signing-key", default=env("SIGNING_KEY", str(d.signing_key)))
    parser.add_argument(
        "--page-token-secret",
        default=env("PAGE_TOKEN_SECRET", ""),
        help="file with the secret that authenticates page tokens (default: derived "
        "from the signing key; every process of a deployment must use the same)",
    )
    parser.add_argument("--trust-domain", default=env("TRUST_DOMAIN", d.trust_domain))
    parser.add_argument(
        "--log-origin", default=env("LOG_ORIGIN", d.log_origin), help="checkpoint origin line"
    )
    parser.add_argument("--workers", type=int, default=int(env("WORKERS", str(d.workers))))
    parser.add_argument(
        "--max-watchers",
        type=int,
        default=int(env("MAX_WATCHERS", str(d.max_watchers))),
        help="live notification streams per process (docs/adr/0004)",
    )
    parser.add_argument(
        "--grace-seconds", type=float, default=float(env("GRACE_SECONDS", str(d.grace_seconds)))
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=env("INSECURE", "") == "1",
        help="plaintext, identity from a header: local development only",
    )


def from_arguments(args: argparse.Namespace) -> Config:
    return Config(
        listen=args.listen,
        database=args.database,
        tls_cert=Path(args.tls_cert),
        tls_key=Path(args.tls_key),
        client_ca=Path(args.client_ca),
        signing_key=Path(args.signing_key),
        page_token_secret=Path(args.page_token_secret) if args.page_token_secret else None,
        trust_domain=args.trust_domain,
        log_origin=args.log_origin,
        insecure=args.insecure,
        workers=args.workers,
        max_watchers=args.max_watchers,
        grace_seconds=args.grace_seconds,
    )
