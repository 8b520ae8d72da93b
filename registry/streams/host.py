"""The stream host: a ``grpc.aio`` server on its own event loop thread in each
server process, serving the registry's long-lived server streams (docs/adr/0019).

The unary hot path stays on the synchronous server (docs/adr/0002: about half
the CPU per call); a live stream there would hold a worker thread for its whole
life. Here a stream is a task on one event loop: thousands cost memory, not
threads. The host listens on its own port with the same mutual TLS and runs
the same edge (identity, access policy, wire checks, error mapping) and the
same observing (metrics, spans, request log) as the main port. Blocking work
(database reads) goes to a small thread pool through ``blocking``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any, TypeVar

import grpc

log = logging.getLogger(__name__)

T = TypeVar("T")

BLOCKING_THREADS = 4
"""Threads for the streams' database reads (each holds a connection only while it reads)."""


class StreamHost:
    """One ``grpc.aio`` server on one event loop thread.

    Build it, hand ``loop`` and ``blocking`` to the stream handlers, then
    ``start`` it with their handlers (wrapped by the gate and the observer
    beforehand, once per method, as on the main port); ``stop`` ends it.
    """

    def __init__(
        self,
        listen: str,
        credentials: grpc.ServerCredentials | None,
        *,
        options: Sequence[tuple[str, Any]] = (),
        blocking_threads: int = BLOCKING_THREADS,
    ) -> None:
        self._listen = listen
        self._credentials = credentials
        self._options = list(options)
        self.loop = asyncio.new_event_loop()
        self._executor = futures.ThreadPoolExecutor(
            max_workers=blocking_threads, thread_name_prefix="stream-io"
        )
        self._thread = threading.Thread(target=self._run, name="stream-host", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` on the host's I/O threads; awaits its result."""
        return await self.loop.run_in_executor(self._executor, fn, *args)

    def start(self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]) -> int:
        """Binds, starts serving ``handlers``; returns the bound port."""
        self._handlers = list(handlers)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"stream host cannot listen on {self._listen}") from self._error
        return self.port

    def stop(self, grace: float) -> None:
        """Lets streams end within ``grace`` s, then stops the loop and its thread."""
        if not self._thread.is_alive():
            return
        server = self._server
        if server is not None:
            done = asyncio.run_coroutine_threadsafe(server.stop(grace), self.loop)
            try:
                done.result(timeout=grace + 5)
            except Exception:
                log.exception("stream host did not stop cleanly")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to start()
            self._error = err
            self._ready.set()
            self.loop.close()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _serve(self) -> None:
        server = grpc.aio.server(options=self._options)
        server.add_generic_rpc_handlers(tuple(self._handlers))
        if self._credentials is None:
            port = server.add_insecure_port(self._listen)
        else:
            port = server.add_secure_port(self._listen, self._credentials)
        if port == 0:
            raise OSError(f"cannot bind {self._listen}")
        await server.start()
        self._server = server
        self.port = port
