"""Channel, deadlines, retries and error mapping shared by every client method."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dpa_client import errors
from dpa_registry_api.v1 import consistency_pb2

Consistency = consistency_pb2.Consistency

T = TypeVar("T")

_BY_CODE: dict[grpc.StatusCode, type[errors.RpcError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
}

INSECURE_IDENTITY_HEADER = "x-dpa-insecure-spiffe-id"
AUDIT_RECEIPT_KEY = "dpa-audit-seq"
STREAM_DISCOVERY_KEY = "dpa-stream-discovery"
"""Request metadata on a stream call: "only tell me where this stream is hosted"."""
STREAM_PORT_KEY = "dpa-stream-port"
"""Response metadata: the port of the server's stream host, on the target's host."""


@dataclass(frozen=True)
class AuditReceipt:
    """Where a mutation's audit events landed: indices first .. first+count-1."""

    first_index: int
    count: int

    @property
    def revision(self) -> int:
        """The registry revision (audit-log size) once this write committed: a
        consistency token for ``check_transfer``/``check_processing``
        (``at_least_revision=``)."""
        return self.first_index + self.count


def translate(err: grpc.RpcError) -> errors.RpcError:
    """Maps a gRPC error to the library's exception, with field violations."""
    code = err.code()
    violations: list[errors.FieldViolation] = []
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [
                    errors.FieldViolation(v.field, v.description) for v in bad.field_violations
                ]
    cls = _BY_CODE.get(code, errors.ServerError)
    return cls(err.details() or code.name, tuple(violations))


def consistency(at_least_revision: int | None, minimize_latency: bool) -> Consistency | None:
    """The ``consistency`` field of a check request; None means fully consistent."""
    if at_least_revision is not None and minimize_latency:
        raise ValueError("give at_least_revision or minimize_latency, not both")
    if at_least_revision is not None:
        return Consistency(
            mode=consistency_pb2.CONSISTENCY_MODE_AT_LEAST_REVISION,
            at_least_revision=at_least_revision,
        )
    if minimize_latency:
        return Consistency(mode=consistency_pb2.CONSISTENCY_MODE_MINIMIZE_LATENCY)
    return None


def stream_host_of(target: str) -> str | None:
    """The host part of a channel target (``host:port``, ``[v6]:port``,
    ``dns:///host:port``); None for a Unix socket."""
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme) :]
            break
    if target.startswith("unix"):
        return None
    if target.startswith("[") and "]" in target:
        return target[: target.index("]") + 1]
    host, sep, _ = target.rpartition(":")
    return host if sep else target


def new_request_id() -> str:
    return str(uuid.uuid4())


class BaseClient:
    """Holds one long-lived channel; every call has a deadline."""

    def __init__(
        self,
        target: str,
        *,
        ca: str | Path | None = None,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        insecure_identity: str | None = None,
        options: list[tuple[str, Any]] | None = None,
        stream_target: str | None = None,
    ) -> None:
        """Connects with mutual TLS (``ca``, ``cert``, ``key`` are PEM file paths).

        ``insecure_identity`` (a SPIFFE ID) instead connects in plaintext to a
        server started with ``--insecure``: local development only.

        Live streams (``watch_notifications``) go to the server's stream host.
        ``stream_target`` (host:port) names it; by default the client asks the
        server where it is (one short call per connect) and uses the same host
        as ``target``; ``""`` keeps streams on ``target``.
        """
        opts = [("grpc.keepalive_time_ms", 60_000), *(options or [])]
        self.target = target
        self._stream_target = stream_target
        self._stream_channels: dict[str, grpc.Channel] = {}
        self._stream_lock = threading.Lock()
        if insecure_identity is not None:
            self._channel = grpc.insecure_channel(target, options=opts)
            self._metadata: tuple[tuple[str, str], ...] = (
                (INSECURE_IDENTITY_HEADER, insecure_identity),
            )

            def connect(to: str) -> grpc.Channel:
                return grpc.insecure_channel(to, options=opts)
        else:
            if ca is None or cert is None or key is None:
                raise ValueError("ca, cert and key are required for mutual TLS")
            credentials = grpc.ssl_channel_credentials(
                Path(ca).read_bytes(), Path(key).read_bytes(), Path(cert).read_bytes()
            )
            self._channel = grpc.secure_channel(target, credentials, options=opts)
            self._metadata = ()

            def connect(to: str) -> grpc.Channel:
                return grpc.secure_channel(to, credentials, options=opts)

        self._connect = connect
        self.timeout = timeout
        self.retries = retries
        self.last_receipt: AuditReceipt | None = None
        # The client certificate and key, for signing as this identity (DPA countersignature).
        self.cert_path: Path | None = Path(cert) if cert is not None else None
        self.key_path: Path | None = Path(key) if key is not None else None

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def close(self) -> None:
        with self._stream_lock:
            channels, self._stream_channels = list(self._stream_channels.values()), {}
        for channel in channels:
            channel.close()
        self._channel.close()

    def _stream_channel(
        self, discover: Callable[[tuple[tuple[str, str], ...]], Any]
    ) -> grpc.Channel:
        """The channel for a live stream: the configured stream target, or the
        one the server names when asked (``discover(metadata)`` opens the
        stream call with that metadata on the main channel), else the main
        channel. Channels are kept for the client's life."""
        target = self._stream_target
        if target is None:
            target = self._discover(discover)
        if not target:
            return self._channel
        with self._stream_lock:
            channel = self._stream_channels.get(target)
            if channel is None:
                channel = self._stream_channels[target] = self._connect(target)
        return channel

    def _discover(self, discover: Callable[[tuple[tuple[str, str], ...]], Any]) -> str:
        """Asks the main port where its streams are hosted; "" if not elsewhere."""
        call = discover(((STREAM_DISCOVERY_KEY, "1"), *self._metadata))
        try:
            if call.code() != grpc.StatusCode.OK:  # ends at once
                raise call  # the server is not there: the caller reconnects later
            metadata = call.trailing_metadata() or ()
            port = next((v for k, v in metadata if k == STREAM_PORT_KEY), "")
        finally:
            call.cancel()
        host = stream_host_of(self.target)
        if not port or host is None:
            return ""
        return f"{host}:{port}"

    def __enter__(self) -> BaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable[..., Any], request: Any, *, idempotent: bool) -> Any:
        """Calls a unary method; retries UNAVAILABLE only when ``idempotent``."""
        attempt = 0
        while True:
            try:
                response, call = method.with_call(  # type: ignore[attr-defined]
                    request, timeout=self.timeout, metadata=self._metadata
                )
            except grpc.RpcError as err:
                retry = idempotent and err.code() == grpc.StatusCode.UNAVAILABLE
                if retry and attempt < self.retries:
                    attempt += 1
                    time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
                    continue
                raise translate(err) from None
            self._note_receipt(call)
            return response

    def _note_receipt(self, call: Any) -> None:
        for key, value in call.trailing_metadata() or ():
            if key == AUDIT_RECEIPT_KEY:
                first, count = value.split(":")
                self.last_receipt = AuditReceipt(int(first), int(count))
