"""``dpa-registry serve --processes N``: N server processes on one port and
one database, as in gRPC's own multiprocessing example.

The parent creates no gRPC object (gRPC does not survive ``fork``): it
migrates the database and closes it, reserves the port with a socket bound
with ``SO_REUSEPORT`` (so port 0 picks one port for all), and forks. Every
child binds that port with ``grpc.so_reuseport`` on and the kernel spreads
connections over them; the stream host's port (``--stream-listen``,
docs/adr/0019) is reserved and shared the same way. Child 0 alone runs the
sub-processor scheduler (its transitions are also conditional updates, so a
second one would find nothing left to do) and the tlog-tiles API; child i serves metrics on
``metrics_port + i``. Every child runs its own notification hub, which polls
the database, so watchers are woken whichever process committed, and its own
delivery worker (deliveries are claimed with leases). Checks in
every child stay exact through the shared revision map
(``registry.revision``).

SIGTERM or SIGINT to the parent goes to every child, which drains (health
NOT_SERVING, in-flight calls finish within the grace period) and stops. A
child that dies on its own stops the others, and the parent exits 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import replace
from types import FrameType

from registry import db, server
from registry.config import Config, stream_address

log = logging.getLogger(__name__)


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def reserved_port(listen: str) -> Iterator[str]:
    """``listen`` with its port fixed, bound (not listening) with
    SO_REUSEPORT while the block runs, so the children can share it."""
    host, port = _split(listen)
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        bound = sock.getsockname()[1]
        yield f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
    finally:
        sock.close()


def child_config(config: Config, index: int) -> Config:
    """Child ``index``'s settings: its own metrics port (``metrics_port +
    index``); the tlog-tiles HTTPS API in child 0 only (plain sockets cannot
    share a port)."""
    if index == 0:
        return config
    return replace(
        config,
        metrics_port=config.metrics_port + index if config.metrics_port else 0,
        tiles_listen="",
    )


def _child(config: Config, index: int) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    config = child_config(config, index)
    try:
        # Signals stay blocked until serve_one has its handlers.
        server.serve_one(config, reuse_port=True, scheduler=index == 0)
        code = 0
    except BaseException:
        log.exception("server process %d failed", index)
    finally:
        os._exit(code)


def run(config: Config, processes: int) -> int:
    """Forks ``processes`` servers and waits for them; the exit status."""
    database = db.open_database(config.database)
    db.migrate(database)
    database.close()
    streams = stream_address(config)
    with (
        reserved_port(config.listen) as listen,
        reserved_port(streams) if streams else contextlib.nullcontext("off") as stream_listen,
    ):
        shared = replace(config, listen=listen, stream_listen=stream_listen)
        children: set[int] = set()
        stopping = False

        def stop_all(signum: int, _frame: FrameType | None = None) -> None:
            nonlocal stopping
            stopping = True
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

        def stacks_of_all(signum: int, _frame: FrameType | None = None) -> None:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, server.STACKS_SIGNAL)

        # Signals wait until every child exists and has its own handlers.
        blocked = {signal.SIGTERM, signal.SIGINT, server.STACKS_SIGNAL}
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            for index in range(processes):
                pid = os.fork()
                if pid == 0:
                    _child(shared, index)
                children.add(pid)
            signal.signal(signal.SIGTERM, stop_all)
            signal.signal(signal.SIGINT, stop_all)
            signal.signal(server.STACKS_SIGNAL, stacks_of_all)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        log.info("serving on %s in %d processes", listen, processes)
        status = 0
        while children:
            pid, raw = os.waitpid(-1, 0)
            children.discard(pid)
            code = os.waitstatus_to_exitcode(raw)
            if not stopping:
                log.error("server process %d exited (%d): stopping the others", pid, code)
                status = 1
                stop_all(signal.SIGTERM)
            elif code != 0:
                status = 1
        log.info("stopped")
        return status
