"""Bounces read back into deliveries: a bounced e-mail attempt is a failed
attempt, with the DSN's digest in the audit log; if it bounced the attempt
that delivered, the delivery is no longer delivered and its e-mail evidence
(which starts an objection window, docs/adr/0018) is withdrawn. The listener
that receives the reports is ``registry.delivery.inbound``.
"""

from __future__ import annotations

import hmac

from registry import ledger
from registry.auth import Caller
from registry.delivery import bounces, evidence, subscriptions, types
from registry.delivery.deliveries import COLLECTION
from registry.delivery.model import AttemptRow, DeliveryRow, EvidenceRow
from registry.ledger import Mutation


def bounce_target(address: bounces.Address) -> bool:
    """The listener's check at RCPT time: an e-mail delivery with this token."""
    row = DeliveryRow.get_or_none(DeliveryRow.id == address.delivery_id)
    return (
        row is not None
        and row.channel == types.Channel.EMAIL.value
        and bool(row.bounce_token)
        and hmac.compare_digest(row.bounce_token, address.token)
    )


def _email_evidence(controller_id: str, number: int) -> None:
    """The notice's EMAIL evidence again from its e-mail deliveries still
    DELIVERED (another recipient may have received it): none, if none is."""
    EvidenceRow.delete().where(
        (EvidenceRow.controller_id == controller_id)
        & (EvidenceRow.notification == number)
        & (EvidenceRow.channel == types.Evidence.EMAIL.value)
    ).execute()
    other = (
        DeliveryRow.select()
        .where(
            (DeliveryRow.controller_id == controller_id)
            & (DeliveryRow.notification == number)
            & (DeliveryRow.channel == types.Channel.EMAIL.value)
            & (DeliveryRow.state == types.State.DELIVERED.value)
            & DeliveryRow.delivered_time.is_null(False)
        )
        .order_by(DeliveryRow.delivered_time)
        .first()
    )
    if other is not None:
        evidence.record(
            controller_id,
            number,
            types.Evidence.EMAIL,
            other.delivered_time,
            f"controllers/{controller_id}/{subscriptions.COLLECTION}/"
            f"{other.subscription_id} answered 250",
        )


class _NoSuchDelivery(Exception):
    """Roll back: the bounce names no delivery of ours."""


class BounceTooEarly(Exception):
    """The bounced attempt is still being sent or recorded: try again shortly
    (the listener answers 451 after a few seconds; the MTA retries)."""


def record_bounce(
    caller: Caller, address: bounces.Address, report: bounces.Bounce, settings: types.Settings
) -> types.State | None:
    """Stores a bounce of one e-mail attempt as a failed attempt, with the
    DSN's digest as evidence in the audit log; one audit event. If it bounces
    the attempt that delivered, the delivery is no longer delivered: its
    e-mail evidence is withdrawn, and it is retried with backoff (a transient
    failure) or dead-lettered at once (a permanent one: the same address
    would bounce again) for staff to redeliver. Returns the delivery's state;
    None if the address names no such delivery."""

    def apply(m: Mutation) -> None:
        row = DeliveryRow.get_or_none(DeliveryRow.id == address.delivery_id)
        if row is None or not hmac.compare_digest(row.bounce_token or "-", address.token):
            raise _NoSuchDelivery
        recorded = AttemptRow.select().where(AttemptRow.delivery_id == row.id).count()
        leased = row.lease_owner is not None and row.lease_until and row.lease_until > m.now
        if leased or recorded < address.attempt:
            raise BounceTooEarly
        last_ok = (
            AttemptRow.select(AttemptRow.number)
            .where((AttemptRow.delivery_id == row.id) & AttemptRow.succeeded)
            .order_by(AttemptRow.number.desc())
            .scalar()
        )
        withdrawn = row.state == types.State.DELIVERED.value and last_ok == address.attempt
        state = types.State(row.state)
        if withdrawn:
            attempts = int(row.attempts)
            retry_at = (
                types.next_attempt(settings, attempts, m.now)
                if report.kind is bounces.Kind.TRANSIENT
                else None
            )
            state = types.State.PENDING if retry_at is not None else types.State.DEAD_LETTER
            DeliveryRow.update(
                state=state.value,
                next_attempt_time=retry_at or row.next_attempt_time,
                delivered_time=None,
            ).where(
                (DeliveryRow.id == row.id) & (DeliveryRow.state == types.State.DELIVERED.value)
            ).execute()
            _email_evidence(row.controller_id, int(row.notification))
        number = recorded + 1
        AttemptRow.create(
            delivery_id=row.id,
            number=number,
            time=m.now,
            latency_ms=0,
            status_code=report.smtp_code,
            succeeded=False,
            error=bounces.describe(report)[:500],
        )
        m.record(
            "delivery.bounce",
            f"controllers/{row.controller_id}/{COLLECTION}/{row.id}",
            row.controller_id,
            {
                "notification": int(row.notification),
                "subscription": row.subscription_id,
                "bounced_attempt": address.attempt,
                "attempt": number,
                "status": report.status,
                "smtp_code": report.smtp_code,
                "kind": report.kind.value,
                "reporting_mta": report.reporting_mta,
                "dsn": report.digest,
                "withdrew_delivery": withdrawn,
                "state": state.value,
            },
        )
        result[0] = state

    result: list[types.State | None] = [None]
    try:
        ledger.mutate(caller, "Delivery/Bounce", "", "", ledger.NOTHING, apply)
    except _NoSuchDelivery:
        return None
    return result[0]
