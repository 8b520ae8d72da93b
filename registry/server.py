"""The gRPC server: mutual TLS, health, reflection, metrics and tracing,
graceful shutdown.

A synchronous ``grpc.server`` with a thread pool: on this kind of machine it
serves unary calls about twice as fast as ``grpc.aio`` (docs/adr/0002). Live
server streams are also served by the stream host, a ``grpc.aio`` server on
its own port and event loop thread (docs/adr/0019), where they hold no thread.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import ssl
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from registry import auth, db, keys, paging, revision, rpc
from registry import config as config_module
from registry.audit import log as audit_log
from registry.audit import tiles
from registry.config import Config
from registry.decisions import hub as decision_hub
from registry.delivery import worker as delivery_worker
from registry.notifications import hub as notification_hub
from registry.observability import metrics, tracing
from registry.observability.interceptor import AsyncObserver, ObservingInterceptor
from registry.services import HOSTED_STREAMS, SERVICES
from registry.streams.fanout import Fanout
from registry.streams.host import StreamHost
from registry.subprocessors import scheduler as subprocessor_scheduler
from registry.trust import http as trust_http

log = logging.getLogger(__name__)

GC_THRESHOLDS = (10_000, 10, 10)
"""The cyclic collector's thresholds in a server process (Python's default
first threshold is 700). Nearly every object a call makes is freed by
reference counting; at 700 the collector ran thousands of times a second
under load and a full collection every second or so, about a tenth of the
server CPU of every call, Health/Check included (docs/adr/0030)."""

MAIN_PORT_WATCHERS = 32
"""Live streams of each hosted method on the main port (a thread each) when
the stream host serves them too: old clients keep working, bounded
(docs/adr/0019)."""


@dataclass
class Running:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    config: Config
    background_stops: list[Callable[[], None]] = field(default_factory=list)
    metrics_port: int = 0
    """The bound ``/metrics`` port; 0 when metrics are off."""
    tiles_port: int = 0
    trust_port: int = 0
    stream_host: StreamHost | None = None
    stream_port: int = 0
    """The stream host's port; 0 when it is off (``--stream-listen off``)."""

    def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING first, then let in-flight calls finish."""
        self.health.enter_graceful_shutdown()
        # Background threads first: this ends every Watch stream at once.
        for stop_background in self.background_stops:
            stop_background()
        seconds = self.config.grace_seconds if grace is None else grace
        self.server.stop(seconds).wait()
        if self.stream_host is not None:
            self.stream_host.stop(seconds)


def system_caller(config: Config) -> auth.Caller:
    """The registry's own identity for changes it makes by itself."""
    return auth.Caller(
        spiffe_id=f"spiffe://{config.trust_domain}/service/registry",
        role=auth.Role.SERVICE,
        name="registry",
    )


class Health(health.HealthServicer):
    """grpc.health.v1 with ``List`` (the stock servicer advertises it unimplemented)."""

    def __init__(self) -> None:
        super().__init__()
        self._statuses: dict[str, int] = {}
        self._statuses_lock = threading.Lock()
        self._closing = False

    def set(self, service: str, status: int) -> None:
        with self._statuses_lock:
            if self._closing:
                return
            self._statuses[service] = status
        super().set(service, status)

    def enter_graceful_shutdown(self) -> None:
        super().enter_graceful_shutdown()  # sets every status NOT_SERVING through set()
        with self._statuses_lock:
            self._closing = True

    def List(
        self, request: health_pb2.HealthListRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthListResponse:
        with self._statuses_lock:
            statuses = dict(self._statuses)
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in statuses.items()
            }
        )


REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _reflection_v1_file() -> None:
    """Registers ``grpc/reflection/v1/reflection.proto`` in the default pool.

    grpcio-reflection ships only v1alpha; v1 has the same messages under
    another package, so its descriptor is v1alpha's renamed, and the v1
    method is served by the v1alpha servicer (the bytes on the wire agree).
    """
    pool = descriptor_pool.Default()
    name = "grpc/reflection/v1/reflection.proto"
    try:
        pool.FindFileByName(name)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."
    proto.name, proto.package = name, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for f in message.field:
            if f.type_name:
                f.type_name = f.type_name.replace(old, new)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    pool.AddSerializedFile(proto.SerializeToString())


def _enable_reflection(server: grpc.Server, service_names: list[str]) -> None:
    """Reflection v1 and v1alpha, one servicer behind both. The google.rpc
    error-detail files resolve by symbol (``google.rpc.BadRequest``)."""
    _reflection_v1_file()
    # Imported above so that their files are in the pool reflection serves from.
    _ = (error_details_pb2.BadRequest, status_pb2.Status)
    names = [*service_names, reflection.SERVICE_NAME, REFLECTION_V1]
    servicer = reflection.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )


def _credentials(config: Config) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=config.client_ca.read_bytes(),
        require_client_auth=True,
    )


def _tiles_context(config: Config) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(config.client_ca))
    context.load_cert_chain(config.tls_cert, config.tls_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _trust_context(config: Config) -> ssl.SSLContext:
    """Plain HTTPS: anyone may read the public feed, no client certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert, config.tls_key)
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _start_trust(config: Config, background_stops: list[Callable[[], None]]) -> int:
    if not config.trust_listen:
        return 0
    trust = trust_http.start(config.trust_listen, lambda: _trust_context(config))
    background_stops.append(trust.stop)
    return trust.port


def _page_token_secret(config: Config, signing_key: keys.SigningKey) -> bytes:
    if config.page_token_secret:
        path = Path(config.page_token_secret)
        secret = path.read_bytes().strip()
        if len(secret) < 16:
            raise ValueError(f"{path}: page-token secret is under 16 bytes")
        return secret
    return signing_key.private_raw


def _options(config: Config, reuse_port: bool) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]


def _grpc_server(config: Config, reuse_port: bool, streams: int) -> grpc.Server:
    """``streams``: live streams this port may hold (notification and
    decision-change streams), a thread each."""
    return grpc.server(
        # Live streams on this port hold a thread each: their own share of the pool.
        futures.ThreadPoolExecutor(
            max_workers=config.workers + streams,
            thread_name_prefix="rpc",
        ),
        options=_options(config, reuse_port),
        maximum_concurrent_rpcs=config.workers * 4 + streams,
    )


def _open_database(config: Config) -> None:
    """Opens and migrates the database; gives a new revision map the
    committed revision (``revision.prime``)."""
    database = db.open_database(config.database, config.db_pool_size, config.db_pool_timeout)
    version = db.migrate(database)
    log.info("database ready at schema version %d", version)
    revision.prime()


def start(
    config: Config,
    tracer_provider: TracerProvider | None = None,
    *,
    reuse_port: bool = False,
    scheduler: bool = True,
) -> Running:
    """Opens the database, migrates it, and starts serving.

    ``tracer_provider`` overrides the one ``--tracing`` builds from the
    ``OTEL_*`` variables (tests pass one with an in-memory exporter).
    ``reuse_port`` lets sibling processes bind the same port (``serve
    --processes``); otherwise a second server on a taken port fails loudly.
    ``scheduler``: run the sub-processor scheduler in this process.
    """
    _open_database(config)
    signing_key = keys.load(config.signing_key, config.log_origin)
    keys.activate(signing_key)
    paging.activate(paging.derive_key(_page_token_secret(config, signing_key)))
    audit_log.record_active_key(system_caller(config))
    db.release()  # the start-up thread keeps no pooled connection
    policy = auth.access_policy([s.full_name for s in SERVICES])
    background_stops: list[Callable[[], None]] = []
    if tracer_provider is None and config.tracing:
        tracer_provider = tracing.provider_from_env(config_module.version())
        if tracer_provider is not None:
            background_stops.append(tracer_provider.shutdown)
    rpc_metrics = metrics.RpcMetrics(CollectorRegistry()) if config.metrics_port else None
    observing = ObservingInterceptor(
        policy,
        rpc_metrics,
        tracer_provider.get_tracer("registry") if tracer_provider is not None else None,
    )
    stream_host, stream_port, main_streams = _start_stream_host(
        config, policy, observing, reuse_port, background_stops
    )
    hosted = {s.path: stream_port for s in HOSTED_STREAMS} if stream_port else {}
    server = _grpc_server(config, reuse_port, main_streams)
    health_servicer = Health()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # The gate (identity, access, errors) inside, observation outside, so
    # calls refused at the gate are observed too.
    registering = rpc.Registering(
        server,
        [rpc.Interceptor(policy, config.trust_domain, config.insecure, hosted), observing],
    )
    for service in SERVICES:
        service.add(service.make(), registering)  # type: ignore[arg-type]
    names = [s.full_name for s in SERVICES]
    _enable_reflection(server, [*names, health.SERVICE_NAME])

    if config.insecure:
        log.warning("serving WITHOUT TLS (--insecure): caller identity is taken on trust")
        port = server.add_insecure_port(config.listen)
    else:
        port = server.add_secure_port(config.listen, _credentials(config))
    if port == 0:
        raise RuntimeError(f"cannot listen on {config.listen}")
    if scheduler:
        background_stops.insert(-1, subprocessor_scheduler.start(config.trust_domain).stop)
    # Every process: deliveries are claimed with leases (registry.delivery.worker).
    # The bounce listener (one port) runs where the scheduler runs.
    background_stops.insert(
        0, delivery_worker.start(config.trust_domain, bounce_listener=scheduler).stop
    )
    tiles_port = 0
    if config.tiles_listen:
        served = tiles.start(
            config.tiles_listen, lambda: _tiles_context(config), config.trust_domain
        )
        background_stops.append(served.stop)
        tiles_port = served.port
    trust_port = _start_trust(config, background_stops)
    metrics_port = 0
    if rpc_metrics is not None:
        metrics_port, stop_metrics = metrics.serve(
            config.metrics_host, config.metrics_port, rpc_metrics
        )
        background_stops.append(stop_metrics)
        log.info("metrics on http://%s:%d/metrics", config.metrics_host, metrics_port)
    server.start()
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving on port %d (%s)", port, "insecure" if config.insecure else "mTLS")
    return Running(
        server,
        health_servicer,
        port,
        config,
        background_stops,
        metrics_port,
        tiles_port,
        trust_port,
        stream_host,
        stream_port,
    )


def _start_stream_host(
    config: Config,
    policy: dict[str, frozenset[auth.Role]],
    observing: ObservingInterceptor,
    reuse_port: bool,
    background_stops: list[Callable[[], None]],
) -> tuple[StreamHost | None, int, int]:
    """Starts the notification and decision hubs and, unless
    ``--stream-listen off``, the stream host. Returns the host, its port (0:
    off) and how many live streams the main port may hold (a thread each)."""
    address = config_module.stream_address(config)
    if address is None:
        notification_hub.start(max_watchers=config.max_watchers)
        background_stops.append(notification_hub.stop)
        decision_hub.start(config.max_decision_streams)
        background_stops.append(decision_hub.stop)
        return None, 0, config.max_watchers + config.max_decision_streams
    host = StreamHost(
        address,
        None if config.insecure else _credentials(config),
        options=_options(config, reuse_port),
    )
    main_watchers = min(config.max_watchers, MAIN_PORT_WATCHERS)
    main_decisions = min(config.max_decision_streams, MAIN_PORT_WATCHERS)
    notification_hub.start(
        max_watchers=main_watchers, streams=Fanout(host.loop, config.max_watchers)
    )
    background_stops.append(notification_hub.stop)
    decision_hub.start(main_decisions, Fanout(host.loop, config.max_decision_streams))
    background_stops.append(decision_hub.stop)
    try:
        # The same gate inside and observation outside as on the main port.
        wrappers: list[rpc.Wrapper] = [
            rpc.AsyncGate(rpc.Interceptor(policy, config.trust_domain, config.insecure)),
            AsyncObserver(observing),
        ]
        port = host.start([s.handler(host.blocking, wrappers) for s in HOSTED_STREAMS])
    except BaseException:
        notification_hub.stop()
        decision_hub.stop()
        host.stop(0)
        raise
    log.info("streams on port %d", port)
    return host, port, main_watchers + main_decisions


def serve(config: Config) -> int:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully; with
    ``processes`` other than 1, in that many processes (``registry.supervisor``).
    Returns the exit status."""
    processes = config.processes or os.cpu_count() or 1
    if processes > 1:
        from registry import supervisor  # noqa: PLC0415 - forks before any gRPC object

        return supervisor.run(config, processes)
    serve_one(config)
    return 0


STACKS_SIGNAL = signal.SIGUSR2
"""Makes a server process write every thread's stack to its stderr."""


def serve_one(config: Config, *, reuse_port: bool = False, scheduler: bool = True) -> None:
    """One server process until SIGTERM or SIGINT, then a graceful stop.

    The handlers come first, then the signals are unblocked (a supervisor
    forks its children with them blocked): a signal during start-up stops
    the server as soon as it has started, never half-way."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR2 <pid>`: every thread's stack to stderr, the server going on
    # (for a call or a shutdown that does not end; docs/operations.md).
    faulthandler.register(STACKS_SIGNAL, all_threads=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, STACKS_SIGNAL})
    running = start(config, reuse_port=reuse_port, scheduler=scheduler)
    gc.set_threshold(*GC_THRESHOLDS)
    stopping.wait()
    running.stop()
    log.info("stopped")
