"""Prometheus metrics, served on their own plain-HTTP port (``--metrics-port``).

Per RPC (recorded by the interceptor, names as in go-grpc-prometheus so
standard dashboards work): ``grpc_server_handled_total`` by service, method,
type and status code, and the ``grpc_server_handling_seconds`` histogram,
counted per method under one lock and written out at scrape time in the
same form as ``prometheus_client``'s own Counter and Histogram.
The registry's own state is read only when Prometheus scrapes, by a collector
callback that asks the owning domains: live Watch streams, audit-log size and
the age of its newest signed checkpoint.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from itertools import accumulate

import peewee
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

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


_METHOD_LABELS = ("grpc_service", "grpc_method", "grpc_type")
_LE = tuple(
    floatToGoString(b)  # type: ignore[no-untyped-call]
    for b in (*LATENCY_BUCKETS, math.inf)
)
"""The buckets' ``le`` labels, as ``prometheus_client`` writes them."""


class RpcMetrics(Collector):
    """The per-RPC counters and histograms of one server: counted per method
    by ``MethodMetrics`` (one lock, no label lookup per RPC) and exposed
    when Prometheus scrapes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._methods: list[MethodMetrics] = []
        registry.register(self)

    def method(self, path: str, kind: str) -> MethodMetrics:
        found = MethodMetrics(path, kind)
        self._methods.append(found)
        return found

    def collect(self) -> Iterable[Metric]:
        handled = CounterMetricFamily(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            labels=[*_METHOD_LABELS, "grpc_code"],
        )
        seconds = HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (streams: their lifetime).",
            labels=_METHOD_LABELS,
        )
        for method in list(self._methods):
            labels, codes, buckets, total, created = method.read()
            for code, (count, since) in codes.items():
                handled.add_metric([*labels, code], count, created=since)
            seconds.add_metric(labels, list(zip(_LE, accumulate(buckets), strict=True)), total)
            seconds.samples.append(
                Sample(
                    f"{seconds.name}_created",
                    dict(zip(_METHOD_LABELS, labels, strict=True)),
                    created,
                )
            )
        yield handled
        yield seconds


class MethodMetrics:
    """One method's counts: per status code, and per latency bucket."""

    __slots__ = ("_buckets", "_codes", "_created", "_labels", "_lock", "_sum")

    def __init__(self, path: str, kind: str) -> None:
        service, _, name = path.lstrip("/").partition("/")
        self._labels = [service, name, kind]
        self._lock = threading.Lock()
        self._codes: dict[str, list[float]] = {}
        """Status code -> [count, when first seen]."""
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._sum = 0.0
        self._created = time.time()

    def observe(self, code: str, seconds: float) -> None:
        bucket = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            self._buckets[bucket] += 1
            self._sum += seconds
            counted = self._codes.get(code)
            if counted is None:
                self._codes[code] = [1, time.time()]
            else:
                counted[0] += 1

    def read(self) -> tuple[list[str], dict[str, tuple[float, float]], list[int], float, float]:
        """(label values, code -> (count, created), bucket counts, sum, created)."""
        with self._lock:
            codes = {code: (c[0], c[1]) for code, c in self._codes.items()}
            return list(self._labels), codes, list(self._buckets), self._sum, self._created


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
            "CheckTransfer decision time inside the handler, p99 of one decision in 16 since "
            "start.",
            value=decisions.p99_us / 1e6,
        )
        yield GaugeMetricFamily(
            "dpa_transfer_decision_cpu_p99_seconds",
            "CheckTransfer decision CPU time inside the handler (the thread's own clock), p99 "
            "of one decision in 16.",
            value=transfer_timing.DECISION_CPU.summary().p99_us / 1e6,
        )
        yield GaugeMetricFamily(
            "dpa_transfer_decisions",
            "CheckTransfer decisions since start.",
            value=transfer_timing.decisions(),
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
