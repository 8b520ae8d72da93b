"""The public trust port: plain HTTPS without client certificates.

``/`` (the trust page, HTML), ``/feed.json`` (the signed feed) and
``/feed.atom``. Every change to the registry appends to the audit log, so a
feed version is rebuilt only when the log has grown; responses carry an
``ETag`` (the SHA-256 of the body), ``Last-Modified`` and
``Cache-Control: public, max-age=60``, and ``If-None-Match`` gets 304.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from registry import db
from registry.audit import store
from registry.trust import feed, render

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 60
TYPES = {
    "/feed.json": "application/json",
    "/feed.atom": "application/atom+xml; charset=utf-8",
    "/": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class Version:
    log_size: int
    bodies: dict[str, bytes]
    modified: datetime


class Cache:
    """The rendered feed for one audit-log size."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._lock = threading.Lock()
        self._current: Version | None = None

    def get(self) -> Version:
        with db.database.connection_context():
            size = store.size()
            with self._lock:
                if self._current is not None and self._current.log_size == size:
                    return self._current
                signed = feed.build()
                body = json.dumps(signed, indent=1, sort_keys=True).encode()
                bodies = {
                    "/feed.json": body,
                    "/feed.atom": render.atom(signed, self._base_url),
                    "/": render.html(signed),
                }
                modified = datetime.fromisoformat(signed["feed"]["generated"])
                self._current = Version(size, bodies, modified)
                return self._current


def _handler(cache: Cache) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dpa-registry-trust"
        sys_version = ""

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

        def _serve(self, *, with_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            path = "/" if path == "/index.html" else path
            if path not in TYPES:
                self._plain(404, b"not found\n", with_body)
                return
            try:
                version = cache.get()
            except Exception:
                log.exception("building the public feed failed")
                self._plain(503, b"temporarily unavailable\n", with_body)
                return
            body = version.bodies[path]
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            common = {
                "ETag": etag,
                "Last-Modified": format_datetime(version.modified, usegmt=True),
                "Cache-Control": f"public, max-age={MAX_AGE_SECONDS}",
                "X-Content-Type-Options": "nosniff",
            }
            if etag in (self.headers.get("If-None-Match") or ""):
                self.send_response(304)
                for k, v in common.items():
                    self.send_header(k, v)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", TYPES[path])
            self.send_header("Content-Length", str(len(body)))
            if path == "/":
                self.send_header(
                    "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"
                )
            for k, v in common.items():
                self.send_header(k, v)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _plain(self, status: int, body: bytes, with_body: bool) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("trust port: " + format, *args)

    return Handler


@dataclass
class TrustServer:
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start(listen: str, context_factory: Callable[[], ssl.SSLContext]) -> TrustServer:
    """Serves the trust page and feed on ``listen`` (host:port), HTTPS only."""
    host, _, port = listen.rpartition(":")
    httpd = ThreadingHTTPServer((host, int(port)), _handler(Cache("")))
    httpd.daemon_threads = True
    httpd.socket = context_factory().wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, name="trust", daemon=True)
    thread.start()
    log.info("serving the trust page and feed on port %d (HTTPS)", httpd.server_address[1])
    return TrustServer(httpd, thread)
