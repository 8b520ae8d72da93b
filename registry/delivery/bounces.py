"""Bounces: delivery status notifications (RFC 3464) read back, as pure rules.

A notice e-mail leaves with a per-delivery envelope sender (VERP):
``<local>+d<delivery>.a<attempt>.<token>@<domain>`` for the configured
bounce address ``<local>@<domain>``. An MTA that cannot deliver the message
sends a DSN (``multipart/report; report-type=delivery-status``) to that
address; the registry's inbound SMTP listener (``registry.delivery.inbound``)
accepts it only for an address whose delivery and token match, and hands the
bytes to ``parse``. The token is random per delivery and stored with it, so
nobody who has not seen the message's envelope can forge a bounce.

Only ``Action: failed`` counts: ``delayed`` is the remote MTA still trying,
``delivered``/``relayed``/``expanded`` are successes, and anything that is
not a DSN (an out-of-office reply to the envelope sender) is ignored.
"""

from __future__ import annotations

import email
import email.policy
import enum
import hashlib
import re
from dataclasses import dataclass
from email.message import Message

MAX_BYTES = 1024 * 1024
"""A DSN is small; the listener refuses larger messages."""

_VERP = re.compile(r"d(\d{1,18})\.a(\d{1,9})\.([0-9a-f]{16,64})")
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
_SMTP_CODE = re.compile(r"\b([245]\d\d)\b")
_MTA = re.compile(r"[A-Za-z0-9.:\[\]-]{1,255}")


def verp_address(bounce_address: str, delivery_id: int, attempt: int, token: str) -> str:
    """The envelope sender of one attempt of one delivery."""
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+d{delivery_id}.a{attempt}.{token}@{domain}"


@dataclass(frozen=True)
class Address:
    """What a bounce address names: a delivery, one of its attempts, its token."""

    delivery_id: int
    attempt: int
    token: str


def parse_address(bounce_address: str, recipient: str) -> Address | None:
    """The delivery a recipient of the bounce listener names; None if it is not
    one of ours (wrong local part or domain, malformed)."""
    local, _, domain = bounce_address.lower().rpartition("@")
    rcpt = recipient.strip().strip("<>").lower()
    r_local, _, r_domain = rcpt.rpartition("@")
    prefix = local + "+"
    if r_domain != domain or not r_local.startswith(prefix):
        return None
    found = _VERP.fullmatch(r_local[len(prefix) :])
    if found is None:
        return None
    return Address(int(found.group(1)), int(found.group(2)), found.group(3))


class Kind(enum.Enum):
    PERMANENT = "PERMANENT"
    """Status 5.x.x: sending again would fail again (unknown user, refused)."""
    TRANSIENT = "TRANSIENT"
    """Status 4.x.x: the remote MTA gave up for now (mailbox full, timeout)."""


@dataclass(frozen=True)
class Bounce:
    """The failure a DSN reports, without personal data: no addresses and no
    diagnostic text (which usually quotes the address), only codes."""

    kind: Kind
    status: str
    """The enhanced status code (RFC 3463), e.g. ``5.1.1``."""
    smtp_code: int
    """The remote SMTP reply code from ``Diagnostic-Code`` (550), or 554/451
    from the status class when the DSN names none."""
    reporting_mta: str
    digest: str
    """``sha256:`` of the DSN as received: the evidence, kept in the audit log."""


def _blocks(report: Message) -> list[Message]:
    payload = report.get_payload()
    return [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []


def _mta(value: str | None) -> str:
    """``dns; mx.example`` -> ``mx.example``."""
    name = (value or "").rpartition(";")[2].strip()
    return name if _MTA.fullmatch(name) else ""


def parse(raw: bytes) -> Bounce | None:
    """The permanent or transient failure a DSN reports; None if ``raw`` is not
    a DSN or reports no failure."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report":
        return None
    report_type = msg.get_param("report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    report = next(
        (p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if report is None:
        return None
    blocks = _blocks(report)
    if len(blocks) < 2:
        return None
    reporting = _mta(blocks[0].get("Reporting-MTA"))
    for block in blocks[1:]:
        if (block.get("Action") or "").strip().lower() != "failed":
            continue
        status = _STATUS.match((block.get("Status") or "").strip())
        if status is None or status.group(1) == "2":
            continue
        code = _SMTP_CODE.search(block.get("Diagnostic-Code") or "")
        permanent = status.group(1) == "5"
        return Bounce(
            kind=Kind.PERMANENT if permanent else Kind.TRANSIENT,
            status=status.group(0),
            smtp_code=int(code.group(1)) if code else (554 if permanent else 451),
            reporting_mta=reporting,
            digest="sha256:" + hashlib.sha256(raw).hexdigest(),
        )
    return None


def describe(b: Bounce) -> str:
    """The attempt's error text (no personal data)."""
    by = f" reported by {b.reporting_mta}" if b.reporting_mta else ""
    return f"bounced: {b.status} ({b.kind.value.lower()}){by}"
