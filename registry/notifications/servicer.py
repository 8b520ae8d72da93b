"""gRPC servicer for NotificationService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf.struct_pb2 import Struct

from dpa_registry_api.v1 import notifications_pb2 as pb
from dpa_registry_api.v1 import notifications_pb2_grpc as pb_grpc
from registry import auth, db, errors, names, paging, rpc, wire
from registry.errors import InvalidArgument
from registry.notifications import core, hub
from registry.streams import fanout

BACKLOG_BATCH = 500
IDLE_WAIT_SECONDS = 1.0
"""How often an idle Watch re-checks that its client is still there."""
# Watch streams read their backlog on a short-lived connection, a few at a
# time, so a thousand watchers do not hold a thousand database connections.
_BACKLOG_SLOTS = threading.BoundedSemaphore(8)


_ts = wire.timestamp_of


def to_proto(n: core.Notification) -> pb.Notification:
    payload = Struct()
    payload.update(dict(n.payload))
    msg = pb.Notification(
        name=n.name,
        id=n.id,
        controller=f"controllers/{n.controller_id}",
        kind=pb.NotificationKind.Value(f"NOTIFICATION_KIND_{n.kind.value}"),
        title=n.title,
        body=n.body,
        resource=n.resource,
        payload=payload,
        create_time=_ts(n.create_time),
        acknowledged=n.ack_time is not None,
    )
    if n.ack_time is not None:
        msg.acknowledge_time.CopyFrom(_ts(n.ack_time))
    return msg


def _page_scope(parent: str, unacknowledged: bool, after: int) -> str:
    return f"notifications:{parent}:{int(unacknowledged)}:{after}"


class NotificationService(pb_grpc.NotificationServiceServicer):
    def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: grpc.ServicerContext
    ) -> pb.ListNotificationsResponse:
        caller = auth.current_caller()
        controller_id = (
            names.parse(request.parent, "controllers", "parent") if request.parent else ""
        )
        if request.after < 0:
            raise InvalidArgument.one("after", "must not be negative")
        one_inbox = bool(controller_id) or caller.tenant is not None
        if request.after and not one_inbox:
            raise InvalidArgument.one("after", "numbers one inbox: name it in parent")
        scope = _page_scope(request.parent, request.unacknowledged_only, request.after)
        page = paging.page(request.page_size, request.page_token, scope)
        after_id = int(page.after) if page.after is not None else request.after
        items = core.list_page(
            caller,
            controller_id=controller_id,
            after_id=after_id,
            size=page.size,
            unacknowledged_only=request.unacknowledged_only,
        )
        return pb.ListNotificationsResponse(
            notifications=[to_proto(n) for n in items],
            next_page_token=page.next_token(
                [str(n.id if one_inbox else n.key) for n in items], scope
            ),
        )

    def AcknowledgeNotification(
        self, request: pb.AcknowledgeNotificationRequest, context: grpc.ServicerContext
    ) -> pb.Notification:
        notification_id = core.parse_name(request.name)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "AcknowledgeNotification",
            request.request_id,
            request,
            pb.Notification,
            lambda m: to_proto(core.acknowledge(m, notification_id)),
        )

    def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.Notification]:
        caller = auth.current_caller()
        controller_id = caller.tenant or ""
        if request.after < 0:
            raise InvalidArgument.one("after", "must not be negative")
        try:
            the_hub = hub.current()
            watcher = the_hub.register(controller_id)
        except hub.Unavailable as err:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(err))
        context.add_callback(watcher.close)
        cursor = request.after
        try:
            # Registered first, so whatever commits from now on is pushed to
            # the watcher; the backlog read below covers everything before.
            cursor = yield from self._backlog(controller_id, cursor)
            while context.is_active() and not watcher.closed:
                items, overflowed = watcher.take(IDLE_WAIT_SECONDS)
                if overflowed:
                    cursor = yield from self._backlog(controller_id, cursor)
                for n in items:
                    if n.id > cursor:
                        yield to_proto(n)
                        core.streamed(n.controller_id, n.id)
                        cursor = n.id
        finally:
            the_hub.unregister(watcher)

    @staticmethod
    def _backlog(controller_id: str, cursor: int) -> Generator[pb.Notification, None, int]:
        """Streams stored notifications after ``cursor``; returns the new cursor."""
        while True:
            with _BACKLOG_SLOTS, db.database.connection_context():
                batch = core.after(controller_id, cursor, BACKLOG_BATCH)
            for n in batch:
                yield to_proto(n)
                core.streamed(n.controller_id, n.id)
                cursor = n.id
            if len(batch) < BACKLOG_BATCH:
                return cursor


Blocking = Callable[..., Awaitable[Any]]


def _read_after(controller_id: str, cursor: int, limit: int) -> list[core.Notification]:
    """On one of the stream host's few I/O threads: SQLite keeps the thread's
    connection (opening one per read cost more than the read); PostgreSQL's
    goes back to the pool."""
    try:
        return core.after(controller_id, cursor, limit)
    finally:
        db.release()


def _number(n: core.Notification) -> int:
    return n.id


class NotificationStreams:
    """``WatchNotifications`` on the stream host (docs/adr/0019): the same
    stream as on the main port, as an async generator that holds no thread."""

    def __init__(self, blocking: Blocking) -> None:
        self._blocking = blocking

    async def _read(
        self, controller_id: str, cursor: int, limit: int
    ) -> Sequence[core.Notification]:
        items: list[core.Notification] = await self._blocking(
            _read_after, controller_id, cursor, limit
        )
        return items

    async def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.Notification]:
        caller = auth.current_caller()
        controller_id = caller.tenant or ""
        if request.after < 0:
            raise InvalidArgument.one("after", "must not be negative")
        try:
            mailboxes = hub.current().streams
            if mailboxes is None:
                raise errors.Unavailable("live streams are not served on this port")
            mailbox = mailboxes.subscribe(controller_id)
        except (hub.Unavailable, fanout.Full) as err:
            raise errors.Unavailable(str(err)) from None
        try:
            async for n in fanout.follow(
                mailbox,
                request.after,
                _number,
                lambda cursor, limit: self._read(controller_id, cursor, limit),
                batch=BACKLOG_BATCH,
            ):
                yield to_proto(n)
                core.streamed(n.controller_id, n.id)
        finally:
            mailboxes.unsubscribe(mailbox)


def watch_handler(blocking: Blocking) -> grpc.RpcMethodHandler[Any, Any]:
    """``WatchNotifications`` as the stream host serves it."""
    return grpc.unary_stream_rpc_method_handler(
        NotificationStreams(blocking).WatchNotifications,
        request_deserializer=pb.WatchNotificationsRequest.FromString,
        response_serializer=pb.Notification.SerializeToString,
    )
