"""Server configuration: ``serve`` flags, each with a ``DPA_*`` environment
variable, and an optional TOML file (``--config FILE``) for the same settings.

Precedence, highest first: a flag on the command line, its ``DPA_*``
variable, the TOML file, the default below. Every setting is declared once in
``OPTIONS``; the flags, their help text and the file's keys come from there.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from registry.errors import InvalidArgument


@dataclass(frozen=True)
class Config:
    listen: str = "127.0.0.1:50051"
    database: str = "sqlite:///var/registry.db"
    db_pool_size: int = 20
    """PostgreSQL connections per process (docs/operations.md)."""
    db_pool_timeout: float = 10.0
    """Seconds a call waits for a pooled connection before UNAVAILABLE."""
    certs_dir: Path = Path("certs")
    tls_cert: Path = Path("certs/server.crt")
    tls_key: Path = Path("certs/server.key")
    client_ca: Path = Path("certs/ca.crt")
    signing_key: Path = Path("certs/audit-signing.key")
    trust_domain: str = "7plus.one"
    log_origin: str = "7plus.one/dpa-registry"
    insecure: bool = False
    workers: int = 64
    processes: int = 0
    """Server processes sharing the port (SO_REUSEPORT); 0: one per core."""
    max_watchers: int = 1000
    """Live Watch streams per process on the stream host (no thread each)."""
    max_decision_streams: int = 1000
    """Live decision-change streams (local checkers) per process on the
    stream host (no thread each); the main port holds at most 32 of them, a
    thread each (all of them with ``stream_listen`` off)."""
    stream_listen: str = "auto"
    """host:port of the stream host (docs/adr/0019); ``auto``: the host of
    ``listen`` and a port the system picks, which the main port tells clients;
    ``off``: streams are served on the main port only, a thread each."""
    grace_seconds: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    metrics_port: int = 0
    """Prometheus ``/metrics`` over plain HTTP; 0 is off."""
    metrics_host: str = "127.0.0.1"
    tracing: bool = False
    """OpenTelemetry traces, exported as the ``OTEL_*`` variables say."""
    tiles_listen: str = ""
    """host:port for the C2SP tlog-tiles HTTPS read API (mTLS); empty: off."""
    trust_listen: str = ""
    """host:port for the public trust page and signed feed (HTTPS, no client
    certificate); empty: off."""
    page_token_secret: str = ""
    """File holding the page-token secret; empty derives it from the signing key."""


@dataclass(frozen=True)
class Option:
    """One ``serve`` setting: a Config field with its flag, variable and key."""

    field: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key

    @property
    def key(self) -> str:
        """Its key in the TOML file (underscores are accepted too)."""
        return self.field.replace("_", "-")

    @property
    def env(self) -> str:
        return "DPA_" + self.field.upper()


OPTIONS = (
    Option("listen", "gRPC address, host:port"),
    Option("database", "peewee db_url: sqlite:///PATH (WAL) or postgresql://USER@HOST:PORT/DB"),
    Option("db_pool_size", "PostgreSQL connections per process (docs/operations.md)"),
    Option("db_pool_timeout", "seconds a call waits for a pooled connection, then UNAVAILABLE"),
    Option("tls_cert", "server certificate (PEM)"),
    Option("tls_key", "server private key (PEM)"),
    Option("client_ca", "CA that client certificates must chain to (PEM)"),
    Option("signing_key", "Ed25519 key that signs checkpoints and DPAs"),
    Option(
        "page_token_secret",
        "file with the secret that authenticates page tokens (empty: derived from the "
        "signing key; every process of a deployment must use the same)",
    ),
    Option("trust_domain", "SPIFFE trust domain of callers"),
    Option("log_origin", "checkpoint origin line of the audit log"),
    Option("workers", "threads for unary RPCs"),
    Option(
        "processes",
        "server processes on one port and database (SO_REUSEPORT); 0: one per core",
    ),
    Option("max_watchers", "live notification streams per process (docs/adr/0019)"),
    Option("max_decision_streams", "live decision-change streams per process (local checkers)"),
    Option(
        "stream_listen",
        "host:port of the stream host serving live streams (docs/adr/0019); auto: listen's "
        "host and a free port, advertised on the main port; off: streams on the main port",
    ),
    Option("grace_seconds", "seconds in-flight calls get to finish on SIGTERM"),
    Option("max_message_bytes", "largest request or response, in bytes"),
    Option("metrics_port", "Prometheus /metrics port, plain HTTP; 0 is off"),
    Option("metrics_host", "address the metrics port binds"),
    Option("tracing", "OpenTelemetry traces, configured by the OTEL_* variables"),
    Option(
        "tiles_listen", "host:port for the tlog-tiles HTTPS API (docs/witnesses.md); empty: off"
    ),
    Option(
        "trust_listen", "host:port for the public trust page and feed (docs/feed.md); empty: off"
    ),
    Option("insecure", "plaintext, identity from a header: local development only"),
)

_DEFAULTS = Config()
_TYPES: dict[str, type] = {f.name: type(getattr(_DEFAULTS, f.name)) for f in fields(Config)}
_TYPES = {name: (Path if issubclass(t, Path) else t) for name, t in _TYPES.items()}


def version() -> str:
    """This build's version, as installed."""
    try:
        return metadata.version("dpa-registry")
    except metadata.PackageNotFoundError:
        return "unknown"


def env(name: str, default: str) -> str:
    return os.environ.get(f"DPA_{name}", default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="TOML file with any of the settings below, keys as the flag names "
        "(max-watchers = 100); flags and DPA_* variables win [env DPA_CONFIG]",
    )
    for option in OPTIONS:
        default = getattr(_DEFAULTS, option.field)
        kind = _TYPES[option.field]
        text = f"{option.help} [env {option.env}; default {default}]"
        if kind is bool:
            parser.add_argument(option.flag, action="store_true", default=None, help=text)
        else:
            metavar = {int: "N", float: "SECONDS"}.get(kind, option.field.split("_")[-1].upper())
            parser.add_argument(
                option.flag, type=kind if kind is not Path else str, default=None,
                metavar=metavar, help=text,
            )  # fmt: skip


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _from_env(option: Option, raw: str) -> Any:
    kind = _TYPES[option.field]
    if kind is bool:
        if raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise InvalidArgument.one(option.env, "must be 1 or 0")
    try:
        return kind(raw)
    except ValueError:
        raise InvalidArgument.one(option.env, f"must be {kind.__name__}") from None


def _from_file(option: Option, value: Any, where: str) -> Any:
    kind = _TYPES[option.field]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        Path: isinstance(value, str),
    }[kind]
    if not ok:
        name = "string" if kind is Path else kind.__name__
        raise InvalidArgument.one(f"{where}: {option.key}", f"must be a {name}")
    return kind(value)


def load_file(path: str) -> dict[str, Any]:
    """Reads a TOML config file; an unknown key or a bad value names itself."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidArgument.one("--config", f"cannot read {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgument.one("--config", f"{path} is not TOML: {err}") from err
    by_key = {o.key: o for o in OPTIONS}
    values: dict[str, Any] = {}
    for key, value in data.items():
        option = by_key.get(key.replace("_", "-"))
        if option is None:
            raise InvalidArgument.one(f"{path}: {key}", "unknown setting")
        values[option.field] = _from_file(option, value, path)
    return values


def from_arguments(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    config_file = args.config or environ.get("DPA_CONFIG")
    from_file = load_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given = getattr(args, option.field)
        if given is not None:
            values[option.field] = Path(given) if _TYPES[option.field] is Path else given
        elif option.env in environ:
            values[option.field] = _from_env(option, environ[option.env])
        elif option.field in from_file:
            values[option.field] = from_file[option.field]
    return Config(**values)


def stream_address(config: Config) -> str | None:
    """Where the stream host listens: host:port, or None when it is off."""
    value = config.stream_listen.strip()
    if value == "off":
        return None
    if value in ("", "auto"):
        host, _, _ = config.listen.rpartition(":")
        return f"{host}:0"
    return value
