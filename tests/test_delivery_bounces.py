"""Bounces read back over a real SMTP exchange: the relay (aiosmtpd) accepts
a notice e-mail, then, like a relay whose next hop refused it, sends a DSN
(RFC 3464) to the envelope sender, which is the registry's bounce listener.
On each backend: a permanent bounce withdraws the delivery and its evidence
(the objection clock does not start), a transient one is retried, forged or
unrelated mail changes nothing."""

from __future__ import annotations

import re
import smtplib

import pytest

from dpa_client.types import Delivery, DeliveryState
from registry.audit import store
from registry.delivery import bounces
from tests import harness
from tests.delivery_fakes import Mailbox, dsn, eventually
from tests.test_objection_clock import _change, _scheduler_round, _setup

VERP = re.compile(r"bounces\+d(\d+)\.a(\d+)\.([0-9a-f]{16})@bounces\.processor\.example")


def _delivery(h: harness.Harness, state: DeliveryState) -> Delivery | None:
    return next((d for d in h.staff.list_deliveries("acme") if d.state == state), None)


def _propose(h: harness.Harness) -> str:
    from datetime import timedelta

    from registry import clock

    notice = h.staff.propose_subprocessor_change(
        "ADDITION", "hostco", effective=clock.now() + timedelta(days=11)
    )
    return str(notice.name)


def test_permanent_bounce_withdraws_the_delivery(
    delivering: harness.Harness, mailbox: Mailbox
) -> None:
    h = delivering
    _setup(h)
    mailbox.bounce["gone@acme.example"] = "5.1.1"
    acme = h.client("controller", "acme")
    acme.subscribe_email("acme", "gone@acme.example")
    notice = _propose(h)

    eventually(mailbox.received, what="the e-mail")
    sender = mailbox.envelope_senders[0]
    assert VERP.fullmatch(sender), sender
    dead = eventually(lambda: _delivery(h, DeliveryState.DEAD_LETTER), what="the bounce")
    accepted, bounced = dead.attempts
    assert accepted.succeeded and accepted.status_code == 250
    assert not bounced.succeeded and bounced.status_code == 550
    assert bounced.error == "bounced: 5.1.1 (permanent) reported by relay.test"
    assert "@" not in bounced.error

    # The relay records the server's reply after the server has acted on the
    # bounce: on a busy machine the state above can be seen first.
    def final_reply() -> int | None:  # the relay retries a 4xx reply
        replies = list(mailbox.bounce_replies)
        return replies[-1][0] if replies and not 400 <= replies[-1][0] < 500 else None

    assert eventually(final_reply, what="the final reply to the bounce") == 250
    # No evidence is left: the notice reached acme by no channel.
    name = f"controllers/acme/{dead.notification}"
    assert not acme.notice_evidence(name).delivered
    assert [n.resource for n in h.staff.list_undelivered_notices("acme")] == [notice]
    # ... so its objection period has not begun.
    _scheduler_round()
    assert _change(h, "acme").objection_deadline is None
    # The bounce is an audit event on the delivery (its change, with the DSN's
    # digest, is committed to by the log), without the address.
    e = store.AuditEvent
    (event,) = e.select().where(e.action == "delivery.bounce")
    assert event.resource == dead.name and event.tenant == "acme"
    assert b"gone@" not in bytes(event.body)
    # Staff redeliver after the controller fixed its address: a new series.
    mailbox.bounce.clear()
    h.staff.redeliver(dead.name)
    again = eventually(lambda: _delivery(h, DeliveryState.DELIVERED), what="redelivery")
    assert [a.status_code for a in again.attempts] == [250, 550, 250]
    assert acme.notice_evidence(name).delivered


def test_bounce_after_the_window_began_takes_it_back(
    delivering: harness.Harness, mailbox: Mailbox
) -> None:
    """The relay accepts; the window begins from that; a late bounce arrives
    (sent by hand, as a relay would after its own retries): the window is
    withdrawn, and the transient failure is retried."""
    h = delivering
    _setup(h)
    acme = h.client("controller", "acme")
    acme.subscribe_email("acme", "slow@acme.example")
    _propose(h)
    eventually(lambda: _delivery(h, DeliveryState.DELIVERED), what="accepted")
    _scheduler_round()
    assert _change(h, "acme").objection_deadline is not None
    # The relay's next hop gave up for now (mailbox full): a transient failure.
    mailbox.bounce["slow@acme.example"] = "4.2.2"
    (rcpts, content), sender = mailbox.received()[0], mailbox.envelope_senders[0]
    report = dsn(sender, rcpts[0], content, status="4.2.2")
    with smtplib.SMTP(*mailbox.bounce_to or ("", 0), timeout=60) as smtp:
        smtp.ehlo("relay.test")
        smtp.mail("")
        smtp.rcpt(sender)
        assert smtp.data(report)[0] == 250
    _scheduler_round()
    change = _change(h, "acme")
    assert change.objection_deadline is None
    assert change.first_delivery_time is None
    # Retried with backoff; this time the relay bounces at once, and again...
    # until the dead letter after the last attempt (3 in these tests).
    dead = eventually(lambda: _delivery(h, DeliveryState.DEAD_LETTER), what="dead letter")
    # Each accepted attempt is followed by its bounce; the third ends it.
    codes = [(a.status_code, a.succeeded) for a in dead.attempts]
    assert codes == [(250, True), (452, False)] * 3
    assert dead.attempts[-1].error == "bounced: 4.2.2 (transient) reported by relay.test"


def test_forged_and_unrelated_mail_change_nothing(
    delivering: harness.Harness, mailbox: Mailbox
) -> None:
    h = delivering
    _setup(h)
    acme = h.client("controller", "acme")
    acme.subscribe_email("acme", "privacy@acme.example")
    _propose(h)
    delivered = eventually(lambda: _delivery(h, DeliveryState.DELIVERED), what="accepted")
    sender = mailbox.envelope_senders[0]
    found = VERP.fullmatch(sender)
    assert found is not None
    forged = sender.replace(found.group(3), "0" * 16)
    assert mailbox.bounce_to is not None
    with smtplib.SMTP(*mailbox.bounce_to, timeout=60) as smtp:
        smtp.ehlo("relay.test")
        smtp.mail("")
        # A wrong token, another domain, a stranger: refused at RCPT.
        for rcpt in (forged, "bounces@bounces.processor.example", "postmaster@example.com"):
            assert smtp.rcpt(rcpt)[0] == 550, rcpt
        # The right address, but an out-of-office reply: accepted, ignored.
        assert smtp.rcpt(sender)[0] == 250
        assert smtp.data(b"Subject: Out of office\r\n\r\nBack on Monday.\r\n")[0] == 250
    (after,) = h.staff.list_deliveries("acme")
    assert after.state == DeliveryState.DELIVERED
    assert list(after.attempts) == list(delivered.attempts)


# -- the pure rules -------------------------------------------------------------------


def test_verp_addresses_round_trip() -> None:
    base = "Bounces@Bounces.Processor.example"
    address = bounces.verp_address(base, 42, 3, "ab" * 8)
    assert address == "Bounces+d42.a3." + "ab" * 8 + "@Bounces.Processor.example"
    assert bounces.parse_address(base, f"<{address.upper()}>") == bounces.Address(42, 3, "ab" * 8)
    for bad in (
        "bounces@bounces.processor.example",
        "bounces+d42.a3.xyz@bounces.processor.example",
        "bounces+d42.a3." + "ab" * 8 + "@evil.example",
        "other+d1.a1." + "ab" * 8 + "@bounces.processor.example",
    ):
        assert bounces.parse_address(base, bad) is None, bad


@pytest.mark.parametrize(
    ("status", "action", "kind", "code"),
    [
        ("5.1.1", "failed", bounces.Kind.PERMANENT, 550),
        ("4.2.2", "failed", bounces.Kind.TRANSIENT, 452),
        ("4.4.7", "delayed", None, 0),
        ("2.0.0", "delivered", None, 0),
    ],
)
def test_dsn_parsing(status: str, action: str, kind: bounces.Kind | None, code: int) -> None:
    raw = dsn(
        "b+d1.a1.x@b.example", "x@acme.example", b"Subject: s\r\n\r\n", status=status, action=action
    )
    found = bounces.parse(raw)
    if kind is None:
        assert found is None
        return
    assert found is not None
    assert (found.kind, found.status, found.smtp_code, found.reporting_mta) == (
        kind,
        status,
        code,
        "relay.test",
    )
    assert bounces.parse(b"Subject: hello\r\n\r\nnot a report\r\n") is None
