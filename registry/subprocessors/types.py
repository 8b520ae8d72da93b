"""The legal concepts of the sub-processor domain, as plain enums.

No storage here: other domains import these, never the tables in
``registry.subprocessors.model``.
"""

from __future__ import annotations

import enum

from dpa_decisions import common

AuthorizationState = common.AuthorizationState
"""One controller's authorisation of one sub-processor (Art. 28(2)); shared
with the client library."""
Status = common.SubprocessorStatus


class ServiceCategory(enum.Enum):
    HOSTING = "HOSTING"
    CLOUD_INFRASTRUCTURE = "CLOUD_INFRASTRUCTURE"
    IT_SERVICES = "IT_SERVICES"
    PAYMENT_PROCESSING = "PAYMENT_PROCESSING"
    CUSTOMER_SUPPORT_TOOLING = "CUSTOMER_SUPPORT_TOOLING"
    AI_MODEL_PROVIDER = "AI_MODEL_PROVIDER"


class DpfStatus(enum.Enum):
    """EU-US Data Privacy Framework certification (Decision (EU) 2023/1795)."""

    NOT_APPLICABLE = "NOT_APPLICABLE"
    CERTIFIED = "CERTIFIED"
    NOT_CERTIFIED = "NOT_CERTIFIED"


class Scope(enum.Enum):
    """Whose data it processes: every controller's, or only named controllers'."""

    PLATFORM = "PLATFORM"
    NAMED_CONTROLLERS = "NAMED_CONTROLLERS"


class ChangeKind(enum.Enum):
    ADDITION = "ADDITION"
    REPLACEMENT = "REPLACEMENT"
    REMOVAL = "REMOVAL"


class NoticeState(enum.Enum):
    """A change notice is OPEN until its effective date, then EFFECTIVE."""

    OPEN = "OPEN"
    EFFECTIVE = "EFFECTIVE"


class Decision(enum.Enum):
    """A notified controller's answer to one change notice."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    OBJECTED = "OBJECTED"
    INFORMED = "INFORMED"
    """A removal: nothing to authorise or object to."""


class Resolution(enum.Enum):
    """How staff resolved an objection."""

    UNRESOLVED = "UNRESOLVED"
    ALTERNATIVE_ARRANGEMENT = "ALTERNATIVE_ARRANGEMENT"
    TERMINATION = "TERMINATION"
