"""The observing interceptor: metrics, a trace span and a request-log line
for every registry RPC, in one wrapper.

It sits outside ``registry.rpc.Interceptor`` (which identifies the caller and
maps errors to status codes), so it also sees calls refused there. The caller
reaches it through ``note_caller``, which ``registry.rpc`` calls once the
caller is known. The hot path, with metrics on and tracing and the request
log off, costs two clock reads, a histogram and a counter update
(``bench/observability.py`` measures it); with all three off, a unary call
costs one check of the log level.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any, cast

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from registry.auth import Caller
from registry.observability import requestlog, tracing

if TYPE_CHECKING:
    from registry.observability.metrics import MethodMetrics, RpcMetrics

    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor


class _Call:
    __slots__ = ("caller",)

    def __init__(self) -> None:
        self.caller: Caller | None = None


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("dpa_call", default=None)


def note_caller(caller: Caller) -> None:
    """Tells the observing interceptor who the caller of this RPC is."""
    call = _call.get()
    if call is not None:
        call.caller = caller


class _Method:
    __slots__ = ("attributes", "metrics", "name", "path")

    def __init__(self, path: str, metrics: MethodMetrics | None) -> None:
        service, _, method = path.lstrip("/").partition("/")
        self.path = path
        self.name = f"{service}/{method}"
        self.metrics = metrics
        self.attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


class _Span:
    __slots__ = ("otel_token", "span", "tracer_token")

    def __init__(
        self,
        span: trace.Span,
        otel_token: object,
        tracer_token: contextvars.Token[trace.Tracer | None] | None,
    ) -> None:
        self.span = span
        self.otel_token = otel_token
        self.tracer_token = tracer_token


def _code(context: grpc.ServicerContext, failed: bool) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK


class ObservingInterceptor(_ServerInterceptor):
    """Records metrics, spans and request-log lines for the given methods."""

    def __init__(
        self,
        methods: Collection[str],
        metrics: RpcMetrics | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._paths = frozenset(methods)
        self._metrics = metrics
        self._tracer = tracer
        self._methods: dict[str, _Method] = {}
        self._log = logging.getLogger(requestlog.LOGGER)

    def _method(self, path: str, kind: str) -> _Method:
        method = self._methods.get(path)
        if method is None:
            metrics = self._metrics.method(path, kind) if self._metrics else None
            method = self._methods[path] = _Method(path, metrics)
        return method

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        return None if handler is None else self.wrap(handler_call_details.method, handler)

    def wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """The observed handler; the server wraps each method once, at
        registration (``registry.rpc.Registering``)."""
        if path not in self._paths:
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, self._method(path, "unary")),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, self._method(path, "server_stream")),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(
        self, behavior: Callable[[Any, grpc.ServicerContext], Any], method: _Method
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        # Nothing to record for a call when there are no metrics, no tracer
        # and the request log is off when it starts; only the log's level
        # can change while the server runs.
        idle = method.metrics is None and self._tracer is None
        log_enabled = self._log.isEnabledFor

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            if idle and not log_enabled(logging.INFO):
                return behavior(request, context)
            record = _Call()
            token = _call.set(record)
            started = time.perf_counter()
            span = self._start_span(method, context)
            failed = True
            try:
                response = behavior(request, context)
                failed = False
                return response
            finally:
                _call.reset(token)
                self._finish(method, request, context, record, started, span, failed)

        return call

    def _stream(
        self, behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: _Method
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            record = _Call()
            token = _call.set(record)
            started = time.perf_counter()
            span = self._start_span(method, context)
            failed = True
            cancelled = False
            try:
                yield from behavior(request, context)
                failed = False
            except GeneratorExit:
                cancelled = True
                raise
            finally:
                _call.reset(token)
                self._finish(method, request, context, record, started, span, failed, cancelled)

        return call

    def _start_span(self, method: _Method, context: grpc.ServicerContext) -> _Span | None:
        if self._tracer is None:
            return None
        carrier = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        parent = propagate.extract(carrier)
        span = self._tracer.start_span(
            method.name, context=parent, kind=trace.SpanKind.SERVER, attributes=method.attributes
        )
        otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        tracer_token = tracing.bind(self._tracer) if span.is_recording() else None
        return _Span(span, otel_token, tracer_token)

    def _finish(
        self,
        method: _Method,
        request: Any,
        context: grpc.ServicerContext,
        record: _Call,
        started: float,
        span: _Span | None,
        failed: bool,
        cancelled: bool = False,
    ) -> None:
        elapsed = time.perf_counter() - started
        code = grpc.StatusCode.CANCELLED if cancelled else _code(context, failed)
        if method.metrics is not None:
            method.metrics.observe(code.name, elapsed)
        caller = record.caller
        if span is not None:
            self._end_span(span, code, caller)
        if self._log.isEnabledFor(logging.INFO):
            self._log_line(method, request, context, caller, code, elapsed, span)

    @staticmethod
    def _end_span(span: _Span, code: grpc.StatusCode, caller: Caller | None) -> None:
        if span.tracer_token is not None:
            tracing.unbind(span.tracer_token)
        otel_context.detach(span.otel_token)  # type: ignore[arg-type]
        s = span.span
        if s.is_recording():
            s.set_attribute("rpc.grpc.status_code", code.value[0])
            if caller is not None:
                s.set_attribute("dpa.caller.role", caller.role.value)
            if code is not grpc.StatusCode.OK:
                s.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
        s.end()

    def _log_line(
        self,
        method: _Method,
        request: Any,
        context: grpc.ServicerContext,
        caller: Caller | None,
        code: grpc.StatusCode,
        elapsed: float,
        span: _Span | None,
    ) -> None:
        raw = getattr(request, "request_id", "")
        if not isinstance(raw, str) or not raw:
            raw = next((v for k, v in context.invocation_metadata() if k == "x-request-id"), "")
        if isinstance(raw, str) and raw:
            request_id = requestlog.safe_request_id(raw)
        elif span is not None and span.span.get_span_context().is_valid:
            request_id = format(span.span.get_span_context().trace_id, "032x")
        else:
            request_id = os.urandom(8).hex()
        role = caller.role.value if caller else None
        tenant = caller.tenant if caller else None
        duration_ms = round(elapsed * 1000, 3)
        self._log.info(
            "rpc %s %s %.3f ms role=%s tenant=%s request_id=%s",
            method.path,
            code.name,
            duration_ms,
            role or "-",
            tenant or "-",
            request_id,
            extra={
                "fields": {
                    "event": "rpc",
                    "method": method.path,
                    "status": code.name,
                    "duration_ms": duration_ms,
                    "role": role,
                    "tenant": tenant,
                    "request_id": request_id,
                }
            },
        )


class AsyncObserver:
    """The same metrics, spans and request-log lines on the stream host
    (``grpc.aio``), for server streams whose handlers are async generators;
    applied once per method, as ``ObservingInterceptor.wrap`` is."""

    def __init__(self, observing: ObservingInterceptor) -> None:
        self._observing = observing

    def wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        observing = self._observing
        if path not in observing._paths or handler.unary_stream is None:
            return handler
        return grpc.unary_stream_rpc_method_handler(
            self._stream(
                cast("Any", handler.unary_stream), observing._method(path, "server_stream")
            ),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _stream(
        self, behavior: Callable[[Any, Any], AsyncIterator[Any]], method: _Method
    ) -> Callable[[Any, Any], AsyncIterator[Any]]:
        observing = self._observing

        async def call(request: Any, context: Any) -> AsyncIterator[Any]:
            record = _Call()
            token = _call.set(record)
            started = time.perf_counter()
            span = observing._start_span(method, context)
            failed = True
            cancelled = False
            try:
                async for item in behavior(request, context):
                    yield item
                failed = False
            except (GeneratorExit, asyncio.CancelledError):
                cancelled = True
                raise
            finally:
                with contextlib.suppress(ValueError):  # closed from another context
                    _call.reset(token)
                observing._finish(
                    method, request, context, record, started, span, failed, cancelled
                )

        return call
