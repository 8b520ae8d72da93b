"""C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the log as static-style HTTPS paths.

``/checkpoint`` (the newest signed checkpoint with its cosignatures),
``/tile/<L>/<N>[.p/<W>]`` (hash tiles: hash ``i`` of tile ``N`` at level ``L``
is the stored perfect subtree at Merkle level ``8L``, index ``256N + i``) and
``/tile/entries/<N>[.p/<W>]`` (entry bundles: uint16-length-prefixed bodies).
``<N>`` is written in 3-digit path elements, all but the last prefixed ``x``.

Served on a separate port over mutual TLS, like the gRPC API: any registry
identity may read the checkpoint and hash tiles (hashes of nonce-salted events
reveal nothing), but entry bundles hold every tenant's events, so only the
roles that see every entry (staff, service, auditor) may read them.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from registry import auth, db
from registry.audit import log, store, witnesses
from registry.errors import PermissionDenied

logger = logging.getLogger(__name__)

TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_LEVEL = 7  # 8 * 7 = 56: no deeper Merkle level exists in a tree of < 2**56 entries
_PATH = re.compile(
    r"/tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)
_FULL_ACCESS = frozenset({auth.Role.STAFF, auth.Role.SERVICE, auth.Role.AUDITOR})


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``."""
    if n < 0:
        raise ValueError("negative tile index")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """The path of a hash tile (``level``) or an entry bundle (``level`` None)."""
    name = "entries" if level is None else str(level)
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"/tile/{name}/{encode_index(index)}{suffix}"


@dataclass(frozen=True)
class TileRequest:
    level: int | None
    """None for an entry bundle."""
    index: int
    width: int


def parse_path(path: str) -> TileRequest | None:
    """A canonical tile path, or None (the server answers 404)."""
    m = _PATH.fullmatch(path)
    if m is None:
        return None
    raw_level, raw_index, raw_width = m.group("level", "index", "width")
    index = int(raw_index.replace("x", "").replace("/", ""))
    width = int(raw_width) if raw_width else TILE_WIDTH
    level = None if raw_level == "entries" else int(raw_level)
    if (raw_width and width >= TILE_WIDTH) or (level is not None and level > MAX_LEVEL):
        return None
    request = TileRequest(level, index, width)
    if tile_path(level, index, width) != path:  # e.g. x000/001 for 1
        return None
    return request


def read_tile(request: TileRequest) -> bytes | None:
    """The tile's bytes, or None if the log is too small for it."""
    level = request.level or 0
    first = request.index * TILE_WIDTH
    with db.database.atomic():
        size = store.size()
        if (first + request.width) << (TILE_HEIGHT * level) > size:
            return None
        if request.level is None:
            rows = (
                store.AuditEvent.select(store.AuditEvent.body)
                .where(
                    store.AuditEvent.seq >= first,
                    store.AuditEvent.seq < first + request.width,
                )
                .order_by(store.AuditEvent.seq)
            )
            out = bytearray()
            for row in rows:
                body = bytes(row.body)
                out += len(body).to_bytes(2, "big") + body  # OverflowError if > 65535
            return bytes(out)
        coords = [(TILE_HEIGHT * level, first + i) for i in range(request.width)]
        return b"".join(store.StoredNodes().get_nodes(coords))


def checkpoint_text() -> str:
    signed = log.latest_checkpoint()
    return witnesses.cosignatures(signed.checkpoint.size).append_to(signed.note)


def _caller(handler: BaseHTTPRequestHandler, trust_domain: str) -> auth.Caller:
    conn: Any = handler.connection
    cert: dict[str, Any] = (conn.getpeercert() if isinstance(conn, ssl.SSLSocket) else None) or {}
    names: tuple[tuple[str, str], ...] = cert.get("subjectAltName", ())
    uris = [value for kind, value in names if kind == "URI"]
    if len(uris) != 1:
        raise PermissionDenied("client certificate carries no single SPIFFE ID")
    return auth.parse_spiffe_id(uris[0], trust_domain)


def _handler(trust_domain: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("tiles: " + format, *args)

        def _send(self, code: int, body: bytes, content_type: str, cache: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str) -> None:
            self._send(code, message.encode() + b"\n", "text/plain; charset=utf-8", "no-store")

        def do_GET(self) -> None:
            try:
                caller = _caller(self, trust_domain)
                if self.path == "/checkpoint":
                    text = checkpoint_text().encode()
                    self._send(200, text, "text/plain; charset=utf-8", "max-age=2")
                    return
                request = parse_path(self.path)
                if request is None:
                    self._error(404, "not found")
                    return
                if request.level is None and caller.role not in _FULL_ACCESS:
                    self._error(403, "entry bundles hold every tenant's events")
                    return
                data = read_tile(request)
                if data is None:
                    self._error(404, "beyond the log's size")
                    return
                self._send(200, data, "application/octet-stream", "max-age=31536000, immutable")
            except PermissionDenied as err:
                self._error(403, err.message)
            except Exception:
                logger.exception("tiles: unexpected error")
                self._error(500, "internal error")

    return Handler


@dataclass
class TilesServer:
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def start(
    listen: str,
    context_factory: Callable[[], ssl.SSLContext],
    trust_domain: str,
) -> TilesServer:
    """Serves tiles on ``listen`` (host:port) in a background thread, mTLS only."""
    host, _, port = listen.rpartition(":")
    httpd = ThreadingHTTPServer((host, int(port)), _handler(trust_domain))
    httpd.daemon_threads = True
    context = context_factory()
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, name="tiles", daemon=True)
    thread.start()
    logger.info("serving tlog-tiles on port %d (mTLS)", httpd.server_address[1])
    return TilesServer(httpd, thread)
