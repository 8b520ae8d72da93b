"""Audit events and their canonical bytes (RFC 8785 JSON).

An event records who did what to which resource, never the personal data
itself: the change appears only as a SHA-256 digest of its canonical JSON.
A random nonce makes leaf hashes unguessable from proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from dpa_client.documents import canonical
from registry.clock import rfc3339

# ``canonical`` lives in the client library, which signs canonical bytes too;
# re-exported here for the server's modules.
__all__ = ["EVENT_VERSION", "Change", "Event", "canonical", "digest", "make_event", "parse"]

EVENT_VERSION = 1


def digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(value)).hexdigest()


@dataclass(frozen=True)
class Change:
    """One state change, as a mutation reports it to the write path."""

    action: str
    resource: str
    tenant: str | None
    change: Mapping[str, Any]


@dataclass(frozen=True)
class Event:
    seq: int
    time: datetime
    actor: str
    tenant: str | None
    action: str
    resource: str
    request_id: str
    change_digest: str
    nonce: str

    def to_json(self) -> dict[str, Any]:
        return {
            "v": EVENT_VERSION,
            "seq": self.seq,
            "time": rfc3339(self.time),
            "actor": self.actor,
            "tenant": self.tenant,
            "action": self.action,
            "resource": self.resource,
            "request_id": self.request_id,
            "change": self.change_digest,
            "nonce": self.nonce,
        }

    def canonical_bytes(self) -> bytes:
        """``canonical(self.to_json())``; ASCII text (nearly every event) is
        filled into the members' fixed order directly, with JSON's own
        escaping, which is RFC 8785's for ASCII (a breach writes ten
        thousand events in one transaction)."""
        tenant = self.tenant
        texts = (self.action, self.actor, self.change_digest, self.nonce, self.request_id)
        if not (
            "".join(texts).isascii()
            and self.resource.isascii()
            and (tenant is None or tenant.isascii())
            and type(self.seq) is int
        ):
            return canonical(self.to_json())
        q = encode_basestring
        return (
            _ASCII_EVENT
            % (
                *map(q, texts),
                q(self.resource),
                self.seq,
                "null" if tenant is None else q(tenant),
                q(rfc3339(self.time)),
                EVENT_VERSION,
            )
        ).encode()


_ASCII_EVENT = (
    '{"action":%s,"actor":%s,"change":%s,"nonce":%s,"request_id":%s,'
    '"resource":%s,"seq":%d,"tenant":%s,"time":%s,"v":%d}'
)
"""An event's members in RFC 8785 order (``Event.to_json``'s keys, sorted)."""


def make_event(seq: int, time: datetime, actor: str, request_id: str, change: Change) -> Event:
    return Event(
        seq=seq,
        time=time,
        actor=actor,
        tenant=change.tenant,
        action=change.action,
        resource=change.resource,
        request_id=request_id,
        change_digest=digest(dict(change.change)),
        nonce=base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
    )


def parse(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("audit event is not a JSON object")
    return value
