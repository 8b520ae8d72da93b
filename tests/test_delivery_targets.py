"""Webhook targets: resolved once, checked, and connected to exactly the
checked address (DNS rebinding cannot redirect a delivery into the
processor's network), with the URL's name in ``Host`` and TLS SNI. Real HTTP
and HTTPS receivers; the resolver is replaced by one that answers like a
rebinding DNS server (the system resolver is used where a real name does)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dpa_client.types import DeliveryState
from registry import clock
from registry.delivery import deliveries, senders, types
from tests import harness
from tests.delivery_fakes import (
    WebhookReceiver,
    eventually,
    tls_files,
    webhook_receiver,
)
from tests.test_objection_clock import _setup

LOCAL = types.networks("127.0.0.1/32")


class RebindingDns:
    """Answers each name from a script, one answer per lookup (the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        script = self.answers.get(host)
        if not script:
            raise OSError(f"no such host {host}")
        return script.pop(0) if len(script) > 1 else script[0]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[RebindingDns]:
    fake = RebindingDns({})
    monkeypatch.setattr(senders, "resolver", fake)
    yield fake


def _work(url: str) -> deliveries.Work:
    notice = types.Notice(
        id=1,
        controller_id="acme",
        kind="GENERAL",
        title="t",
        body="b",
        resource="test/x",
        create_time=clock.now(),
        audit_index=1,
    )
    return deliveries.Work(
        delivery_id=7,
        channel=types.Channel.WEBHOOK,
        target=url,
        secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        attempt=1,
        number=1,
        bounce_token="",
        notice=notice,
    )


def _settings(**kw: object) -> types.Settings:
    base: dict[str, object] = {"allow_http": True, "allow_networks": LOCAL, "timeout_seconds": 10}
    return types.Settings(**{**base, **kw})  # type: ignore[arg-type]


def test_the_checked_address_is_the_one_connected(dns: RebindingDns) -> None:
    with webhook_receiver() as receiver:
        # First answer: the allowed address; every later one: an internal host.
        dns.answers["hooks.test"] = [["127.0.0.1"], ["10.0.0.7"]]
        url = f"http://hooks.test:{receiver.port}/hook?x=1"
        sent = senders.send_webhook(_work(url), _settings())
        assert (sent.status_code, sent.error) == (200, "")
        assert dns.lookups == ["hooks.test"], "resolved once per attempt, not again to connect"
        (got,) = receiver.requests()
        assert got.headers["host"] == f"hooks.test:{receiver.port}"
        assert got.path == "/hook?x=1"
        # The next attempt resolves again: the new answer is checked, and refused.
        again = senders.send_webhook(_work(url), _settings())
        assert again.status_code == 0
        assert again.error == "refused: the host resolves to a non-public address"
        assert len(receiver.requests()) == 1


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.2"],  # loopback outside the allow-list
        ["10.0.0.5"],
        ["192.168.1.10"],
        ["169.254.169.254"],  # cloud metadata
        ["::1"],
        ["::ffff:10.0.0.1"],
        ["93.184.215.14", "172.16.0.1"],  # one forbidden answer refuses the name
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused(
    dns: RebindingDns, answer: list[str]
) -> None:
    with webhook_receiver() as receiver:
        dns.answers["internal.test"] = [answer]
        sent = senders.send_webhook(
            _work(f"http://internal.test:{receiver.port}/hook"), _settings()
        )
        assert sent.status_code == 0
        assert sent.error == "refused: the host resolves to a non-public address"
        assert receiver.requests() == []


def test_the_system_resolver_is_checked_too(receiver: WebhookReceiver) -> None:
    """``localhost`` through the real resolver: refused without an allow-list."""
    url = f"http://localhost:{receiver.port}/hook"
    refused = senders.send_webhook(_work(url), _settings(allow_networks=()))
    assert refused.error == "refused: the host resolves to a non-public address"
    allowed = senders.send_webhook(
        _work(url), _settings(allow_networks=types.networks("127.0.0.0/8"))
    )
    assert allowed.status_code == 200
    assert len(receiver.requests()) == 1


def test_https_to_the_pinned_address_keeps_sni_and_verification(
    dns: RebindingDns, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path, "hooks.test")
    with webhook_receiver(tls) as receiver:
        dns.answers["hooks.test"] = [["127.0.0.1"]]
        dns.answers["other.test"] = [["127.0.0.1"]]
        settings = _settings(allow_http=False, ca_file=str(tls.ca))
        sent = senders.send_webhook(_work(f"https://hooks.test:{receiver.port}/hook"), settings)
        assert (sent.status_code, sent.error) == (200, "")
        assert receiver.sni == ["hooks.test"]
        assert receiver.requests()[0].headers["host"] == f"hooks.test:{receiver.port}"
        # Connecting by address does not weaken the certificate check: a name
        # the certificate does not carry fails, though it reaches the same socket.
        wrong = senders.send_webhook(_work(f"https://other.test:{receiver.port}/hook"), settings)
        assert wrong.status_code == 0 and wrong.error == "SSLCertVerificationError"
        assert len(receiver.requests()) == 1


def test_the_worker_refuses_a_rebound_target(
    delivering: harness.Harness, receiver: WebhookReceiver, dns: RebindingDns
) -> None:
    """Through the API: a controller's webhook whose name resolves into the
    processor's network is never called; each attempt says why, and the
    delivery ends in the dead letter like any dead endpoint."""
    h = delivering
    _setup(h)
    dns.answers["hooks.acme.test"] = [["10.20.30.40"]]
    acme = h.client("controller", "acme")
    acme.subscribe_webhook("acme", f"http://hooks.acme.test:{receiver.port}/hook")
    notice = h.staff.propose_subprocessor_change(
        "ADDITION", "hostco", effective=clock.now() + timedelta(days=11)
    )
    dead = eventually(
        lambda: next(
            (d for d in h.staff.list_deliveries("acme") if d.state == DeliveryState.DEAD_LETTER),
            None,
        ),
        what="dead letter",
    )
    assert [(a.status_code, a.error) for a in dead.attempts] == [
        (0, "refused: the host resolves to a non-public address")
    ] * 3
    assert receiver.requests() == []
    assert [n.resource for n in h.staff.list_undelivered_notices("acme")] == [notice.name]
