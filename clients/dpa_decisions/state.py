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
from datetime import date

from dpa_decisions.common import AuthorizationState, SubprocessorStatus, effective_state
from dpa_decisions.reference import Reference
from dpa_decisions.taxonomy import Vocabulary
from dpa_decisions.transfer import Memo, decide_with, usual
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
            self.platform and self.record.status is SubprocessorStatus.ACTIVE,
            self.authorizations.get(controller_id),
        )


def decide_transfer(
    request: TransferRequest,
    controllers: Mapping[str, ControllerView],
    subprocessors: Mapping[str, SubprocessorEntry],
    reference: Reference,
    revision: int,
    memo: Memo | None = None,
) -> Decision:
    """:func:`dpa_decisions.transfer.decide` on one state; pure.

    ``controllers`` hold views without authorisations; the sub-processor
    entry supplies the requesting controller's state. ``memo``: see
    :class:`dpa_decisions.transfer.Memo` (one per process is enough).
    """
    controller = controllers.get(request.controller_id)
    sp_id = request.subprocessor_id
    entry = subprocessors.get(sp_id) if sp_id else None
    if entry is None:
        return decide_with(request, controller, None, None, reference, revision, memo)
    state = entry.state_for(request.controller_id) if controller is not None else None
    return decide_with(request, controller, state, entry.record, reference, revision, memo)


def decide_usual(
    controllers: Mapping[str, ControllerView],
    subprocessors: Mapping[str, SubprocessorEntry],
    reference: Reference,
    vocabulary: Vocabulary,
    revision: int,
    memo: Memo,
    controller_id: str,
    subprocessor_id: str,
    categories: tuple[str, ...],
    purpose: str,
    on: date,
) -> Decision | None:
    """:func:`dpa_decisions.transfer.usual` on one state, for a sub-processor's
    request with no one-off fields (``transfer_types.subprocessor_only``):
    the same lookups and engagement rule as :func:`decide_transfer`. None:
    the request is not the usual one; validate it and ask
    :func:`decide_transfer`."""
    controller = controllers.get(controller_id)
    entry = subprocessors.get(subprocessor_id)
    if controller is None or entry is None:
        return None
    return usual(
        controller,
        entry.state_for(controller_id),
        categories,
        purpose,
        on,
        memo.work(entry.record, reference),
        vocabulary,
        revision,
    )
