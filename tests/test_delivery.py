"""Delivery through the API: subscriptions, signed webhooks to a real HTTP
receiver, e-mail to a real SMTP server, retries, dead letter, redelivery,
restarts and several workers on one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import re
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from dpa_client import errors
from dpa_client.types import Delivery, DeliveryChannel, DeliveryEvidenceChannel, DeliveryState
from dpa_registry_api.v1 import delivery_pb2 as pb
from registry import clock, ledger, pki
from registry.cli import main as cli_main
from registry.delivery import types, worker
from registry.notifications import core as inbox
from registry.subprocessors import scheduler
from tests import factories, harness
from tests.delivery_fakes import (
    Mailbox,
    WebhookReceiver,
    eventually,
)

DELIVERED = DeliveryState.DELIVERED
DEAD = DeliveryState.DEAD_LETTER


def _setup(h: harness.Harness, *controllers: str) -> None:
    for cid in controllers:
        factories.controller(h.staff, cid)
        factories.dpa_terms_direct(cid, notice_days=10, objection_days=10)
    factories.subprocessor(h.staff, "hostco")


def _propose(h: harness.Harness) -> str:
    notice = h.staff.propose_subprocessor_change(
        "ADDITION", "hostco", effective=clock.now() + timedelta(days=11)
    )
    return str(notice.name)


def _deliveries(h: harness.Harness, cid: str) -> list[Delivery]:
    return list(h.staff.list_deliveries(cid))


def test_webhook_and_email_reach_the_controller(
    delivering: harness.Harness, receiver: WebhookReceiver, mailbox: Mailbox
) -> None:
    h = delivering
    _setup(h, "acme")
    acme = h.client("controller", "acme")
    hook = acme.subscribe_webhook("acme", receiver.url, kinds=["SUBPROCESSOR_CHANGE"])
    assert hook.secret.startswith("whsec_")
    mail = acme.subscribe_email("acme", "privacy@acme.example")
    assert [s.name for s in acme.list_subscriptions("acme")] == [hook.name, mail.name]
    assert all(not s.secret for s in acme.list_subscriptions("acme"))
    notice = _propose(h)

    request = eventually(receiver.requests, what="the webhook")[0]
    payload = Webhook(hook.secret).verify(request.body, request.headers)
    assert payload["data"]["resource"] == notice
    assert payload["data"]["controller"] == "controllers/acme"
    assert isinstance(payload["data"]["audit_index"], int)

    rcpts, raw = eventually(mailbox.received, what="the e-mail")[0]
    assert rcpts == ["privacy@acme.example"]
    parsed = email.message_from_bytes(raw)
    assert not parsed.is_multipart()
    text = parsed.get_payload(decode=True).decode()
    assert notice in text and "http" not in text
    index = re.search(r"Audit log index: (\d+)", text)
    assert index is not None and int(index.group(1)) == payload["data"]["audit_index"]

    done = eventually(
        lambda: (
            [d for d in _deliveries(h, "acme") if d.state == DELIVERED] or None
            if len([d for d in _deliveries(h, "acme") if d.state == DELIVERED]) == 2
            else None
        ),
        what="both deliveries recorded",
    )
    by_channel = {d.channel: d for d in done}
    assert by_channel[DeliveryChannel.WEBHOOK].attempts[0].status_code == 200
    assert by_channel[DeliveryChannel.EMAIL].attempts[0].status_code == 250
    assert all(len(d.attempts) == 1 and d.attempts[0].succeeded for d in done)
    assert list(h.staff.list_undelivered_notices("acme")) == []
    notification = f"controllers/acme/{done[0].notification}"
    proof = acme.notice_evidence(notification)
    assert proof.delivered
    assert {e.channel for e in proof.evidence} == {
        DeliveryEvidenceChannel.WEBHOOK,
        DeliveryEvidenceChannel.EMAIL,
    }
    assert proof.first_delivery_time == proof.evidence[0].time
    with pytest.raises(errors.NotFound):
        h.client("controller", "globex").notice_evidence(notification)
    # The controller sees its own deliveries; another controller does not.
    assert len(list(acme.list_deliveries("acme"))) == 2
    with pytest.raises(errors.NotFound):
        list(h.client("controller", "globex").list_deliveries("acme"))


def test_dead_endpoint_is_dead_lettered_then_redelivered(
    delivering: harness.Harness, receiver: WebhookReceiver, tmp_path: object
) -> None:
    h = delivering
    _setup(h, "acme")
    receiver.status = 503
    acme = h.client("controller", "acme")
    acme.subscribe_webhook("acme", receiver.url)
    notice = _propose(h)

    def dead() -> Delivery | None:
        found = [d for d in _deliveries(h, "acme") if d.state == DEAD]
        return found[0] if found else None

    delivery = eventually(dead, what="dead letter")
    assert [a.status_code for a in delivery.attempts] == [503, 503, 503]
    assert [a.number for a in delivery.attempts] == [1, 2, 3]
    assert len(receiver.requests()) == 3
    # Retries back off: the gaps between attempts grow.
    times = [a.time for a in delivery.attempts]
    assert times[2] - times[1] >= timedelta(seconds=0.4)
    undelivered = list(h.staff.list_undelivered_notices("acme"))
    assert [n.resource for n in undelivered] == [notice]
    with pytest.raises(errors.PermissionDenied):
        acme.redeliver(delivery.name)

    receiver.status = 204
    pk = h.pki
    cert, key = pk.client("staff", "admin")
    assert (
        cli_main(
            [
                "delivery",
                "redeliver",
                delivery.name,
                "--target",
                h.target,
                "--ca",
                str(pk.ca_cert),
                "--cert",
                str(cert),
                "--key",
                str(key),
            ]
        )
        == 0
    )
    again = eventually(
        lambda: next((d for d in _deliveries(h, "acme") if d.state == DELIVERED), None),
        what="redelivery",
    )
    assert [a.status_code for a in again.attempts] == [503, 503, 503, 204]
    assert list(h.staff.list_undelivered_notices("acme")) == []
    with pytest.raises(errors.NotFound):
        h.staff.redeliver("controllers/globex/deliveries/" + again.name.rsplit("/", 1)[1])
    with pytest.raises(errors.InvalidArgument) as bad:
        h.staff.redeliver("deliveries/1")
    assert bad.value.violations[0].field == "name"


def test_bad_subscriptions_name_the_field(delivering: harness.Harness) -> None:
    h = delivering
    _setup(h, "acme")
    acme = h.client("controller", "acme")
    stub = acme._delivery
    cases = [
        (pb.Subscription(), "subscription.channel"),
        (pb.Subscription(channel=pb.DELIVERY_CHANNEL_WEBHOOK), "subscription.url"),
        (pb.Subscription(channel=pb.DELIVERY_CHANNEL_WEBHOOK, url="ftp://x"), "subscription.url"),
        (pb.Subscription(channel=pb.DELIVERY_CHANNEL_EMAIL, email="nope"), "subscription.email"),
        (pb.Subscription(channel=99), "subscription.channel"),
        (
            pb.Subscription(channel=pb.DELIVERY_CHANNEL_EMAIL, email="a@b.example", kinds=[0]),
            "subscription.kinds[0]",
        ),
        (
            pb.Subscription(channel=pb.DELIVERY_CHANNEL_EMAIL, email="a@b.example", secret="x"),
            "subscription.secret",
        ),
    ]
    for sub, field in cases:
        with pytest.raises(errors.InvalidArgument) as err:
            acme._call(
                stub.CreateSubscription,
                pb.CreateSubscriptionRequest(parent="controllers/acme", subscription=sub),
                idempotent=False,
            )
        assert [v.field for v in err.value.violations] == [field], sub
    # Another tenant's controller does not exist for this caller.
    with pytest.raises(errors.NotFound):
        acme.subscribe_email("globex", "x@globex.example")
    with pytest.raises(errors.NotFound):
        h.client("controller", "globex").list_subscriptions("acme")
    made = acme.subscribe_email("acme", "x@acme.example")
    with pytest.raises(errors.NotFound):
        h.client("controller", "globex").unsubscribe(made.name)
    with pytest.raises(errors.InvalidArgument) as bad:
        acme.unsubscribe("subscriptions/x")
    assert bad.value.violations[0].field == "name"
    acme.unsubscribe(made.name)
    assert acme.list_subscriptions("acme") == []
    with pytest.raises(errors.FailedPrecondition):
        acme.unsubscribe(made.name)


def _notify(n: int, controller_id: str = "acme") -> None:
    """``n`` notices to the controller, one mutation each (as the domains do)."""
    caller = scheduler.system_caller(harness.TRUST_DOMAIN)

    def apply(m: ledger.Mutation) -> None:
        inbox.notify(m, [controller_id], inbox.Kind.GENERAL, "Test notice", "Body", "test/x", {})

    for _ in range(n):
        ledger.mutate(caller, "Test/Notify", "", "", ledger.NOTHING, apply)


def test_several_workers_deliver_each_notice_once(
    delivering: harness.Harness, receiver: WebhookReceiver
) -> None:
    h = delivering
    factories.controller(h.staff, "acme")
    h.client("controller", "acme").subscribe_webhook("acme", receiver.url)
    settings = worker.active_settings()
    extra = [worker.Worker(harness.TRUST_DOMAIN, settings) for _ in range(2)]
    for w in extra:
        w.start()
    try:
        for _ in range(5):
            _notify(8)
        eventually(lambda: len(receiver.requests()) >= 40, what="40 webhooks")
        ids = [r.headers["webhook-id"] for r in receiver.requests()]
        done = eventually(
            lambda: (
                (d := _deliveries(h, "acme"))
                and all(x.state == DELIVERED for x in d)
                and len(d) == 40
                and d
            ),
            what="all recorded",
        )
    finally:
        for w in extra:
            w.stop()
    assert len(ids) == len(set(ids)) == 40
    assert all(len(d.attempts) == 1 for d in done)


def test_pending_delivery_survives_a_restart(
    delivering: harness.Harness, receiver: WebhookReceiver, dev_pki: pki.DevPki
) -> None:
    h = delivering
    factories.controller(h.staff, "acme")
    h.client("controller", "acme").subscribe_webhook("acme", receiver.url)
    receiver.status = 500
    _notify(1)
    eventually(lambda: len(receiver.requests()) >= 1, what="first attempt")
    h.close()
    receiver.status = 200
    restarted = harness.start(dev_pki, h.database)
    try:
        done = eventually(
            lambda: next((d for d in _deliveries(restarted, "acme") if d.state == DELIVERED), None),
            what="delivery after restart",
        )
    finally:
        restarted.close()
    assert [a.status_code for a in done.attempts][-1] == 200
    assert done.attempts[0].status_code == 500


def test_retry_schedule_is_exponential_and_ends() -> None:
    s = types.Settings(max_attempts=4, backoff_seconds=10, max_backoff_seconds=25)
    now = clock.now()
    gaps = [types.next_attempt(s, n, now) for n in (1, 2, 3, 4)]
    assert [(g - now).total_seconds() if g else None for g in gaps] == [10, 20, 25, None]


def test_urls_must_be_https_unless_allowed() -> None:
    with pytest.raises(Exception, match="https"):
        types.check_url("http://example.com/x", False, "subscription.url")
    assert types.check_url("http://127.0.0.1:9/x", True, "f")
    for bad in ("https://user:pw@example.com/", "https:///nohost", "https://x.example/#f"):
        with pytest.raises(Exception, match="host"):
            types.check_url(bad, False, "f")


def test_stream_and_acknowledgement_are_evidence(delivering: harness.Harness) -> None:
    h = delivering
    _setup(h, "acme", "globex")
    acme = h.client("controller", "acme")
    watch = acme.watch_notifications()

    def channels() -> set[int]:
        return {e.channel for e in acme.notice_evidence(name).evidence}

    try:
        _propose(h)
        streamed = next(watch)
        name = f"controllers/acme/notifications/{streamed.id}"
        # The server records the hand-over once the message has gone out.
        eventually(lambda: DeliveryEvidenceChannel.STREAM in channels(), what="stream evidence")
    finally:
        watch.cancel()
    acme.acknowledge_notification(streamed.id)
    assert channels() == {
        DeliveryEvidenceChannel.STREAM,
        DeliveryEvidenceChannel.INBOX_ACK,
    }
    # globex neither watched nor acknowledged: its notice is undelivered.
    undelivered = list(h.staff.list_undelivered_notices("globex"))
    assert [n.resource for n in undelivered] == [streamed.resource]
    assert not h.staff.notice_evidence(
        f"controllers/globex/notifications/{undelivered[0].id}"
    ).delivered
    with pytest.raises(errors.InvalidArgument) as bad:
        h.staff.notice_evidence(f"notifications/{undelivered[0].id}")
    assert bad.value.violations[0].field == "name"
    assert list(h.staff.list_undelivered_notices("acme")) == []


def test_internal_addresses_are_refused_unless_allowed() -> None:
    loopback = types.networks("127.0.0.0/8")
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "::1",
        "169.254.169.254",
        "100.64.0.1",
        "fd00::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "0.0.0.0",
    ):
        assert not types.address_allowed(address, ()), address
    assert types.address_allowed("93.184.215.14", ())
    assert types.address_allowed("2606:2800:220:1:248:1893:25c8:1946", ())
    assert types.address_allowed("127.0.0.5", loopback)
    assert types.address_allowed("::ffff:127.0.0.1", loopback)
    assert not types.address_allowed("::1", loopback)


def test_fan_out_over_many_batches_routes_only_subscribed_inboxes(
    delivering: harness.Harness, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A breach's ten thousand notices, in small: more notices than one
    fan-out batch, most to controllers without a subscription. Exactly the
    subscribed controller's notices become deliveries, each once."""
    from registry.delivery import deliveries

    monkeypatch.setattr(deliveries, "FANOUT_BATCH", 7)
    h = delivering
    for cid in ("acme", "globex", "initech"):
        factories.controller(h.staff, cid)
    h.client("controller", "globex").subscribe_webhook("globex", receiver.url, kinds=["GENERAL"])
    caller = scheduler.system_caller(harness.TRUST_DOMAIN)

    def apply(m: ledger.Mutation) -> None:
        for _ in range(4):
            inbox.notify(
                m, ["acme", "globex", "initech"], inbox.Kind.GENERAL, "T", "B", "test/x", {}
            )
        inbox.notify(m, ["globex"], inbox.Kind.BREACH, "Not wanted", "B", "test/y", {})

    ledger.mutate(caller, "Test/Notify", "", "", ledger.NOTHING, apply)
    done = eventually(
        lambda: (
            (d := _deliveries(h, "globex"))
            and len(d) >= 4
            and all(x.state == DELIVERED for x in d)
            and d
        ),
        what="globex's four notices delivered",
    )
    told = inbox.list_page(
        caller, controller_id="globex", after_id=0, size=10, unacknowledged_only=False
    )
    wanted = [n.name for n in told if n.kind is inbox.Kind.GENERAL]
    assert sorted(d.notification for d in done) == sorted(wanted) and len(wanted) == 4
    assert _deliveries(h, "acme") == [] and _deliveries(h, "initech") == []
