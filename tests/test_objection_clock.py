"""The objection clock of a sub-processor change starts when the notice first
reaches the controller (docs/adr/0018), through the API on each backend, with
a real webhook receiver and a real SMTP server: never delivered, the window
does not begin (and staff see why); delivered late, the deadline moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dpa_client.types import (
    ControllerChange,
    ControllerDecision,
    DeliveryState,
    SubprocessorAuthorizationState,
    SubprocessorStatus,
)
from registry import clock
from registry.audit import store
from registry.subprocessors import core, notices, scheduler, transitions
from registry.subprocessors.types import Decision
from tests import factories, harness
from tests.delivery_fakes import Mailbox, WebhookReceiver, eventually

DAY = timedelta(days=1)
PENDING = SubprocessorAuthorizationState.PENDING
AUTHORIZED = SubprocessorAuthorizationState.AUTHORIZED


def _scheduler_round() -> None:
    """One round of the scheduler (it also runs every second in the server)."""
    transitions.run_due(scheduler.system_caller(harness.TRUST_DOMAIN))


def _change(h: harness.Harness, cid: str) -> ControllerChange:
    (change,) = h.staff.get_subprocessor_list(cid).pending_changes
    return change


def _state(h: harness.Harness, cid: str, sid: str) -> SubprocessorAuthorizationState | None:
    for e in h.staff.get_subprocessor_list(cid).entries:
        if e.subprocessor == f"subprocessors/{sid}":
            return e.state
    return None


def _clock_events(cid: str) -> list[store.AuditEvent]:
    e = store.AuditEvent
    return list(
        e.select()
        .where((e.action == "subprocessor.change.delivered") & (e.tenant == cid))
        .order_by(e.seq)
    )


def _setup(h: harness.Harness) -> None:
    factories.controller(h.staff, "acme")
    factories.dpa_terms_direct("acme", notice_days=10, objection_days=10)
    factories.subprocessor(h.staff, "hostco")


def test_never_delivered_no_window_then_late_delivery_moves_the_deadline(
    delivering: harness.Harness, receiver: WebhookReceiver
) -> None:
    h = delivering
    _setup(h)
    acme = h.client("controller", "acme")
    receiver.status = 503
    acme.subscribe_webhook("acme", receiver.url)
    sent = clock.now()
    notice = h.staff.propose_subprocessor_change("ADDITION", "hostco", effective=sent + 11 * DAY)

    dead = eventually(
        lambda: next(
            (d for d in h.staff.list_deliveries("acme") if d.state == DeliveryState.DEAD_LETTER),
            None,
        ),
        what="dead letter",
    )
    # Never delivered: the period does not start, whatever the time.
    clock.advance(20 * DAY)
    _scheduler_round()
    change = _change(h, "acme")
    assert change.change_notice == notice.name
    assert change.decision == ControllerDecision.PENDING
    assert change.first_delivery_time is None
    assert change.objection_deadline is None
    assert change.notified_time == notice.create_time
    # What staff see: the notice undelivered, the change pending, the
    # sub-processor live (its effective date passed) but not for acme's data.
    assert [n.resource for n in h.staff.list_undelivered_notices("acme")] == [notice.name]
    assert h.staff.get_subprocessor("hostco").status == SubprocessorStatus.ACTIVE
    assert _state(h, "acme", "hostco") == PENDING
    assert not core.may_use("acme", "hostco")
    assert _clock_events("acme") == []

    # The endpoint is fixed and staff redeliver on day 20: the window begins now.
    receiver.status = 200
    h.staff.redeliver(dead.name)
    done = eventually(
        lambda: next(
            (d for d in h.staff.list_deliveries("acme") if d.state == DeliveryState.DELIVERED),
            None,
        ),
        what="redelivery",
    )
    delivered = done.attempts[-1].time
    _scheduler_round()
    change = _change(h, "acme")
    assert change.first_delivery_time == delivered
    assert change.objection_deadline == delivered + 10 * DAY
    proof = acme.notice_evidence(f"controllers/acme/{done.notification}")
    assert proof.first_delivery_time == delivered
    (event,) = _clock_events("acme")
    assert event.resource == notice.name

    # Nine days later the window is still open: acme could still object.
    clock.advance(9 * DAY)
    _scheduler_round()
    assert _state(h, "acme", "hostco") == PENDING
    # After ten days from the delivery (not from sending) it closes.
    clock.advance(DAY + timedelta(seconds=1))
    _scheduler_round()
    assert _state(h, "acme", "hostco") == AUTHORIZED
    assert core.may_use("acme", "hostco")
    assert len(_clock_events("acme")) == 1


def test_accepted_email_starts_the_window(delivering: harness.Harness, mailbox: Mailbox) -> None:
    h = delivering
    _setup(h)
    acme = h.client("controller", "acme")
    acme.subscribe_email("acme", "privacy@acme.example")
    clock.advance(timedelta(hours=1))
    h.staff.propose_subprocessor_change("ADDITION", "hostco", effective=clock.now() + 11 * DAY)
    eventually(mailbox.received, what="the e-mail")
    done = eventually(
        lambda: next(
            (d for d in h.staff.list_deliveries("acme") if d.state == DeliveryState.DELIVERED),
            None,
        ),
        what="e-mail recorded",
    )
    accepted = done.attempts[0].time
    # The server's own scheduler starts the window within a round or two.
    change = eventually(
        lambda: (c := _change(h, "acme")).objection_deadline is not None and c,
        what="the window",
    )
    assert change.first_delivery_time == accepted
    assert change.objection_deadline == accepted + 10 * DAY
    # The controller sees the same deadline in its own view.
    (own,) = acme.get_subprocessor_list("acme").pending_changes
    assert own.objection_deadline == change.objection_deadline


def test_the_rule() -> None:
    sent = datetime(2026, 11, 30, tzinfo=UTC)
    assert notices.objection_deadline(None, 30) is None
    assert notices.objection_deadline(sent, 30) == sent + 30 * DAY
    general, specific = notices.Mode.GENERAL, notices.Mode.SPECIFIC
    # Before the window begins a controller may object (it evidently has the notice).
    assert notices.may_object(Decision.PENDING, general, None, sent)
    assert notices.may_object(Decision.PENDING, general, sent + DAY, sent)
    assert not notices.may_object(Decision.PENDING, general, sent, sent)
    assert notices.may_object(Decision.PENDING, specific, sent, sent + DAY)
    assert not notices.may_object(Decision.AUTHORIZED, general, None, sent)
