"""Server behaviour: health, limits, graceful shutdown, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from registry import pki
from tests.harness import Harness


def test_health_is_serving_over_mtls(registry: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(registry.staff.channel)
    response = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_oversized_and_malformed_requests_do_not_crash(registry: Harness) -> None:
    channel = registry.staff.channel
    call = channel.unary_unary("/dpa.registry.v1.ControllerService/ListControllers")
    with pytest.raises(grpc.RpcError) as err:
        call(b"\x00" * (5 * 1024 * 1024), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as err:
        call(b"\xff\xff\xff", timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Traceback" not in (err.value.details() or "")
    stub = health_pb2_grpc.HealthStub(channel)
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_cli_shuts_down_gracefully_on_sigterm(dev_pki: pki.DevPki, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DPA_DATABASE": f"sqlite:///{tmp_path}/r.db"}
    d = dev_pki.directory
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--tls-cert",
            str(d / "server.crt"),
            "--tls-key",
            str(d / "server.key"),
            "--client-ca",
            str(d / "ca.crt"),
            "--signing-key",
            str(d / "audit-signing.key"),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cert, key = dev_pki.client("staff", "admin")
        creds = grpc.ssl_channel_credentials(
            dev_pki.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes()
        )
        with grpc.secure_channel(f"localhost:{port}", creds) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 30
            while True:
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    break
                except grpc.RpcError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            assert status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "shutting down" in stderr
    assert "Traceback" not in stderr


def test_insecure_requires_the_flag_and_warns(dev_pki: pki.DevPki, tmp_path: Path) -> None:
    from tests import harness

    h = harness.start(dev_pki, f"sqlite:///{tmp_path}/r.db", insecure=True)
    try:
        from dpa_client import RegistryClient

        client = RegistryClient(
            h.target.replace("localhost", "127.0.0.1"),
            insecure_identity="spiffe://7plus.one/staff/admin",
        )
        assert list(client.list_controllers()) == []
        client.close()
    finally:
        h.close()


def test_certs_cli(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "registry.cli", "certs"]
    subprocess.run([*run, "init", "--dir", str(tmp_path)], check=True, capture_output=True)
    out = subprocess.run(
        [*run, "issue", "--dir", str(tmp_path), "--role", "controller", "--name", "acme"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "spiffe://7plus.one/controller/acme" in out
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    assert pki.spiffe_id_of((tmp_path / "controller-acme.crt").read_bytes()) == (
        "spiffe://7plus.one/controller/acme"
    )
    bad = subprocess.run(
        [*run, "issue", "--dir", str(tmp_path), "--role", "controller", "--name", "Bad Name"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
