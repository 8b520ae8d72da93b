"""Delivery: webhook and e-mail subscriptions, delivery records, redelivery."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from dpa_client._base import BaseClient, new_request_id
from dpa_client.types._convert import wire
from dpa_client.types.delivery import Delivery, NoticeEvidence, Subscription
from dpa_client.types.notifications import Notification
from dpa_registry_api.v1 import delivery_pb2 as pb
from dpa_registry_api.v1 import delivery_pb2_grpc as pb_grpc
from dpa_registry_api.v1 import notifications_pb2 as notifications_pb


def _kinds(kinds: Sequence[str]) -> list[notifications_pb.NotificationKind.ValueType]:
    return [wire(notifications_pb.NotificationKind, k) for k in kinds]


class DeliveryMixin(BaseClient):
    @property
    def _delivery(self) -> pb_grpc.DeliveryServiceStub:
        return pb_grpc.DeliveryServiceStub(self.channel)

    def subscribe_webhook(
        self,
        controller_id: str,
        url: str,
        *,
        kinds: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Subscription:
        """Controller: POSTs each notice (of ``kinds``, e.g. "BREACH"; empty:
        all) to ``url``. Keep the returned ``secret``: it verifies signatures
        (``standardwebhooks.Webhook(secret).verify(body, headers)``)."""
        return self._subscribe(
            controller_id,
            pb.Subscription(channel=pb.DELIVERY_CHANNEL_WEBHOOK, url=url, kinds=_kinds(kinds)),
            request_id,
        )

    def subscribe_email(
        self,
        controller_id: str,
        email: str,
        *,
        kinds: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Subscription:
        """Controller: e-mails each notice (of ``kinds``; empty: all) to ``email``."""
        return self._subscribe(
            controller_id,
            pb.Subscription(channel=pb.DELIVERY_CHANNEL_EMAIL, email=email, kinds=_kinds(kinds)),
            request_id,
        )

    def _subscribe(
        self, controller_id: str, subscription: pb.Subscription, request_id: str | None
    ) -> Subscription:
        request = pb.CreateSubscriptionRequest(
            parent=f"controllers/{controller_id}",
            subscription=subscription,
            request_id=request_id or new_request_id(),
        )
        return Subscription.from_proto(
            self._call(self._delivery.CreateSubscription, request, idempotent=True)
        )

    def list_subscriptions(self, controller_id: str) -> list[Subscription]:
        response: pb.ListSubscriptionsResponse = self._call(
            self._delivery.ListSubscriptions,
            pb.ListSubscriptionsRequest(parent=f"controllers/{controller_id}"),
            idempotent=True,
        )
        return [Subscription.from_proto(v) for v in response.subscriptions]

    def unsubscribe(self, name: str, *, request_id: str | None = None) -> Subscription:
        """Controller: ends the subscription ``controllers/{id}/subscriptions/{sid}``."""
        return Subscription.from_proto(
            self._call(
                self._delivery.DeleteSubscription,
                pb.DeleteSubscriptionRequest(name=name, request_id=request_id or new_request_id()),
                idempotent=True,
            )
        )

    def list_deliveries(
        self, controller_id: str, *, notification: str = "", page_size: int = 100
    ) -> Iterator[Delivery]:
        """Deliveries of the controller's notices, newest first, with attempts."""
        token = ""
        while True:
            page: pb.ListDeliveriesResponse = self._call(
                self._delivery.ListDeliveries,
                pb.ListDeliveriesRequest(
                    parent=f"controllers/{controller_id}",
                    notification=notification,
                    page_size=page_size,
                    page_token=token,
                ),
                idempotent=True,
            )
            yield from (Delivery.from_proto(v) for v in page.deliveries)
            token = page.next_page_token
            if not token:
                return

    def redeliver(self, name: str, *, request_id: str | None = None) -> Delivery:
        """Staff: sends a dead-lettered delivery again (a fresh series of attempts)."""
        return Delivery.from_proto(
            self._call(
                self._delivery.RedeliverDelivery,
                pb.RedeliverDeliveryRequest(name=name, request_id=request_id or new_request_id()),
                idempotent=True,
            )
        )

    def list_undelivered_notices(
        self, controller_id: str, *, page_size: int = 100
    ) -> Iterator[Notification]:
        """Staff: the controller's notices that reached it by no channel."""
        token = ""
        while True:
            page: pb.ListUndeliveredNoticesResponse = self._call(
                self._delivery.ListUndeliveredNotices,
                pb.ListUndeliveredNoticesRequest(
                    parent=f"controllers/{controller_id}", page_size=page_size, page_token=token
                ),
                idempotent=True,
            )
            yield from (Notification.from_proto(v) for v in page.notifications)
            token = page.next_page_token
            if not token:
                return

    def notice_evidence(self, notification: str) -> NoticeEvidence:
        """How ``controllers/{id}/notifications/{n}`` reached its controller
        (stream, inbox acknowledgement, webhook 2xx, e-mail accepted), first
        time each."""
        return NoticeEvidence.from_proto(
            self._call(
                self._delivery.GetNoticeEvidence,
                pb.GetNoticeEvidenceRequest(name=notification),
                idempotent=True,
            )
        )
