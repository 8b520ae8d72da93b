"""Legal concepts several decisions share, and the Art. 28(2) engagement rule.

The server's domains re-export these (``registry.agreements.types``,
``registry.subprocessors.types``): one definition on both sides of the wire.
"""

from __future__ import annotations

import enum
import functools
import re
from datetime import date
from typing import Protocol

iso_day = functools.lru_cache(maxsize=4096)(date.isoformat)
"""``day.isoformat()``, remembered: formatting a date costs more than a
decision's lookups (both checks name the transfer date in every answer)."""

RESOURCE_ID = re.compile(r"[a-z][a-z0-9-]{0,62}")
"""A resource id (controller, sub-processor, ...): the registry's one rule."""


class Sink(Protocol):
    """Where validation puts field violations (the server's ``Violations``,
    the client's collector): ``add(field, description)``."""

    def add(self, field: str, description: str) -> None: ...


def resource_id(field: str, value: str, errors: Sink) -> None:
    """``value`` must be a resource id (``RESOURCE_ID``)."""
    if not RESOURCE_ID.fullmatch(value):
        errors.add(field, "must match [a-z][a-z0-9-]{0,62}")


def parse_name(name: str, collection: str, field: str, errors: Sink) -> str:
    """The id of ``{collection}/{id}``; adds a violation of ``field`` (and
    returns "") otherwise."""
    prefix = collection + "/"
    ident = name[len(prefix) :] if name.startswith(prefix) else ""
    if not RESOURCE_ID.fullmatch(ident):
        errors.add(field, f"must look like {collection}/{{id}}")
        return ""
    return ident


class Operation(enum.StrEnum):
    """Processing operations (Art. 4(2)) an instruction may permit."""

    COLLECT = "COLLECT"
    STORE = "STORE"
    ANALYZE = "ANALYZE"
    TRANSMIT = "TRANSMIT"
    DISCLOSE = "DISCLOSE"
    DELETE = "DELETE"
    TRAIN_MODEL = "TRAIN_MODEL"


class SubprocessorStatus(enum.StrEnum):
    PROPOSED = "PROPOSED"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


class AuthorizationState(enum.StrEnum):
    """One controller's authorisation of one sub-processor (Art. 28(2))."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    OBJECTED = "OBJECTED"
    WITHDRAWN = "WITHDRAWN"


def effective_state(
    platform_active: bool, explicit: AuthorizationState | None
) -> AuthorizationState | None:
    """The controller's authorisation of one sub-processor; None: not engaged.

    - an explicit (controller, sub-processor) authorisation wins;
    - a platform-wide ACTIVE sub-processor without one is AUTHORIZED for every
      controller: the controller's signed DPA annex authorised it.

    ``platform_active``: the sub-processor is engaged platform-wide and ACTIVE.
    """
    if explicit is not None:
        return explicit
    return AuthorizationState.AUTHORIZED if platform_active else None


def no_active_dpa_reason(ended_version: int | None) -> str:
    """Why nothing may be processed for a controller without an ACTIVE DPA:
    one wording for every check (CheckProcessing, CheckTransfer)."""
    if ended_version is not None:
        return (
            f"the DPA (version {ended_version}) was terminated; "
            "no processing on the controller's behalf (Art. 28(3))"
        )
    return "the controller has no active DPA (Art. 28(3)): no processing on its behalf"
