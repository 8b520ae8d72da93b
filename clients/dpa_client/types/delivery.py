"""Notification delivery: subscriptions, deliveries and their evidence.

Frozen values built from the wire messages of ``delivery.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dpa_client.types._convert import enum_of, time_of
from dpa_client.types.notifications import NotificationKind
from dpa_registry_api.v1 import delivery_pb2 as pb
from dpa_registry_api.v1 import notifications_pb2 as notifications_pb


class DeliveryChannel(StrEnum):
    """Delivery channel."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    WEBHOOK = "WEBHOOK"
    """An HTTPS POST signed per the Standard Webhooks specification."""
    EMAIL = "EMAIL"
    """A plain-text e-mail through the processor's SMTP relay."""


class DeliveryState(StrEnum):
    """Delivery state."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    PENDING = "PENDING"
    """Waiting for its next attempt."""
    DELIVERED = "DELIVERED"
    """A webhook answered 2xx, or the SMTP relay accepted the mail."""
    DEAD_LETTER = "DEAD_LETTER"
    """Every attempt failed; staff may redeliver."""
    CANCELLED = "CANCELLED"
    """The subscription ended before the notice was delivered."""


class DeliveryEvidenceChannel(StrEnum):
    """Delivery evidence channel."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    STREAM = "STREAM"
    """Handed to the controller's open WatchNotifications stream."""
    INBOX_ACK = "INBOX_ACK"
    """Acknowledged by the controller in its inbox."""
    WEBHOOK = "WEBHOOK"
    """A subscribed webhook answered 2xx."""
    EMAIL = "EMAIL"
    """The SMTP relay accepted the e-mail to a subscribed recipient."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A webhook or e-mail subscription of a controller to its notices."""

    name: str
    """"controllers/{controller_id}/subscriptions/{subscription_id}"."""
    channel: DeliveryChannel
    url: str
    """WEBHOOK: the https:// URL that receives the POST."""
    email: str
    """EMAIL: the recipient address."""
    kinds: tuple[NotificationKind, ...]
    """The notice kinds wanted; empty means every kind."""
    secret: str
    """WEBHOOK: "whsec_..." signing secret; only in CreateSubscription's response."""
    create_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.Subscription) -> Subscription:
        """The value of a ``dpa.registry.v1.Subscription`` message."""
        return cls(
            name=msg.name,
            channel=enum_of(DeliveryChannel, pb.DeliveryChannel, msg.channel),
            url=msg.url,
            email=msg.email,
            kinds=tuple(
                enum_of(NotificationKind, notifications_pb.NotificationKind, v) for v in msg.kinds
            ),
            secret=msg.secret,
            create_time=time_of(msg, "create_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One attempt to deliver a notice over a subscription."""

    number: int
    """1, 2, ... within the delivery."""
    time: datetime | None
    latency_ms: int
    status_code: int
    """WEBHOOK: the HTTP status (0: no response); EMAIL: the SMTP reply code."""
    succeeded: bool
    error: str
    """Why it failed, without personal data."""

    @classmethod
    def from_proto(cls, msg: pb.DeliveryAttempt) -> DeliveryAttempt:
        """The value of a ``dpa.registry.v1.DeliveryAttempt`` message."""
        return cls(
            number=msg.number,
            time=time_of(msg, "time"),
            latency_ms=msg.latency_ms,
            status_code=msg.status_code,
            succeeded=msg.succeeded,
            error=msg.error,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """The delivery of one notice over one subscription, with its attempts."""

    name: str
    """"controllers/{controller_id}/deliveries/{delivery_id}"."""
    notification: str
    """"notifications/{n}": notice n of the controller's inbox."""
    subscription: str
    """"controllers/{controller_id}/subscriptions/{subscription_id}"."""
    channel: DeliveryChannel
    state: DeliveryState
    attempts: tuple[DeliveryAttempt, ...]
    next_attempt_time: datetime | None
    delivered_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.Delivery) -> Delivery:
        """The value of a ``dpa.registry.v1.Delivery`` message."""
        return cls(
            name=msg.name,
            notification=msg.notification,
            subscription=msg.subscription,
            channel=enum_of(DeliveryChannel, pb.DeliveryChannel, msg.channel),
            state=enum_of(DeliveryState, pb.DeliveryState, msg.state),
            attempts=tuple(DeliveryAttempt.from_proto(v) for v in msg.attempts),
            next_attempt_time=time_of(msg, "next_attempt_time"),
            delivered_time=time_of(msg, "delivered_time"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryEvidence:
    """One way a notice reached its controller, first time."""

    channel: DeliveryEvidenceChannel
    time: datetime | None
    detail: str
    """Which subscription, and its answer."""

    @classmethod
    def from_proto(cls, msg: pb.DeliveryEvidence) -> DeliveryEvidence:
        """The value of a ``dpa.registry.v1.DeliveryEvidence`` message."""
        return cls(
            channel=enum_of(DeliveryEvidenceChannel, pb.DeliveryEvidenceChannel, msg.channel),
            time=time_of(msg, "time"),
            detail=msg.detail,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeEvidence:
    """Every way a notice reached its controller: the proof it was given."""

    notification: str
    """"controllers/{controller_id}/notifications/{n}"."""
    evidence: tuple[DeliveryEvidence, ...]
    """Oldest first; empty: the notice has reached its controller by no channel."""
    delivered: bool
    first_delivery_time: datetime | None
    """The first evidence's time; unset when not delivered."""

    @classmethod
    def from_proto(cls, msg: pb.NoticeEvidence) -> NoticeEvidence:
        """The value of a ``dpa.registry.v1.NoticeEvidence`` message."""
        return cls(
            notification=msg.notification,
            evidence=tuple(DeliveryEvidence.from_proto(v) for v in msg.evidence),
            delivered=msg.delivered,
            first_delivery_time=time_of(msg, "first_delivery_time"),
        )
