"""gRPC servicer for DeliveryService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import delivery_pb2 as pb
from dpa_registry_api.v1 import delivery_pb2_grpc as pb_grpc
from dpa_registry_api.v1 import notifications_pb2 as notifications_pb
from registry import auth, names, paging, rpc, wire
from registry.delivery import deliveries, evidence, subscriptions, types, worker
from registry.errors import InvalidArgument
from registry.notifications import core as inbox
from registry.notifications.servicer import to_proto as notification_to_proto

_KIND_PREFIX = "NOTIFICATION_KIND_"


_ts = wire.timestamp_of


def subscription_to_proto(s: subscriptions.Subscription) -> pb.Subscription:
    webhook = s.channel is types.Channel.WEBHOOK
    return pb.Subscription(
        name=s.name,
        channel=pb.DeliveryChannel.Value(f"DELIVERY_CHANNEL_{s.channel.value}"),
        url=s.target if webhook else "",
        email="" if webhook else s.target,
        kinds=[notifications_pb.NotificationKind.Value(_KIND_PREFIX + k) for k in sorted(s.kinds)],
        secret=s.secret,
        create_time=_ts(s.create_time),
    )


def delivery_to_proto(d: deliveries.Delivery) -> pb.Delivery:
    msg = pb.Delivery(
        name=d.name,
        notification=f"{inbox.COLLECTION}/{d.notification}",
        subscription=f"controllers/{d.controller_id}/{subscriptions.COLLECTION}/{d.subscription_id}",
        channel=pb.DeliveryChannel.Value(f"DELIVERY_CHANNEL_{d.channel.value}"),
        state=pb.DeliveryState.Value(f"DELIVERY_STATE_{d.state.value}"),
        attempts=[
            pb.DeliveryAttempt(
                number=a.number,
                time=_ts(a.time),
                latency_ms=a.latency_ms,
                status_code=a.status_code,
                succeeded=a.succeeded,
                error=a.error,
            )
            for a in d.attempts
        ],
    )
    if d.state is types.State.PENDING:
        msg.next_attempt_time.CopyFrom(_ts(d.next_attempt_time))
    if d.delivered_time is not None:
        msg.delivered_time.CopyFrom(_ts(d.delivered_time))
    return msg


def _channel(value: int) -> types.Channel:
    name = wire.enum_name("subscription.channel", value, pb.DeliveryChannel, "DELIVERY_CHANNEL_")
    if not name or name == "UNSPECIFIED":
        raise InvalidArgument.one("subscription.channel", "is required (WEBHOOK or EMAIL)")
    return types.Channel(name)


def _kinds(values: list[int]) -> list[str]:
    kinds: list[str] = []
    for i, value in enumerate(values):
        field = f"subscription.kinds[{i}]"
        name = wire.enum_name(field, value, notifications_pb.NotificationKind, _KIND_PREFIX)
        if not name or name == "UNSPECIFIED":
            raise InvalidArgument.one(field, "must name a notification kind")
        kinds.append(inbox.Kind(name).value)
    return kinds


class DeliveryService(pb_grpc.DeliveryServiceServicer):
    def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        controller_id = names.parse(request.parent, "controllers", "parent")
        sub = request.subscription
        channel = _channel(sub.channel)
        webhook = channel is types.Channel.WEBHOOK
        if sub.secret:
            raise InvalidArgument.one("subscription.secret", "is chosen by the registry")
        if webhook and sub.email:
            raise InvalidArgument.one("subscription.email", "must be empty for a WEBHOOK")
        if not webhook and sub.url:
            raise InvalidArgument.one("subscription.url", "must be empty for an EMAIL")
        target = sub.url if webhook else sub.email
        kinds = _kinds(list(sub.kinds))
        settings = worker.active_settings()
        return rpc.mutate(
            context,
            auth.current_caller(),
            "CreateSubscription",
            request.request_id,
            request,
            pb.Subscription,
            lambda m: subscription_to_proto(
                subscriptions.create(m, controller_id, channel, target, kinds, settings)
            ),
        )

    def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: grpc.ServicerContext
    ) -> pb.ListSubscriptionsResponse:
        controller_id = names.parse(request.parent, "controllers", "parent")
        found = subscriptions.list_for(auth.current_caller(), controller_id)
        return pb.ListSubscriptionsResponse(subscriptions=[subscription_to_proto(s) for s in found])

    def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: grpc.ServicerContext
    ) -> pb.Subscription:
        controller_id, subscription_id = subscriptions.parse_name(request.name)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "DeleteSubscription",
            request.request_id,
            request,
            pb.Subscription,
            lambda m: subscription_to_proto(
                subscriptions.delete(m, controller_id, subscription_id)
            ),
        )

    def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: grpc.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        controller_id = names.parse(request.parent, "controllers", "parent")
        notification = (
            inbox.parse_name(request.notification, "notification") if request.notification else None
        )
        scope = f"deliveries:{request.parent}:{request.notification}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = deliveries.list_page(
            auth.current_caller(),
            controller_id,
            notification,
            int(page.after) if page.after is not None else None,
            page.size,
        )
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in items],
            next_page_token=page.next_token([str(d.delivery_id) for d in items], scope),
        )

    def RedeliverDelivery(
        self, request: pb.RedeliverDeliveryRequest, context: grpc.ServicerContext
    ) -> pb.Delivery:
        controller_id, delivery_id = deliveries.parse_name(request.name)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "RedeliverDelivery",
            request.request_id,
            request,
            pb.Delivery,
            lambda m: delivery_to_proto(deliveries.redeliver(m, controller_id, delivery_id)),
        )

    def GetNoticeEvidence(
        self, request: pb.GetNoticeEvidenceRequest, context: grpc.ServicerContext
    ) -> pb.NoticeEvidence:
        controller_id, number = evidence.parse_name(request.name)
        found = evidence.of_notice(auth.current_caller(), controller_id, number)
        msg = pb.NoticeEvidence(
            notification=f"controllers/{controller_id}/{found.notice.name}",
            evidence=[
                pb.DeliveryEvidence(
                    channel=pb.DeliveryEvidenceChannel.Value(
                        f"DELIVERY_EVIDENCE_CHANNEL_{e.channel.value}"
                    ),
                    time=_ts(e.time),
                    detail=e.detail,
                )
                for e in found.evidence
            ],
            delivered=found.delivered,
        )
        if found.evidence:
            msg.first_delivery_time.CopyFrom(_ts(found.evidence[0].time))
        return msg

    def ListUndeliveredNotices(
        self, request: pb.ListUndeliveredNoticesRequest, context: grpc.ServicerContext
    ) -> pb.ListUndeliveredNoticesResponse:
        controller_id = names.parse(request.parent, "controllers", "parent")
        scope = f"undelivered:{request.parent}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = deliveries.undelivered(
            auth.current_caller(),
            controller_id,
            int(page.after) if page.after is not None else 0,
            page.size,
        )
        return pb.ListUndeliveredNoticesResponse(
            notifications=[notification_to_proto(n) for n in items],
            next_page_token=page.next_token([str(n.id) for n in items], scope),
        )
