"""The two channels' I/O: a webhook POST signed per the Standard Webhooks
specification (its ``standardwebhooks`` library signs), and an e-mail through
the SMTP relay (``smtplib``, STARTTLS and credentials from ``DPA_SMTP_*``).

Each returns an ``Outcome``: the HTTP status or SMTP reply code (0 when there
was no answer), the latency, and an error text without personal data.
"""

from __future__ import annotations

import ipaddress
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: it is recorded, never followed
    (following one could lead the registry to a host it would not call)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def internal_address(url: str) -> bool:
    """The URL's host resolves to a loopback, private, link-local or otherwise
    non-public address (a webhook must not reach into the processor's network)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False  # unresolvable: the request fails on its own
    return any(not ipaddress.ip_address(info[4][0]).is_global for info in infos)


def send_webhook(w: Work, settings: types.Settings) -> Outcome:
    started = time.monotonic()
    if not settings.allow_http and internal_address(w.target):
        return Outcome(0, _elapsed_ms(started), "refused: the URL resolves to an internal address")
    # The signature timestamp is wall-clock time: receivers check it against theirs.
    body, headers = signed_request(w, datetime.now(UTC))
    request = urllib.request.Request(w.target, data=body, headers=headers, method="POST")  # noqa: S310 - scheme checked on subscribe
    try:
        with _OPENER.open(request, timeout=settings.timeout_seconds) as response:
            response.read(65536)
            return Outcome(int(response.status), _elapsed_ms(started), "")
    except urllib.error.HTTPError as err:
        return Outcome(int(err.code), _elapsed_ms(started), f"HTTP {err.code}")
    except (OSError, ValueError) as err:
        return Outcome(0, _elapsed_ms(started), type(err).__name__)


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
