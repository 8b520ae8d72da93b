"""Controllers (the registry's tenants) as the client returns them.

Frozen values built from the wire messages of ``controllers.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dpa_client.types._convert import time_of
from dpa_registry_api.v1 import controllers_pb2 as pb


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationPreferences:
    """Where and in which time zone a controller wants its notices."""

    emails: tuple[str, ...]
    """Extra addresses that receive copies of notices."""
    time_zone: str
    """IANA time zone in which deadlines are shown to this controller,
    for example "Europe/Tallinn". Empty means UTC.
    """

    @classmethod
    def from_proto(cls, msg: pb.NotificationPreferences) -> NotificationPreferences:
        """The value of a ``dpa.registry.v1.NotificationPreferences`` message."""
        return cls(
            emails=tuple(msg.emails),
            time_zone=msg.time_zone,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Controller:
    """A controller: an enterprise client of the processor, the registry's tenant."""

    name: str
    """Resource name: "controllers/{controller_id}"."""
    controller_id: str
    """Lower-case id; equals the last segment of the controller's SPIFFE ID."""
    legal_name: str
    country: str
    """ISO 3166-1 alpha-2 country of establishment."""
    contact_email: str
    dpo_email: str
    notification_preferences: NotificationPreferences
    create_time: datetime | None
    update_time: datetime | None
    etag: str
    """Changes on every update; send it back on update to detect lost updates."""

    @classmethod
    def from_proto(cls, msg: pb.Controller) -> Controller:
        """The value of a ``dpa.registry.v1.Controller`` message."""
        return cls(
            name=msg.name,
            controller_id=msg.controller_id,
            legal_name=msg.legal_name,
            country=msg.country,
            contact_email=msg.contact_email,
            dpo_email=msg.dpo_email,
            notification_preferences=NotificationPreferences.from_proto(
                msg.notification_preferences
            ),
            create_time=time_of(msg, "create_time"),
            update_time=time_of(msg, "update_time"),
            etag=msg.etag,
        )
