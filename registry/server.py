"""The gRPC server: mutual TLS, health, reflection, graceful shutdown.

A synchronous ``grpc.server`` with a thread pool: on this kind of machine it
serves unary calls about twice as fast as ``grpc.aio`` (docs/adr/0002).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from registry import auth, db, keys, paging, rpc
from registry.audit import log as audit_log
from registry.config import Config
from registry.notifications import hub as notification_hub
from registry.services import SERVICES
from registry.subprocessors import scheduler as subprocessor_scheduler

log = logging.getLogger(__name__)


@dataclass
class Running:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    config: Config
    background_stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING first, then let in-flight calls finish."""
        self.health.enter_graceful_shutdown()
        # Background threads first: this ends every Watch stream at once.
        for stop_background in self.background_stops:
            stop_background()
        self.server.stop(self.config.grace_seconds if grace is None else grace).wait()


def system_caller(config: Config) -> auth.Caller:
    """The registry's own identity for changes it makes by itself."""
    return auth.Caller(
        spiffe_id=f"spiffe://{config.trust_domain}/service/registry",
        role=auth.Role.SERVICE,
        name="registry",
    )


def _credentials(config: Config) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=config.client_ca.read_bytes(),
        require_client_auth=True,
    )


def _page_token_secret(config: Config, signing_key: keys.SigningKey) -> bytes:
    if config.page_token_secret is not None:
        secret = config.page_token_secret.read_bytes().strip()
        if len(secret) < 16:
            raise ValueError(f"{config.page_token_secret}: page-token secret is under 16 bytes")
        return secret
    return signing_key.private_raw


def start(config: Config) -> Running:
    """Opens the database, migrates it, and starts serving."""
    database = db.open_database(config.database)
    version = db.migrate(database)
    log.info("database ready at schema version %d", version)

    signing_key = keys.load(config.signing_key, config.log_origin)
    keys.activate(signing_key)
    paging.activate(paging.derive_key(_page_token_secret(config, signing_key)))
    audit_log.record_active_key(system_caller(config))
    policy = auth.access_policy([s.full_name for s in SERVICES])
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        # Watch streams hold a thread each: they get their own share of the pool.
        futures.ThreadPoolExecutor(
            max_workers=config.workers + config.max_watchers, thread_name_prefix="rpc"
        ),
        interceptors=[rpc.Interceptor(policy, config.trust_domain, config.insecure)],
        options=options,
        maximum_concurrent_rpcs=config.workers * 4 + config.max_watchers,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in SERVICES:
        service.add(service.make(), server)
    names = [s.full_name for s in SERVICES]
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    if config.insecure:
        log.warning("serving WITHOUT TLS (--insecure): caller identity is taken on trust")
        port = server.add_insecure_port(config.listen)
    else:
        port = server.add_secure_port(config.listen, _credentials(config))
    if port == 0:
        raise RuntimeError(f"cannot listen on {config.listen}")
    notification_hub.start(max_watchers=config.max_watchers)
    scheduler = subprocessor_scheduler.start(config.trust_domain)
    background_stops = [scheduler.stop, notification_hub.stop]
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving on port %d (%s)", port, "insecure" if config.insecure else "mTLS")
    return Running(server, health_servicer, port, config, background_stops)


def serve(config: Config) -> None:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully."""
    running = start(config)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    running.stop()
    log.info("stopped")
