"""Fixtures: every API test runs against a real mTLS server on SQLite and, when
DPA_TEST_POSTGRES_URL is set, on PostgreSQL too (unreachable is a failure)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import clock, pki
from tests import harness
from tests.delivery_fakes import Mailbox, WebhookReceiver, smtp_server, webhook_receiver


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A CLI run in process configures the root logger onto the stderr
    pytest captured for that test; later tests' server threads would log to
    it after pytest closed it. Each test leaves the root logger as it found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.DevPki:
    return harness.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registry.db"
        return
    if not harness.postgres_url():
        pytest.skip(f"{harness.PG_ENV} not set")
    with harness.postgres_schema() as url:
        yield url


@pytest.fixture
def registry(dev_pki: pki.DevPki, database_url: str) -> Iterator[harness.Harness]:
    h = harness.start(dev_pki, database_url)
    try:
        yield h
    finally:
        h.close()
        clock.reset()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as m:
        yield m


@pytest.fixture
def delivering(
    monkeypatch: pytest.MonkeyPatch, dev_pki: pki.DevPki, database_url: str, mailbox: Mailbox
) -> Iterator[harness.Harness]:
    """A server whose worker retries fast, allows http:// and mails to
    ``mailbox``, with its bounce listener on a free port."""
    bounce_port = harness.free_port()
    for name, value in {
        "DPA_DELIVERY_ALLOW_HTTP": "1",
        # The receivers listen on loopback, which webhooks may not reach otherwise.
        "DPA_DELIVERY_ALLOW_NETWORKS": "127.0.0.0/8",
        "DPA_DELIVERY_MAX_ATTEMPTS": "3",
        "DPA_DELIVERY_BACKOFF_SECONDS": "0.2",
        "DPA_DELIVERY_INTERVAL_SECONDS": "0.05",
        "DPA_SMTP_HOST": "127.0.0.1",
        "DPA_SMTP_PORT": str(mailbox.port),
        "DPA_SMTP_STARTTLS": "0",
        "DPA_SMTP_FROM": "notices@processor.example",
        "DPA_BOUNCE_ADDRESS": "bounces@bounces.processor.example",
        "DPA_BOUNCE_LISTEN": f"127.0.0.1:{bounce_port}",
    }.items():
        monkeypatch.setenv(name, value)
    # The relay hands bounces to the registry's listener (in production: the
    # MX of the bounce domain).
    mailbox.bounce_to = ("127.0.0.1", bounce_port)
    h = harness.start(dev_pki, database_url)
    try:
        yield h
    finally:
        h.close()
        clock.reset()


# Spins until killed, or for at most five minutes on its own (never left behind).
_SPIN = "import time\nend = time.monotonic() + 300\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def busy_cores() -> Iterator[int]:
    """Keeps every core of the machine busy with other processes for the
    test's duration: a test that holds only on a quiet machine fails here."""
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(os.cpu_count() or 2)]
    try:
        yield len(spinners)
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()
