"""Notifications: the controller's inbox, and a live iterator that reconnects."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import grpc

from dpa_client._base import BaseClient, new_request_id, translate
from dpa_client.types.notifications import Notification
from dpa_registry_api.v1 import notifications_pb2 as pb
from dpa_registry_api.v1 import notifications_pb2_grpc as pb_grpc

_RECONNECT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


class NotificationWatch(Iterator[Notification]):
    """Yields the caller's notifications in id order, live, forever.

    On UNAVAILABLE, a deadline or the end of a stream (the server restarting),
    it reconnects by itself and resumes after the last notification it
    yielded (``cursor``): nothing is missed and nothing is yielded twice.
    Each (re)connect goes to the server's stream host, wherever the server
    says it is now. ``cancel()`` (from any thread) ends the iteration.
    """

    def __init__(
        self,
        connect: Callable[[], pb_grpc.NotificationServiceStub],
        metadata: tuple[tuple[str, str], ...],
        after: int,
        stream_timeout: float | None,
        max_backoff: float,
    ) -> None:
        self._connect = connect
        self._metadata = metadata
        self.cursor = after
        self._stream_timeout = stream_timeout
        self._max_backoff = max_backoff
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._call: grpc.CallIterator[pb.Notification] | None = None
        self._failures = 0
        self.reconnects = 0

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()  # type: ignore[no-untyped-call]

    def __iter__(self) -> NotificationWatch:
        return self

    def _open(self) -> grpc.CallIterator[pb.Notification]:
        call = self._connect().WatchNotifications(
            pb.WatchNotificationsRequest(after=self.cursor),
            timeout=self._stream_timeout,
            metadata=self._metadata,
        )
        with self._lock:
            self._call = call
        if self._cancelled.is_set():
            call.cancel()  # type: ignore[no-untyped-call]
        return call

    def __next__(self) -> Notification:
        while not self._cancelled.is_set():
            try:
                call = self._call if self._call is not None else self._open()
                for n in call:
                    if n.id <= self.cursor:
                        continue
                    self.cursor = n.id
                    self._failures = 0
                    return Notification.from_proto(n)
            except grpc.RpcError as err:
                if self._cancelled.is_set():
                    break
                if err.code() not in _RECONNECT_CODES:
                    raise translate(err) from None
            with self._lock:
                self._call = None
            self.reconnects += 1
            self._failures += 1
            delay = min(self._max_backoff, 0.05 * 2 ** min(self._failures, 8))
            self._cancelled.wait(delay * (0.5 + random.random()))  # noqa: S311
        raise StopIteration


class NotificationsMixin(BaseClient):
    @property
    def _notifications(self) -> pb_grpc.NotificationServiceStub:
        return pb_grpc.NotificationServiceStub(self.channel)

    def list_notifications(
        self,
        controller_id: str = "",
        *,
        unacknowledged_only: bool = False,
        after: int = 0,
        page_size: int = 200,
    ) -> Iterator[Notification]:
        """A controller's own inbox; staff: any controller's, or all with ""."""
        token = ""
        parent = f"controllers/{controller_id}" if controller_id else ""
        while True:
            page: pb.ListNotificationsResponse = self._call(
                self._notifications.ListNotifications,
                pb.ListNotificationsRequest(
                    parent=parent,
                    page_size=page_size,
                    page_token=token,
                    unacknowledged_only=unacknowledged_only,
                    after=after,
                ),
                idempotent=True,
            )
            yield from (Notification.from_proto(n) for n in page.notifications)
            token = page.next_page_token
            if not token:
                return

    def acknowledge_notification(
        self, notification_id: int, *, request_id: str | None = None
    ) -> Notification:
        """Confirms that the controller has read a notification."""
        request = pb.AcknowledgeNotificationRequest(
            name=f"notifications/{notification_id}", request_id=request_id or new_request_id()
        )
        return Notification.from_proto(
            self._call(self._notifications.AcknowledgeNotification, request, idempotent=True)
        )

    def watch_notifications(
        self,
        *,
        after: int = 0,
        stream_timeout: float | None = None,
        max_backoff: float = 5.0,
    ) -> NotificationWatch:
        """Live notifications after id ``after``; reconnects and resumes by itself.

        >>> for n in client.watch_notifications(after=last_seen):  # doctest: +SKIP
        ...     handle(n); last_seen = n.id
        """
        return NotificationWatch(
            self._stream_stub, self._metadata, after, stream_timeout, max_backoff
        )

    def _stream_stub(self) -> pb_grpc.NotificationServiceStub:
        main = self._notifications

        def discover(metadata: tuple[tuple[str, str], ...]) -> object:
            return main.WatchNotifications(
                pb.WatchNotificationsRequest(), timeout=self.timeout, metadata=metadata
            )

        return pb_grpc.NotificationServiceStub(self._stream_channel(discover))
