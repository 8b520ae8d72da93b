"""Cost per RPC of the observing interceptor (issue 16).

    python -m bench.observability      # about 1 minute

1. In process: the interceptor's wrapper around a handler that does nothing,
   timed over many calls, against the bare handler: the CPU it adds per RPC
   with metrics on (the production setting), plus the request log and an
   unsampled tracer.
2. End to end: sequential GetController calls over mTLS to a real server
   (SQLite), metrics off and on, rounds interleaved; median latency per call.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import CollectorRegistry

from registry.observability import requestlog
from registry.observability.interceptor import ObservingInterceptor
from registry.observability.metrics import RpcMetrics

PATH = "/dpa.registry.v1.ControllerService/GetController"
CALLS = 200_000


class _Context:
    """What the wrapper reads of a servicer context on the success path."""

    def code(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()


def _wrapped(interceptor: ObservingInterceptor) -> Callable[[Any, Any], Any]:
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)

    class Details(grpc.HandlerCallDetails):
        method = PATH
        invocation_metadata = ()

    wrapped = interceptor.intercept_service(lambda _: handler, Details())
    assert wrapped is not None and wrapped.unary_unary is not None
    return wrapped.unary_unary


def _per_call_us(fn: Callable[[Any, Any], Any]) -> float:
    context = _Context()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(CALLS):
            fn(b"", context)
        best = min(best, (time.perf_counter() - started) / CALLS * 1e6)
    return best


def in_process() -> None:
    bare = _per_call_us(lambda request, context: request)
    off = _per_call_us(_wrapped(ObservingInterceptor([PATH])))
    on = _per_call_us(_wrapped(ObservingInterceptor([PATH], RpcMetrics(CollectorRegistry()))))
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("bench")
    traced = _per_call_us(
        _wrapped(ObservingInterceptor([PATH], RpcMetrics(CollectorRegistry()), unsampled))
    )
    log = logging.getLogger(requestlog.LOGGER)
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(requestlog.JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        logged = _per_call_us(
            _wrapped(ObservingInterceptor([PATH], RpcMetrics(CollectorRegistry())))
        )
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(logging.NOTSET)
        log.propagate = True
    print(f"bare handler call:                    {bare:6.2f} us")
    print(f"interceptor, everything off:          {off - bare:6.2f} us added per RPC")
    print(f"interceptor, metrics on:              {on - bare:6.2f} us added per RPC")
    print(f"  + tracer, call not sampled:         {traced - bare:6.2f} us added per RPC")
    print(f"  metrics + JSON request log line:    {logged - bare:6.2f} us added per RPC")


def end_to_end() -> None:
    from registry import clock
    from tests import factories, harness

    with tempfile.TemporaryDirectory() as tmp:
        made = harness.make_pki(Path(tmp) / "pki")
        results: dict[str, list[float]] = {"off": [], "on": []}
        for round_ in range(3):
            for mode in ("off", "on"):
                url = f"sqlite:///{tmp}/{mode}{round_}.db"
                port = harness.free_port() if mode == "on" else 0
                cfg = replace(harness.server_config(made, url), metrics_port=port)
                from registry import server

                h = harness.Harness(made, server.start(cfg), url)
                try:
                    staff = h.staff
                    factories.controller(staff, "acme")
                    for _ in range(200):
                        staff.get_controller("acme")
                    samples = []
                    for _ in range(1000):
                        started = time.perf_counter()
                        staff.get_controller("acme")
                        samples.append(time.perf_counter() - started)
                    results[mode].append(statistics.median(samples) * 1000)
                finally:
                    h.close()
                    clock.reset()
        off, on = statistics.median(results["off"]), statistics.median(results["on"])
        print(
            f"GetController over mTLS, median of 3 rounds x 1000 calls: metrics off "
            f"{off:.3f} ms, on {on:.3f} ms ({(on - off) * 1000:+.0f} us)"
        )


def main() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    in_process()
    end_to_end()


if __name__ == "__main__":
    main()
