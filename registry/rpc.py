"""The gRPC edge: the gate that identifies and authorizes callers,
refuses malformed requests (``registry.wire``), and is the one place where
registry errors become gRPC status codes.

Unexpected exceptions become INTERNAL with a generic message; the details are
logged server-side only.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc._cython import cygrpc  # type: ignore[attr-defined]
from grpc_status import rpc_status

from registry import auth, db, errors, ledger, wire
from registry.observability.interceptor import note_caller

log = logging.getLogger(__name__)

_CODES: dict[type[errors.RegistryError], int] = {
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Aborted: code_pb2.ABORTED,
    errors.Unavailable: code_pb2.UNAVAILABLE,
    errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
}

# Metadata key that carries the caller's SPIFFE ID when (and only when) the
# server runs with --insecure for local development.
INSECURE_IDENTITY_HEADER = "x-dpa-insecure-spiffe-id"


def to_status(err: errors.RegistryError) -> grpc.Status:
    code = next((c for t, c in _CODES.items() if isinstance(err, t)), code_pb2.INTERNAL)
    status = status_pb2.Status(code=code, message=err.message)
    if isinstance(err, errors.InvalidArgument):
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in err.violations
                ]
            )
        )
        status.details.append(detail)
    result: grpc.Status = rpc_status.to_status(status)
    return result


def _already_aborted(context: grpc.ServicerContext) -> bool:
    code = context.code()  # type: ignore[attr-defined]
    return code is not None and code != grpc.StatusCode.OK


def _peer_spiffe_ids(context: grpc.ServicerContext) -> list[bytes]:
    """The ``peer_spiffe_id`` property of the call's TLS peer (gRPC sets it
    only for a certificate with exactly one URI SAN, a SPIFFE ID). Read from
    the call's own auth context where the sync server exposes it:
    ``context.auth_context()`` copies that into a new dict with every key
    decoded on each call, about 3 us quiet and 10 us under load, a twentieth
    of a trivial call's server CPU (docs/transfers.md)."""
    try:
        call = context._rpc_event.call  # type: ignore[attr-defined]
    except AttributeError:  # the stream host (grpc.aio)
        # grpc's stub says Mapping[str, bytes]; each value is really a list.
        return cast("list[bytes]", context.auth_context().get("peer_spiffe_id") or [])
    properties = cygrpc.auth_context(call)
    # A new list per call, ours to keep.
    return cast("list[bytes]", properties.get(b"peer_spiffe_id") or []) if properties else []


if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor


STREAM_DISCOVERY_KEY = "dpa-stream-discovery"
"""Request metadata: "where is this stream hosted?" (docs/adr/0019)."""
STREAM_PORT_KEY = "dpa-stream-port"
"""Trailing response metadata: the port of the stream host that serves it."""


class Interceptor(_ServerInterceptor):
    """Identifies the caller, enforces the access policy, maps errors."""

    def __init__(
        self,
        policy: dict[str, frozenset[auth.Role]],
        trust_domain: str,
        insecure: bool,
        hosted_streams: Mapping[str, int] | None = None,
    ) -> None:
        """``hosted_streams``: stream method path -> the port of the stream
        host that also serves it. A stream call that only asks where it is
        served (``STREAM_DISCOVERY_KEY``) ends at once, with that port in its
        trailing metadata if there is one; any other is served here."""
        self._policy = policy
        self._trust_domain = trust_domain
        self._insecure = insecure
        self._hosted = dict(hosted_streams or {})

    def _identify(self, context: grpc.ServicerContext) -> auth.Caller:
        if self._insecure:
            metadata = dict(context.invocation_metadata())
            spiffe = metadata.get(INSECURE_IDENTITY_HEADER)
            if not isinstance(spiffe, str):
                raise errors.Unauthenticated(f"--insecure server: send {INSECURE_IDENTITY_HEADER}")
            return auth.parse_spiffe_id(spiffe, self._trust_domain)
        ids = _peer_spiffe_ids(context)
        if len(ids) != 1:
            raise errors.PermissionDenied("client certificate carries no single SPIFFE ID")
        return auth.certified_caller(ids[0], self._trust_domain)

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
        """The handler behind this gate; the server applies it once per
        method at registration (``Registering``), not on every call."""
        allowed = self._policy.get(path)
        if allowed is None:
            # Health checking and reflection: any peer that passed mTLS.
            return handler
        if handler.unary_unary is not None:
            deserialize = wire.tolerant(handler.request_deserializer)
            servicer = getattr(handler.unary_unary, "__self__", None)
            known = (
                servicer.known_answer(path.rpartition("/")[2])
                if isinstance(servicer, AnswersKnown)
                else None
            )
            if known is None:
                return grpc.unary_unary_rpc_method_handler(
                    self._unary(handler.unary_unary, allowed),
                    request_deserializer=deserialize,
                    response_serializer=handler.response_serializer,
                )
            # With a known-answer lookup the request arrives as bytes and the
            # answer leaves as bytes: a known one as it was first sent.
            return grpc.unary_unary_rpc_method_handler(
                self._unary(
                    handler.unary_unary,
                    allowed,
                    known,
                    deserialize,
                    handler.response_serializer,
                ),
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, allowed, self._hosted.get(path)),
                request_deserializer=wire.tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        raise RuntimeError(f"unsupported handler kind for {path}")

    def _fail(self, context: grpc.ServicerContext, err: Exception) -> None:
        if isinstance(err, errors.RegistryError):
            context.abort_with_status(to_status(err))
        if _already_aborted(context):
            raise err
        log.exception("unexpected error in RPC", exc_info=err)
        context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def _unary(
        self,
        behavior: Callable[[Any, grpc.ServicerContext], Any],
        allowed: frozenset[auth.Role],
        known: KnownAnswer | None = None,
        deserialize: Callable[[bytes], Any] | None = None,
        serialize: Callable[[Any], bytes] | None = None,
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                caller = self._identify(context)
                note_caller(caller)
                auth.authorize(caller, allowed)
                if known is not None:
                    answer = known(request)
                    if answer is not None:
                        return answer
                    if deserialize is not None:
                        request = deserialize(request)
                wire.check(request)
                token = auth.bind_caller(caller)
                try:
                    response = behavior(request, context)
                finally:
                    auth.unbind_caller(token)
                return response if serialize is None else serialize(response)
            except Exception as err:
                self._fail(context, err)
                raise  # unreachable: _fail always raises
            finally:
                db.release()

        return call

    def _stream(
        self,
        behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
        allowed: frozenset[auth.Role],
        hosted_port: int | None = None,
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                caller = self._identify(context)
                note_caller(caller)
                auth.authorize(caller, allowed)
                wire.check(request)
                if any(k == STREAM_DISCOVERY_KEY for k, _ in context.invocation_metadata()):
                    if hosted_port is not None:
                        # Trailing: a call with no message may end "trailers-only",
                        # where initial metadata travels as trailers anyway.
                        context.set_trailing_metadata(((STREAM_PORT_KEY, str(hosted_port)),))
                    return  # only asked where the stream is; no port: right here
                token = auth.bind_caller(caller)
                try:
                    yield from behavior(request, context)
                finally:
                    auth.unbind_caller(token)
            except Exception as err:
                self._fail(context, err)
                raise
            finally:
                db.release()

        return call


KnownAnswer = Callable[[bytes], bytes | None]
"""Answers a request from its bytes alone when the same bytes were answered
before at the state the request calls for (a memo), with the answer's bytes
as sent then; None: serve it as usual.
It runs after the caller is identified and authorized, before the request
is decoded or checked: it must only know bytes that once passed every check."""


@runtime_checkable
class AnswersKnown(Protocol):
    """A servicer some of whose unary methods have a ``KnownAnswer`` lookup:
    the gate hands those methods' requests to it as bytes first, sparing the
    decoding, the wire checks and the handler for a request seen before."""

    def known_answer(self, method: str) -> KnownAnswer | None: ...


class Wrapper(Protocol):
    def wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]: ...


class Registering:
    """The server as the generated ``add_*Servicer_to_server`` functions see
    it: every method handler is wrapped once, here, by the given wrappers
    (innermost first), instead of by gRPC interceptors on every call. An
    interceptor pipeline rebuilds the handler on each RPC; this saves that
    and the pipeline's own calls on the hot path (``bench/hotpath.py``)."""

    def __init__(self, server: grpc.Server, wrappers: Sequence[Wrapper]) -> None:
        self._server = server
        self._wrappers = wrappers

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        """Ignored: ``add_registered_method_handlers`` below registers the
        same methods, wrapped, for both lookup paths."""

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        wrapped = {name: self._wrap(f"/{service}/{name}", h) for name, h in handlers.items()}
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, wrapped),)
        )
        self._server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]

    def _wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        for wrapper in self._wrappers:
            handler = wrapper.wrap(path, handler)
        return handler


class AsyncGate:
    """The same gate on the stream host (``grpc.aio``): identity, access
    policy, wire checks and the one error mapping, for server streams whose
    handlers are async generators. Applied once per method, as ``Interceptor``
    is through ``Registering``."""

    def __init__(self, edge: Interceptor) -> None:
        self._edge = edge

    def wrap(
        self, path: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        allowed = self._edge._policy.get(path)
        if allowed is None:
            return handler
        if handler.unary_stream is None:
            raise RuntimeError(f"the stream host serves streams, not {path}")
        return grpc.unary_stream_rpc_method_handler(
            self._stream(cast("Any", handler.unary_stream), allowed),
            request_deserializer=wire.tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _stream(
        self, behavior: Callable[[Any, Any], AsyncIterator[Any]], allowed: frozenset[auth.Role]
    ) -> Callable[[Any, Any], AsyncIterator[Any]]:
        async def call(request: Any, context: Any) -> AsyncIterator[Any]:
            try:
                caller = self._edge._identify(context)
                note_caller(caller)
                auth.authorize(caller, allowed)
                wire.check(request)
                token = auth.bind_caller(caller)
                try:
                    async for item in behavior(request, context):
                        yield item
                finally:
                    with contextlib.suppress(ValueError):  # closed from another context
                        auth.unbind_caller(token)
            except grpc.aio.AbortError:
                raise
            except Exception as err:
                if isinstance(err, errors.RegistryError):
                    status = to_status(err)
                    await context.abort(status.code, status.details, status.trailing_metadata)
                log.exception("unexpected error in RPC", exc_info=err)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return call


AUDIT_RECEIPT_KEY = "dpa-audit-seq"

M = TypeVar("M", bound=Message)


def mutate(
    context: grpc.ServicerContext,
    caller: auth.Caller,
    method: str,
    request_id: str,
    request: Message,
    response_type: type[M],
    apply: Callable[[ledger.Mutation], M],
) -> M:
    """Runs a mutation through the one write path (``registry.ledger.mutate``)
    and tells the caller where its audit events landed."""
    digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()
    codec = ledger.Codec(lambda r: r.SerializeToString(), response_type.FromString)
    response, receipt = ledger.mutate(caller, method, request_id, digest, codec, apply)
    send_receipt(context, receipt.first_seq, receipt.count)
    return response


def send_receipt(context: grpc.ServicerContext, first_seq: int, count: int) -> None:
    """Tells the caller where its mutation's audit events landed: "first:count"."""
    context.set_trailing_metadata(((AUDIT_RECEIPT_KEY, f"{first_seq}:{count}"),))
