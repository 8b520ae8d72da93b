"""One decision state: what both checks read, at one registry revision.

The server's transfer snapshot (``registry.transfers.snapshot``) and the
client's ``LocalChecker`` hold these values and answer through the functions
here, so a decision taken in the caller's process is the server's decision
on the same state: the same lookups, the same engagement rule, the same
``decide``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dpa_decisions.common import AuthorizationState, SubprocessorStatus, effective_state
from dpa_decisions.reference import Reference
from dpa_decisions.transfer import decide
from dpa_decisions.transfer_types import ControllerView, Decision, Subprocessor, TransferRequest


@dataclass(frozen=True, slots=True)
class SubprocessorEntry:
    record: Subprocessor
    platform: bool
    """Engaged for every controller (scope PLATFORM)."""
    authorizations: Mapping[str, AuthorizationState]
    """Explicit per-controller states (controller id -> state)."""

    def state_for(self, controller_id: str) -> AuthorizationState | None:
        """The one engagement rule (:func:`dpa_decisions.common.effective_state`)."""
        return effective_state(
            platform_active=self.platform and self.record.status is SubprocessorStatus.ACTIVE,
            explicit=self.authorizations.get(controller_id),
        )


def decide_transfer(
    request: TransferRequest,
    controllers: Mapping[str, ControllerView],
    subprocessors: Mapping[str, SubprocessorEntry],
    reference: Reference,
    revision: int,
) -> Decision:
    """:func:`dpa_decisions.transfer.decide` on one state; pure.

    ``controllers`` hold views without authorisations; the sub-processor
    entry supplies the requesting controller's state.
    """
    controller = controllers.get(request.controller_id)
    sp_id = request.subprocessor_id
    entry = subprocessors.get(sp_id) if sp_id else None
    if controller is not None and entry is not None and sp_id:
        state = entry.state_for(controller.controller_id)
        controller = _with_authorizations(controller, _only(sp_id, state))
    record = entry.record if entry is not None else None
    return decide(request, controller, record, reference, revision)


_ONLY: dict[tuple[str, AuthorizationState | None], Mapping[str, AuthorizationState]] = {}
_NONE: Mapping[str, AuthorizationState] = MappingProxyType({})
_set = object.__setattr__


def _only(sp_id: str, state: AuthorizationState | None) -> Mapping[str, AuthorizationState]:
    """The read-only ``{sp_id: state}`` (empty without a state), made once."""
    if state is None:
        return _NONE
    found = _ONLY.get((sp_id, state))
    if found is None:
        if len(_ONLY) > 100_000:  # sub-processors x states: bounded anyway
            _ONLY.clear()
        found = _ONLY[(sp_id, state)] = MappingProxyType({sp_id: state})
    return found


def _with_authorizations(
    view: ControllerView, authorizations: Mapping[str, AuthorizationState]
) -> ControllerView:
    """``dataclasses.replace(view, authorizations=...)`` for a read-only
    mapping made here: one object, no copies (about 2 us less per decision)."""
    copy = object.__new__(ControllerView)
    _set(copy, "controller_id", view.controller_id)
    _set(copy, "dpa_active", view.dpa_active)
    _set(copy, "allowed_countries", view.allowed_countries)
    _set(copy, "allowed_categories", view.allowed_categories)
    _set(copy, "authorizations", authorizations)
    _set(copy, "allowed_derogations", view.allowed_derogations)
    _set(copy, "dpa_ended_version", view.dpa_ended_version)
    return copy
