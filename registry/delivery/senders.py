"""The two channels' I/O: a webhook POST signed per the Standard Webhooks
specification (its ``standardwebhooks`` library signs), and an e-mail through
the SMTP relay (``smtplib``, STARTTLS and credentials from ``DPA_SMTP_*``).

Each returns an ``Outcome``: the HTTP status or SMTP reply code (0 when there
was no answer), the latency, and an error text without personal data.

A webhook's host is resolved once; every address must be public (or in
``DPA_DELIVERY_ALLOW_NETWORKS``), and the request goes to exactly the checked
address, with ``Host`` and TLS SNI and certificate checks for the URL's name:
a DNS answer that changes between the check and the connection (rebinding)
cannot point the registry into the processor's own network.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from registry.delivery import bounces, types
from registry.delivery.deliveries import Outcome, Work

USER_AGENT = "dpa-registry-delivery/1"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def signed_request(w: Work, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a webhook: ``webhook-id`` is stable across
    retries of one delivery, so the receiver can drop duplicates."""
    body = json.dumps(types.webhook_payload(w.notice), separators=(",", ":"), sort_keys=True)
    msg_id = f"msg_dlv{w.delivery_id}"
    signature = Webhook(w.secret).sign(msg_id, now, body)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


Resolver = Callable[[str, int], list[str]]
"""``(host, port)`` -> the IP addresses it resolves to, in preference order."""


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


resolver: Resolver = _system_resolve
"""How webhook hosts are resolved (the system's resolver); tests install a
resolver that answers like a rebinding DNS server."""


class Refused(Exception):
    """The webhook's host may not be called; the message says why."""


def pinned_address(host: str, port: int, settings: types.Settings) -> str:
    """Resolves ``host`` once and returns the address to connect to. Every
    address it resolves to must be allowed (``types.address_allowed``): one
    forbidden answer refuses the whole name. The caller connects to exactly
    this address, so a second DNS answer (rebinding) is never used."""
    try:
        addresses = resolver(host, port)
    except OSError as err:
        raise Refused(f"cannot resolve the host ({type(err).__name__})") from None
    if not addresses:
        raise Refused("the host resolves to no address")
    if not all(types.address_allowed(a, settings.allow_networks) for a in addresses):
        raise Refused("refused: the host resolves to a non-public address")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to a checked address; ``Host`` is still the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(_PinnedHTTP):
    """TLS to a checked address, with SNI and certificate verification for
    the URL's host name (not the address)."""

    default_port = 443

    def __init__(
        self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, address, timeout)
        self._context = context

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def _tls_context(settings: types.Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file or None)


def post(url: str, body: bytes, headers: dict[str, str], settings: types.Settings) -> int:
    """POSTs ``body`` to ``url`` over a connection to the pinned address;
    returns the HTTP status. A redirect is an answer, never followed (it could
    lead to a host the registry would not call). Raises ``Refused``, ``OSError``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = pinned_address(host, port, settings)
    timeout = settings.timeout_seconds
    conn: _PinnedHTTP = (
        _PinnedHTTPS(host, port, address, timeout, _tls_context(settings))
        if https
        else _PinnedHTTP(host, port, address, timeout)
    )
    try:
        path = parts.path or "/"
        conn.request("POST", f"{path}?{parts.query}" if parts.query else path, body, headers)
        response = conn.getresponse()
        response.read(65536)
        return int(response.status)
    finally:
        conn.close()


def send_webhook(w: Work, settings: types.Settings) -> Outcome:
    started = time.monotonic()
    # The signature timestamp is wall-clock time: receivers check it against theirs.
    body, headers = signed_request(w, datetime.now(UTC))
    try:
        status = post(w.target, body, headers, settings)
    except Refused as err:
        return Outcome(0, _elapsed_ms(started), str(err))
    except (OSError, ValueError, http.client.HTTPException) as err:
        return Outcome(0, _elapsed_ms(started), type(err).__name__)
    return Outcome(status, _elapsed_ms(started), "" if 200 <= status < 300 else f"HTTP {status}")


def message(w: Work, settings: types.Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = w.target
    msg["Subject"] = " ".join(w.notice.title.split())[:200]
    msg["Message-ID"] = f"<dlv{w.delivery_id}.n{w.notice.id}@dpa-registry>"
    msg.set_content(types.email_text(w.notice))
    return msg


def envelope_sender(w: Work, settings: types.Settings) -> str:
    """Where bounces go: this attempt's own address under the bounce address
    (``registry.delivery.bounces``), or ``smtp_from`` when bounces are not read."""
    if settings.bounce_address and w.bounce_token:
        return bounces.verp_address(
            settings.bounce_address, w.delivery_id, w.number, w.bounce_token
        )
    return settings.smtp_from


def send_email(w: Work, settings: types.Settings) -> Outcome:
    started = time.monotonic()
    if not settings.smtp_host:
        return Outcome(0, 0, "no SMTP relay configured (DPA_SMTP_HOST)")
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(
                message(w, settings), from_addr=envelope_sender(w, settings)
            )
            if refused:
                code = next(iter(refused.values()))[0]
                return Outcome(int(code), _elapsed_ms(started), "recipient refused")
            return Outcome(250, _elapsed_ms(started), "")
    except smtplib.SMTPRecipientsRefused as err:
        code = next(iter(err.recipients.values()))[0]
        return Outcome(int(code), _elapsed_ms(started), "recipient refused")
    except smtplib.SMTPResponseException as err:
        return Outcome(int(err.smtp_code), _elapsed_ms(started), type(err).__name__)
    except (OSError, ValueError, smtplib.SMTPException) as err:
        return Outcome(0, _elapsed_ms(started), type(err).__name__)


def send(w: Work, settings: types.Settings) -> Outcome:
    if w.channel is types.Channel.WEBHOOK:
        return send_webhook(w, settings)
    return send_email(w, settings)
