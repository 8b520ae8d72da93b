"""Inbox notifications as the client returns them.

Frozen values built from the wire messages of ``notifications.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dpa_client.types._convert import enum_of, struct_of, time_of
from dpa_registry_api.v1 import notifications_pb2 as pb


class NotificationKind(StrEnum):
    """Notification kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    SUBPROCESSOR_CHANGE = "SUBPROCESSOR_CHANGE"
    """A sub-processor addition, replacement or removal (Art. 28(2))."""
    BREACH = "BREACH"
    """A personal data breach (Art. 33(2))."""
    INSTRUCTION_FLAGGED = "INSTRUCTION_FLAGGED"
    """The processor believes an instruction infringes the law (Art. 28(3)(h))."""
    DPA = "DPA"
    """Something about the controller's DPA."""
    OBJECTION_RESOLVED = "OBJECTION_RESOLVED"
    """Staff resolved the controller's objection to a sub-processor change."""
    GENERAL = "GENERAL"
    TASK = "TASK"
    """A data-subject request or end-of-contract task (Art. 28(3)(e), (g))."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """An inbox notification to a controller (change notices, breaches, ...)."""

    name: str
    """"notifications/{id}", within the controller's inbox."""
    id: int
    """The notification's number in its controller's inbox (1, 2, 3, ...):
    increasing, gap-free per inbox, and the Watch cursor. Numbers are per
    inbox, so they reveal nothing about other controllers' notices.
    """
    controller: str
    """"controllers/{controller_id}": whose inbox."""
    kind: NotificationKind
    title: str
    body: str
    resource: str
    """The resource the notification is about, e.g. "changeNotices/cn-..."."""
    payload: Mapping[str, Any]
    """Kind-specific details (deadlines, ids)."""
    create_time: datetime | None
    acknowledged: bool
    acknowledge_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.Notification) -> Notification:
        """The value of a ``dpa.registry.v1.Notification`` message."""
        return cls(
            name=msg.name,
            id=msg.id,
            controller=msg.controller,
            kind=enum_of(NotificationKind, pb.NotificationKind, msg.kind),
            title=msg.title,
            body=msg.body,
            resource=msg.resource,
            payload=struct_of(msg.payload),
            create_time=time_of(msg, "create_time"),
            acknowledged=msg.acknowledged,
            acknowledge_time=time_of(msg, "acknowledge_time"),
        )
