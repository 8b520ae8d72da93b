"""The legal concepts of the DPA domain, as plain values (no storage).

Other domains import these and the read functions of
``registry.agreements.terms``, never the tables in ``registry.agreements.model``.
``Operation`` and the no-DPA wording are shared with the client library
(:mod:`dpa_decisions.common`).
"""

from __future__ import annotations

import enum

from dpa_decisions import common

Operation = common.Operation
no_active_dpa_reason = common.no_active_dpa_reason


class AgreementState(enum.Enum):
    """Lifecycle of one DPA version.

    REQUESTED -> DRAFTED -> SIGNED_BY_PROCESSOR -> ACTIVE -> TERMINATED. An
    ACTIVE version replaced by a countersigned amendment becomes SUPERSEDED
    (it stays retrievable, its content unchanged).
    """

    REQUESTED = "REQUESTED"
    DRAFTED = "DRAFTED"
    SIGNED_BY_PROCESSOR = "SIGNED_BY_PROCESSOR"
    ACTIVE = "ACTIVE"
    SUPERSEDED = "SUPERSEDED"
    TERMINATED = "TERMINATED"


PENDING_STATES = frozenset(
    {AgreementState.REQUESTED, AgreementState.DRAFTED, AgreementState.SIGNED_BY_PROCESSOR}
)


class AuthorizationMode(enum.Enum):
    """Art. 28(2): prior specific or general written authorisation of sub-processors."""

    SPECIFIC = "specific"
    GENERAL = "general"


class EndOfContract(enum.Enum):
    """Art. 28(3)(g): at the end the processor returns or deletes the data."""

    RETURN = "RETURN"
    DELETE = "DELETE"


class DpaStanding(enum.Enum):
    """Where a controller's DPA stands, as other domains need to know it.

    A processor may still hold a controller's personal data after the DPA
    ends, until the return or deletion Art. 28(3)(g) requires is confirmed.
    """

    ACTIVE = "ACTIVE"
    TERMINATED_DATA_HELD = "TERMINATED_DATA_HELD"
    """Terminated; the return or deletion of the data is not yet confirmed."""
    TERMINATED = "TERMINATED"
    """Terminated, and the return or deletion is confirmed."""

    @property
    def holds_data(self) -> bool:
        return self is not DpaStanding.TERMINATED
