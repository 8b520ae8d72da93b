"""Delivery values and pure rules: channels, states, the retry schedule, what
a subscription accepts, and the settings read from the environment.

No I/O here: the worker and the servicer apply these rules.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from registry.errors import InvalidArgument


class Channel(enum.Enum):
    WEBHOOK = "WEBHOOK"
    EMAIL = "EMAIL"


class Evidence(enum.Enum):
    """How a notice reached its controller."""

    STREAM = "STREAM"
    """Handed to the controller's open Watch stream."""
    INBOX_ACK = "INBOX_ACK"
    """Acknowledged by the controller in its inbox."""
    WEBHOOK = "WEBHOOK"
    """A subscribed webhook answered 2xx."""
    EMAIL = "EMAIL"
    """The SMTP relay accepted the mail for a subscribed recipient."""


class State(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD_LETTER = "DEAD_LETTER"
    CANCELLED = "CANCELLED"


MAX_URL = 2048
MAX_EMAIL = 254
MAX_KINDS = 16
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
_URL_CHARS = re.compile(r"[\x21-\x7e]+")
"""Printable ASCII without spaces: an internationalised host goes in as punycode."""


@dataclass(frozen=True)
class Settings:
    """How the worker delivers; every field has a ``DPA_*`` variable."""

    max_attempts: int = 8
    """Attempts before a delivery is dead-lettered (``DPA_DELIVERY_MAX_ATTEMPTS``)."""
    backoff_seconds: float = 30.0
    """Delay before the second attempt; doubles each time (``DPA_DELIVERY_BACKOFF_SECONDS``)."""
    max_backoff_seconds: float = 6 * 3600.0
    interval_seconds: float = 1.0
    """How often the worker looks for work (``DPA_DELIVERY_INTERVAL_SECONDS``)."""
    timeout_seconds: float = 10.0
    """Per HTTP request or SMTP session (``DPA_DELIVERY_TIMEOUT_SECONDS``)."""
    allow_http: bool = False
    """Accept plain ``http://`` webhook URLs: tests and development only
    (``DPA_DELIVERY_ALLOW_HTTP=1``)."""
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """Non-public networks webhooks may reach anyway, e.g. ``127.0.0.0/8`` in
    tests or a partner link (``DPA_DELIVERY_ALLOW_NETWORKS``, comma-separated
    CIDRs). Every other loopback, private, link-local or reserved address is
    refused."""
    ca_file: str = ""
    """CA certificates (PEM) webhook servers are verified against instead of
    the system's (``DPA_DELIVERY_CA_FILE``)."""
    smtp_host: str = ""
    """SMTP relay; empty: e-mail subscriptions wait (``DPA_SMTP_HOST``)."""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "dpa-registry@localhost"
    lease_seconds: float = 120.0
    """How long a claimed delivery is another process's to finish."""
    bounce_address: str = ""
    """Envelope sender of notice e-mails, e.g. ``bounces@bounces.processor.example``
    (``DPA_BOUNCE_ADDRESS``): each message goes out from a per-delivery
    variant (``bounces+d42.a1.<token>@...``) so a bounce names its delivery.
    Empty: the envelope sender is ``smtp_from`` and bounces are not read."""
    bounce_listen: str = ""
    """``host:port`` of the inbound SMTP listener that receives bounces
    (``DPA_BOUNCE_LISTEN``); the MX of the bounce address's domain, or the
    operator's mail server, hands them to it. Empty: off."""

    @staticmethod
    def from_env(environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        d = Settings()

        def flag(name: str, default: bool) -> bool:
            raw = env.get(name)
            return default if raw is None else raw.strip().lower() in ("1", "true", "yes")

        return Settings(
            max_attempts=max(1, int(env.get("DPA_DELIVERY_MAX_ATTEMPTS", d.max_attempts))),
            backoff_seconds=float(env.get("DPA_DELIVERY_BACKOFF_SECONDS", d.backoff_seconds)),
            interval_seconds=float(env.get("DPA_DELIVERY_INTERVAL_SECONDS", d.interval_seconds)),
            timeout_seconds=float(env.get("DPA_DELIVERY_TIMEOUT_SECONDS", d.timeout_seconds)),
            allow_http=flag("DPA_DELIVERY_ALLOW_HTTP", d.allow_http),
            allow_networks=networks(env.get("DPA_DELIVERY_ALLOW_NETWORKS", "")),
            ca_file=env.get("DPA_DELIVERY_CA_FILE", d.ca_file).strip(),
            smtp_host=env.get("DPA_SMTP_HOST", d.smtp_host),
            smtp_port=int(env.get("DPA_SMTP_PORT", d.smtp_port)),
            smtp_starttls=flag("DPA_SMTP_STARTTLS", d.smtp_starttls),
            smtp_username=env.get("DPA_SMTP_USERNAME", d.smtp_username),
            smtp_password=env.get("DPA_SMTP_PASSWORD", d.smtp_password),
            smtp_from=env.get("DPA_SMTP_FROM", d.smtp_from),
            bounce_address=env.get("DPA_BOUNCE_ADDRESS", d.bounce_address).strip(),
            bounce_listen=env.get("DPA_BOUNCE_LISTEN", d.bounce_listen).strip(),
        )


def networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"127.0.0.0/8, ::1/128"`` -> the networks (a bad entry is a start-up error)."""
    return tuple(ipaddress.ip_network(n.strip()) for n in spec.split(",") if n.strip())


def address_allowed(
    address: str, allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    """A webhook may connect to a public address, or to one in ``allow``; never
    to loopback, private, link-local, shared, reserved or multicast ones (a
    controller must not point the registry into the processor's network)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allow):
        return True
    return ip.is_global and not ip.is_multicast


def next_attempt(settings: Settings, attempts_made: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts_made`` failures; None: dead-letter.

    Exponential backoff: ``backoff * 2**(n-1)`` after the n-th failure, capped.
    """
    if attempts_made >= settings.max_attempts:
        return None
    delay = min(settings.backoff_seconds * 2 ** (attempts_made - 1), settings.max_backoff_seconds)
    return now + timedelta(seconds=delay)


def succeeded(channel: Channel, status_code: int) -> bool:
    """A webhook answered 2xx; an SMTP relay accepted the message (250)."""
    if channel is Channel.WEBHOOK:
        return 200 <= status_code < 300
    return status_code == 250


def check_url(url: str, allow_http: bool, field: str) -> str:
    if not url:
        raise InvalidArgument.one(field, "is required for a WEBHOOK subscription")
    if len(url) > MAX_URL:
        raise InvalidArgument.one(field, f"longer than {MAX_URL} characters")
    if not _URL_CHARS.fullmatch(url):
        raise InvalidArgument.one(field, "must be printable ASCII without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidArgument.one(field, "is not a URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise InvalidArgument.one(field, "must be an https:// URL")
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise InvalidArgument.one(field, "must name a host, without credentials or fragment")
    del port
    return url


def check_email(address: str, field: str) -> str:
    if not address:
        raise InvalidArgument.one(field, "is required for an EMAIL subscription")
    if len(address) > MAX_EMAIL or not _EMAIL.fullmatch(address):
        raise InvalidArgument.one(field, "is not an e-mail address")
    return address


def wants(kinds: frozenset[str], kind: str) -> bool:
    """A subscription with no kinds wants every kind."""
    return not kinds or kind in kinds


@dataclass(frozen=True)
class Notice:
    """What a delivery carries: the inbox notification, as plain values."""

    id: int
    controller_id: str
    kind: str
    title: str
    body: str
    resource: str
    create_time: datetime
    audit_index: int | None


def email_text(n: Notice) -> str:
    """The plain-text part: the notice text and its audit index, no links."""
    index = str(n.audit_index) if n.audit_index is not None else "pending"
    return (
        f"{n.title}\n\n{n.body}\n\n"
        f"Notice: notifications/{n.id} ({n.kind})\n"
        f"About: {n.resource}\n"
        f"Sent: {n.create_time.isoformat()}\n"
        f"Audit log index: {index}\n"
    )


def webhook_payload(n: Notice) -> dict[str, object]:
    """The JSON body of a webhook (Standard Webhooks: type, timestamp, data)."""
    return {
        "type": f"notice.{n.kind.lower()}",
        "timestamp": n.create_time.isoformat(),
        "data": {
            "notification": f"notifications/{n.id}",
            "controller": f"controllers/{n.controller_id}",
            "kind": n.kind,
            "title": n.title,
            "body": n.body,
            "resource": n.resource,
            "audit_index": n.audit_index,
        },
    }
