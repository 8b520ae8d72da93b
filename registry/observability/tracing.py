"""OpenTelemetry tracing: a tracer provider configured by the standard
``OTEL_*`` environment variables, and the ``span`` hook that the write path
uses for its database transaction and its audit-log append.

Tracing is off unless the server runs with ``--tracing``. When it is off, or
when an RPC is not sampled, ``span`` returns a shared no-op context manager:
the write path pays one context-variable read.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from contextlib import AbstractContextManager

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ParentBased, Sampler, TraceIdRatioBased

from registry.errors import InvalidArgument

DEFAULT_RATIO = 0.1
"""Head sampling when ``OTEL_TRACES_SAMPLER`` is not set: 1 trace in 10,
unless the caller's ``traceparent`` says it is sampled."""

_NULL: AbstractContextManager[None] = contextlib.nullcontext()

# The tracer of the RPC being served on this thread, set only while a sampled
# RPC span is current.
_active: contextvars.ContextVar[trace.Tracer | None] = contextvars.ContextVar(
    "dpa_tracer", default=None
)


def span(name: str) -> AbstractContextManager[object]:
    """A child span of the current RPC's span, or a no-op when not tracing."""
    tracer = _active.get()
    if tracer is None:
        return _NULL
    return tracer.start_as_current_span(name)


def bind(tracer: trace.Tracer) -> contextvars.Token[trace.Tracer | None]:
    """Makes ``span`` record children with ``tracer`` (the RPC span's)."""
    return _active.set(tracer)


def unbind(token: contextvars.Token[trace.Tracer | None]) -> None:
    _active.reset(token)


def _sampler() -> Sampler | None:
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        return None  # the SDK reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
    return ParentBased(TraceIdRatioBased(DEFAULT_RATIO))


def _exporter(name: str) -> SpanExporter | None:
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        )
        if protocol != "grpc":
            raise InvalidArgument.one(
                "OTEL_EXPORTER_OTLP_PROTOCOL", f"{protocol!r} is not supported; use grpc"
            )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        return OTLPSpanExporter()  # endpoint, headers, TLS: OTEL_EXPORTER_OTLP_*
    raise InvalidArgument.one("OTEL_TRACES_EXPORTER", f"unknown exporter {name!r}")


def provider_from_env(version: str) -> TracerProvider | None:
    """A provider as the ``OTEL_*`` variables describe; None if the SDK is disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    attributes: dict[str, str] = {"service.version": version}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = "dpa-registry"
    provider = TracerProvider(resource=Resource.create(attributes), sampler=_sampler())
    for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(","):
        exporter = _exporter(name.strip())
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
