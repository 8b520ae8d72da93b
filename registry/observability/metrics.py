"""Prometheus metrics, served on their own plain-HTTP port (``--metrics-port``).

Per RPC (recorded by the interceptor, names as in go-grpc-prometheus so
standard dashboards work): ``grpc_server_handled_total`` by service, method,
type and status code, and the ``grpc_server_handling_seconds`` histogram.
The registry's own state is read only when Prometheus scrapes, by a collector
callback that asks the owning domains: live Watch streams, audit-log size and
the age of its newest signed checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import peewee
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from registry import clock, db
from registry.audit import log as audit_log
from registry.audit import store as audit_store
from registry.breaches import notices as breach_notices
from registry.notifications import core as notifications
from registry.notifications import hub as notification_hub
from registry.transfers import timing as transfer_timing

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class RpcMetrics:
    """The per-RPC counters and histograms of one server."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (streams: their lifetime).",
            ["grpc_service", "grpc_method", "grpc_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def method(self, path: str, kind: str) -> MethodMetrics:
        return MethodMetrics(self, path, kind)


class MethodMetrics:
    """One method's children, resolved once so an RPC pays no label lookup."""

    __slots__ = ("_by_code", "_handled", "_histogram", "_labels")

    def __init__(self, metrics: RpcMetrics, path: str, kind: str) -> None:
        service, _, name = path.lstrip("/").partition("/")
        self._labels = (service, name, kind)
        self._handled = metrics.handled
        self._histogram = metrics.seconds.labels(*self._labels)
        self._by_code: dict[str, Counter] = {}

    def observe(self, code: str, seconds: float) -> None:
        self._histogram.observe(seconds)
        counter = self._by_code.get(code)
        if counter is None:
            counter = self._by_code[code] = self._handled.labels(*self._labels, code)
        counter.inc()


class RegistryCollector(Collector):
    """Registry state, read from the owning domains at scrape time only."""

    def collect(self) -> Iterable[Metric]:
        try:
            watchers = notification_hub.current().watcher_count
        except notification_hub.Unavailable:
            watchers = 0
        yield GaugeMetricFamily(
            "dpa_notification_watchers", "Live WatchNotifications streams.", value=watchers
        )
        try:
            with db.database.connection_context():
                size = audit_store.size()
                signed_at = audit_log.newest_checkpoint_time()
                unread = notifications.unacknowledged_count()
                overdue = breach_notices.overdue_count(clock.now())
        except peewee.PeeweeException as err:
            log.warning("metrics: cannot read the audit log: %s", type(err).__name__)
            return
        yield GaugeMetricFamily("dpa_audit_log_entries", "Entries in the audit log.", value=size)
        yield GaugeMetricFamily(
            "dpa_notifications_unacknowledged",
            "Notices in controllers' inboxes not yet acknowledged.",
            value=unread,
        )
        yield GaugeMetricFamily(
            "dpa_breach_obligations_overdue",
            "Breach notification obligations past their deadline, not acknowledged.",
            value=overdue,
        )
        decisions = transfer_timing.DECISIONS.summary()
        yield GaugeMetricFamily(
            "dpa_transfer_decision_p99_seconds",
            "CheckTransfer decision time inside the handler, p99 since start.",
            value=decisions.p99_us / 1e6,
        )
        yield GaugeMetricFamily(
            "dpa_transfer_decision_cpu_p99_seconds",
            "CheckTransfer decision CPU time inside the handler (the thread's own clock), p99.",
            value=transfer_timing.DECISION_CPU.summary().p99_us / 1e6,
        )
        yield GaugeMetricFamily(
            "dpa_transfer_decisions", "CheckTransfer decisions since start.", value=decisions.count
        )
        if signed_at is not None:
            age = (clock.now() - signed_at).total_seconds()
            yield GaugeMetricFamily(
                "dpa_audit_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint.",
                value=max(age, 0.0),
            )


def serve(host: str, port: int, metrics: RpcMetrics) -> tuple[int, Callable[[], None]]:
    """Serves ``/metrics`` over plain HTTP; returns the bound port and a stop function."""
    metrics.registry.register(RegistryCollector())
    httpd, thread = start_http_server(port, host, registry=metrics.registry)

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return int(httpd.server_port), stop
