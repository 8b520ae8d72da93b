"""Keyed fan-out from one producer thread to many streams in one event loop.

A stream is an async generator over "everything after cursor X" (``follow``):
it subscribes a ``Mailbox`` under a key *before* it reads its backlog, then
waits on the mailbox. The producer (a domain's poller, one thread per
process) calls ``Fanout.publish`` once per batch with the items for every key
that has subscribers; one hop into the loop (``call_soon_threadsafe``) hands
them to every mailbox of those keys. A producer that has no items to hand
over calls ``Fanout.stale``: the streams re-read from their source. Nothing
here holds a thread per stream, and nothing queries per stream on a wake
unless the producer asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")

MAX_QUEUED = 10_000
"""A mailbox that falls this far behind drops its items and re-reads instead."""


class Full(Exception):
    """The fan-out has as many subscribers as it may (or is closed)."""


class Mailbox(Generic[K, T]):
    """One stream's inbox. Touched only on the event loop's thread."""

    def __init__(self, key: K, limit: int = MAX_QUEUED) -> None:
        self.key = key
        self._limit = limit
        self._items: list[T] = []
        self._event = asyncio.Event()
        self._stale = False
        self.closed = False

    def deliver(self, items: Sequence[T]) -> None:
        self._items.extend(items)
        if len(self._items) > self._limit:
            self._items.clear()
            self._stale = True
        self._event.set()

    def mark_stale(self) -> None:
        self._stale = True
        self._event.set()

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def take(self, timeout: float | None = None) -> tuple[list[T], bool]:
        """Waits (up to ``timeout`` s; None: until woken); returns (items,
        stale) and clears both. ``stale``: the items may be incomplete,
        re-read from the source."""
        if not self._items and not self._stale and not self.closed:
            if timeout is None:
                await self._event.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
        items, self._items = self._items, []
        stale, self._stale = self._stale, False
        return items, stale


class Fanout(Generic[K, T]):
    """Mailboxes by key, in one event loop; ``publish`` from any thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, max_subscribers: int, limit: int = MAX_QUEUED
    ) -> None:
        self._loop = loop
        self._max = max_subscribers
        self._limit = limit
        self._lock = threading.Lock()  # guards the two fields below (any thread reads)
        self._by_key: dict[K, set[Mailbox[K, T]]] = {}
        self._count = 0
        self._closed = False

    @property
    def count(self) -> int:
        return self._count

    @property
    def limit(self) -> int:
        """The most subscribers it holds at once."""
        return self._max

    @property
    def closed(self) -> bool:
        return self._closed

    def keys(self) -> frozenset[K]:
        """The keys that have subscribers now (any thread)."""
        with self._lock:
            return frozenset(self._by_key)

    def subscribe(self, key: K) -> Mailbox[K, T]:
        """On the loop's thread. Raises ``Full``."""
        mailbox: Mailbox[K, T] = Mailbox(key, self._limit)
        with self._lock:
            if self._closed:
                raise Full("the server is shutting down; reconnect")
            if self._count >= self._max:
                raise Full("too many live streams on this server; retry later")
            self._by_key.setdefault(key, set()).add(mailbox)
            self._count += 1
        return mailbox

    def unsubscribe(self, mailbox: Mailbox[K, T]) -> None:
        with self._lock:
            group = self._by_key.get(mailbox.key)
            if group is not None and mailbox in group:
                group.discard(mailbox)
                self._count -= 1
                if not group:
                    del self._by_key[mailbox.key]

    def publish(self, batches: Mapping[K, Sequence[T]]) -> None:
        """Hands each key's items to its mailboxes: one hop into the loop."""
        if batches:
            self._call(self._deliver, batches)

    def stale(self, keys: Collection[K] | None = None) -> None:
        """Tells the mailboxes of ``keys`` (None: all) to re-read their source."""
        self._call(self._mark_stale, keys)

    def close(self) -> None:
        """Ends every stream (their clients reconnect elsewhere); refuses new ones."""
        with self._lock:
            self._closed = True
        self._call(self._close_all)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: its streams are gone
            self._loop.call_soon_threadsafe(fn, *args)

    def _group(self, key: K) -> list[Mailbox[K, T]]:
        with self._lock:
            return list(self._by_key.get(key, ()))

    def _deliver(self, batches: Mapping[K, Sequence[T]]) -> None:
        for key, items in batches.items():
            for mailbox in self._group(key):
                mailbox.deliver(items)

    def _mark_stale(self, keys: Collection[K] | None) -> None:
        with self._lock:
            chosen = list(self._by_key) if keys is None else [k for k in keys if k in self._by_key]
        for key in chosen:
            for mailbox in self._group(key):
                mailbox.mark_stale()

    def _close_all(self) -> None:
        with self._lock:
            mailboxes = [m for group in self._by_key.values() for m in group]
        for mailbox in mailboxes:
            mailbox.close()


async def follow(
    mailbox: Mailbox[K, T],
    cursor: int,
    position: Callable[[T], int],
    read_after: Callable[[int, int], Awaitable[Sequence[T]]],
    *,
    batch: int = 500,
) -> AsyncIterator[T]:
    """Everything after ``cursor``, in order, until the mailbox closes.

    ``mailbox`` must be subscribed before this starts: what is published from
    then on reaches it, and the first ``read_after`` covers what came before,
    so the union has no gap. Items at or below the cursor are dropped, so it
    has no duplicate either. ``read_after(cursor, batch)`` reads up to
    ``batch`` items after ``cursor`` from the source (off the loop's thread);
    it is called at the start and whenever the mailbox says it is stale.
    ``position`` is an item's place in the order. An idle stream sleeps
    until woken: a cancelled call cancels its task, which ends it.
    """
    stale = True
    while not mailbox.closed:
        if stale:
            while True:
                items = await read_after(cursor, batch)
                for item in items:
                    if position(item) > cursor:
                        cursor = position(item)
                        yield item
                if len(items) < batch:
                    break
        pushed, stale = await mailbox.take()
        if stale:
            continue  # the re-read covers what was pushed, in order
        for item in pushed:
            if position(item) > cursor:
                cursor = position(item)
                yield item
