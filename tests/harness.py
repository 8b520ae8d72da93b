"""Test harness: a dev PKI, databases on both backends, a real mTLS server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import peewee
from playhouse.db_url import connect as connect_url

from dpa_client import RegistryClient
from registry import pki, server
from registry.config import Config

TRUST_DOMAIN = "7plus.one"
PG_ENV = "DPA_TEST_POSTGRES_URL"

# Identities used across the suite: (role, name).
IDENTITIES = [
    ("staff", "admin"),
    ("service", "checker"),
    ("controller", "acme"),
    ("controller", "globex"),
    ("auditor", "audit1"),
]


def make_pki(directory: Path) -> pki.DevPki:
    made = pki.init_dev_pki(directory, TRUST_DOMAIN)
    for role, name in IDENTITIES:
        pki.issue_client_cert(made, role, name, TRUST_DOMAIN)
    pki.issue_client_cert(made, "staff", "intruder", "evil.example")
    return made


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL; yields a db_url bound to it."""
    base = postgres_url()
    assert base, PG_ENV + " is not set"
    schema = "t_" + uuid.uuid4().hex[:12]
    admin: peewee.Database = connect_url(base)
    admin.execute_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def server_config(made: pki.DevPki, database: str) -> Config:
    return Config(
        listen="127.0.0.1:0",
        database=database,
        tls_cert=made.server_cert,
        tls_key=made.server_key,
        client_ca=made.ca_cert,
        signing_key=made.signing_key,
        trust_domain=TRUST_DOMAIN,
        workers=16,
        grace_seconds=2.0,
    )


class Harness:
    """A running server plus a way to get a client for any identity."""

    def __init__(self, made: pki.DevPki, running: server.Running, database: str) -> None:
        self.pki = made
        self.running = running
        self.database = database
        self.target = f"localhost:{running.port}"
        self._clients: list[RegistryClient] = []

    def client(self, role: str, name: str, **kwargs: object) -> RegistryClient:
        cert, key = self.pki.client(role, name)
        c = RegistryClient(
            self.target,
            ca=self.pki.ca_cert,
            cert=cert,
            key=key,
            **kwargs,  # type: ignore[arg-type]
        )
        self._clients.append(c)
        return c

    @property
    def staff(self) -> RegistryClient:
        return self.client("staff", "admin")

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.running.stop(0)


def start(made: pki.DevPki, database: str, **overrides: object) -> Harness:
    config = replace(server_config(made, database), **overrides)  # type: ignore[arg-type]
    return Harness(made, server.start(config), database)


def free_port() -> int:
    """A free port below the ephemeral range (``free_ports``): one the kernel
    hands out for port 0 may be taken by an outgoing connection (a database
    pool's, another server's) before the server binds it."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports, for a server that binds
    ``port + i`` (``serve --processes``' metrics). Chosen below the kernel's
    ephemeral range, where no outgoing connection takes its port meanwhile
    (a port next to an ephemeral one may be taken by the time it is bound)."""
    import random
    import socket

    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    rng = random.Random()
    for _ in range(100):
        first = rng.randrange(10_000, max(10_001, ephemeral - count))
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (a server's ``--processes N``
    children), from /proc, in pid order."""
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            found.append(int(entry.name))
    return sorted(found)


def dump_stacks(pid: int) -> None:
    """Asks a server process to write every thread's stack to its stderr
    (``server.STACKS_SIGNAL``; a supervisor passes it to each of its
    processes), and gives it a moment to."""
    import os
    import time

    from registry import server

    try:
        os.kill(pid, server.STACKS_SIGNAL)
    except ProcessLookupError:
        return
    time.sleep(2)


class ServerProcess:
    """``dpa-registry serve`` in a child process, for multi-process tests."""

    def __init__(
        self,
        made: pki.DevPki,
        database: str,
        *,
        processes: int = 1,
        wait: bool = True,
        **env: str,
    ) -> None:
        import subprocess
        import sys

        self.pki = made
        self.port = free_port()
        self.target = f"localhost:{self.port}"
        d = made.directory
        # The child's log goes to a file, not a pipe: a pipe nobody reads until
        # stop() fills after ~64 KB of request-log lines and blocks the server.
        import tempfile

        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "registry.cli",
                "serve",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--database",
                database,
                "--tls-cert",
                str(d / "server.crt"),
                "--tls-key",
                str(d / "server.key"),
                "--client-ca",
                str(d / "ca.crt"),
                "--signing-key",
                str(d / "audit-signing.key"),
                "--trust-domain",
                TRUST_DOMAIN,
                "--workers",
                "16",
                "--processes",
                str(processes),
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        if wait:
            self._wait_serving()

    def log_text(self) -> str:
        """Everything the server process has logged so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def client(self, role: str, name: str) -> RegistryClient:
        cert, key = self.pki.client(role, name)
        return RegistryClient(self.target, ca=self.pki.ca_cert, cert=cert, key=key)

    def _wait_serving(self) -> None:
        import time

        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        c = self.client("staff", "admin")
        deadline = time.monotonic() + 30
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_text()}")
                try:
                    health_pb2_grpc.HealthStub(c.channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=2
                    )
                    return
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            c.close()

    def stop(self) -> str:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except Exception:
            dump_stacks(self.proc.pid)  # into the log returned: where it hung
            self.proc.kill()
            self.proc.wait()
        text = self.log_text()
        self._log.close()
        return text
