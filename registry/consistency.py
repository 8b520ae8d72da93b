"""Consistency requirements of the check RPCs, after Zanzibar's zookies and
SpiceDB's consistency modes (docs/adr/0014-consistency-and-revision-map.md).

The registry revision is the audit-log size; every committed write advances
it in the same transaction, and a write's receipt names the revision after it.
A check asks for one of three requirements:

* ``FULLY_CONSISTENT`` (the default): a state at least as new as every change
  committed before the call began;
* ``AT_LEAST``: a state at least as new as revision ``R`` (a write's receipt).
  Revisions are only handed out after their commit, so a state at the
  committed head always satisfies a genuine token: there is nothing to wait
  for. A token beyond the head is not from this log (another registry, a
  restored database) and is refused with FAILED_PRECONDITION;
* ``MINIMIZE_LATENCY``: the freshest state the process already holds, with no
  freshness check at all.

Pure: no I/O. The servicers translate the wire message with ``from_wire``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from registry.errors import FailedPrecondition, InvalidArgument

FIELD = "consistency.at_least_revision"


class Mode(enum.Enum):
    FULLY_CONSISTENT = 1
    AT_LEAST = 2
    MINIMIZE_LATENCY = 3


@dataclass(frozen=True, slots=True)
class Requirement:
    mode: Mode = Mode.FULLY_CONSISTENT
    at_least: int = 0
    """With ``AT_LEAST``: the revision the state must have reached (>= 1)."""

    def met_by(self, revision: int) -> bool:
        """Whether a state at ``revision`` may answer without a freshness check."""
        mode = self.mode
        if mode is _FULLY_CONSISTENT:
            return False
        if mode is _AT_LEAST:
            return revision >= self.at_least
        return True


# Read once: on every check, reading a member through its enum costs more
# than the rest of ``met_by``.
_FULLY_CONSISTENT, _AT_LEAST = Mode.FULLY_CONSISTENT, Mode.AT_LEAST


FULLY_CONSISTENT = Requirement()

# Wire numbers of dpa.registry.v1.ConsistencyMode (0 is the default).
_MODES = {
    0: Mode.FULLY_CONSISTENT,
    1: Mode.FULLY_CONSISTENT,
    2: Mode.AT_LEAST,
    3: Mode.MINIMIZE_LATENCY,
}


def from_wire(mode: int, at_least_revision: int) -> Requirement:
    """The requirement a request's ``consistency`` field states; INVALID_ARGUMENT
    naming ``consistency.at_least_revision`` when it does not fit the mode
    (``registry.wire.check`` has already refused unknown modes)."""
    found = _MODES.get(mode, Mode.FULLY_CONSISTENT)
    if found is Mode.AT_LEAST:
        if at_least_revision < 1:
            raise InvalidArgument.one(FIELD, "must be at least 1 with AT_LEAST_REVISION")
        return Requirement(Mode.AT_LEAST, at_least_revision)
    if at_least_revision != 0:
        raise InvalidArgument.one(FIELD, "may only be set with AT_LEAST_REVISION")
    return FULLY_CONSISTENT if found is Mode.FULLY_CONSISTENT else Requirement(found)


def require_reached(requirement: Requirement, committed: int) -> None:
    """FAILED_PRECONDITION when an ``AT_LEAST`` token lies beyond the committed
    head ``committed``: no state of this log can satisfy it."""
    if requirement.mode is Mode.AT_LEAST and requirement.at_least > committed:
        raise FailedPrecondition(
            f"{FIELD}: revision {requirement.at_least} is beyond the end of the audit log "
            f"(size {committed}); the token is not from this registry"
        )
