"""Protobuf to the shared decision values (``dpa_decisions``), for ``LocalChecker``.

The mirror of the server's edge: the snapshot messages become the values
the server decides on, and a check's arguments become the request the
server would build from the same ``CheckTransferRequest``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from types import MappingProxyType
from typing import Any, TypeVar, cast

from dpa_decisions import common
from dpa_decisions.processing import AgreementScope, InstructionScope, Situation
from dpa_decisions.reference import (
    AdequacyDecision,
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
    Reference,
)
from dpa_decisions.taxonomy import Vocabulary
from dpa_decisions.transfer_types import (
    Art49Ground,
    Clause9Option,
    ControllerView,
    Mechanism,
    RecipientSector,
    Safeguard,
    SccDecision,
    SccModule,
    Subprocessor,
    TransferRequest,
)
from dpa_registry_api.v1 import agreements_pb2 as apb
from dpa_registry_api.v1 import decisions_pb2 as pb
from dpa_registry_api.v1 import subprocessors_pb2 as spb
from dpa_registry_api.v1 import transfers_pb2 as tpb

_MECHANISM = {tpb.TransferMechanism.Value(f"TRANSFER_MECHANISM_{m.name}"): m for m in Mechanism}
_SCC = {tpb.SccDecision.Value(f"SCC_DECISION_{d.name}"): d for d in SccDecision}
_GROUND = {tpb.Art49Ground.Value(f"ART49_GROUND_{g.name}"): g for g in Art49Ground}
_SECTOR = {tpb.RecipientSector.Value(f"RECIPIENT_SECTOR_{s.name}"): s for s in RecipientSector}
_KIND = {tpb.DestinationKind.Value(f"DESTINATION_KIND_{k.name}"): k for k in DestinationKind}
_SCOPE = {tpb.AdequacyScope.Value(f"ADEQUACY_SCOPE_{s.name}"): s for s in AdequacyScope}
_ADEQUACY_STATUS = {
    tpb.AdequacyStatus.Value(f"ADEQUACY_STATUS_{s.name}"): s for s in AdequacyStatus
}
_STATE = {
    spb.SubprocessorAuthorizationState.Value(f"SUBPROCESSOR_AUTHORIZATION_STATE_{s.name}"): s
    for s in common.AuthorizationState
}
_STATUS = {
    spb.SubprocessorStatus.Value(f"SUBPROCESSOR_STATUS_{s.name}"): s
    for s in common.SubprocessorStatus
}
_OPERATION: dict[int, common.Operation] = {
    apb.ProcessingOperation.Value(f"PROCESSING_OPERATION_{o.name}"): o for o in common.Operation
}


class Violations(list[tuple[str, str]]):
    """Collects field violations, (field, description) in order: the shared
    validators' ``Sink`` (a list: built before every local check)."""

    __slots__ = ()

    def add(self, field: str, description: str) -> None:
        self.append((field, description))


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def parse_day(field: str, text: str, errors: Violations) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.add(field, f"{text!r} is not a date (YYYY-MM-DD)")
        return None


def safeguard(msg: tpb.Safeguard, prefix: str, errors: Violations) -> Safeguard:
    """As the server reads a safeguard of a CheckTransfer request."""
    mechanism = _MECHANISM.get(msg.mechanism)
    if mechanism is None:
        errors.add(f"{prefix}.mechanism", "required")
        mechanism = Mechanism.SCC
    return Safeguard(
        mechanism=mechanism,
        destination_country=msg.destination_country,
        scc_decision=_SCC.get(msg.scc_decision),
        scc_module=SccModule(msg.scc_module) if msg.scc_module else None,
        clause9_option=Clause9Option(msg.clause9_option) if msg.clause9_option else None,
        signed_on=parse_day(f"{prefix}.signed_date", msg.signed_date, errors),
        tia_reference=msg.tia.reference or None,
        tia_date=parse_day(f"{prefix}.tia.date", msg.tia.date, errors),
        tia_review_due=parse_day(f"{prefix}.tia.review_date", msg.tia.review_date, errors),
        supplementary_measures=tuple(msg.supplementary_measures),
        review_date=parse_day(f"{prefix}.review_date", msg.review_date, errors),
        instrument_reference=msg.instrument_reference or None,
    )


def transfer_request(
    msg: tpb.CheckTransferRequest, today: date
) -> tuple[TransferRequest, Violations]:
    """The request the server builds from ``msg`` (a missing date is ``today``)."""
    errors = Violations()
    on = parse_day("transfer_date", msg.transfer_date, errors) or today
    safeguards = tuple(
        safeguard(sg, f"safeguards[{i}]", errors) for i, sg in enumerate(msg.safeguards)
    )
    request = TransferRequest(
        controller_id=msg.controller_id,
        data_categories=tuple(msg.data_categories),
        purpose=msg.purpose,
        on=on,
        subprocessor_id=msg.subprocessor_id or None,
        recipient=msg.recipient or None,
        destination_country=msg.destination_country or None,
        safeguards=safeguards,
        derogation=_GROUND.get(msg.derogation),
        recipient_sector=_SECTOR.get(msg.recipient_sector, RecipientSector.COMMERCIAL),
        recipient_dpf_certified=msg.recipient_dpf_certified,
        recipient_dpf_checked_on=parse_day(
            "recipient_dpf_checked_date", msg.recipient_dpf_checked_date, errors
        ),
    )
    return request, errors


def operation(number: int) -> common.Operation | None:
    return _OPERATION.get(number)


# --- the snapshot ----------------------------------------------------------


def reference(msg: pb.DecisionReference) -> Reference:
    adequacy = {
        a.code: AdequacyDecision(
            code=a.code,
            kind=_KIND[a.kind],
            name=a.destination_name,
            decision=a.decision,
            adopted=date.fromisoformat(a.adopted_date),
            valid_until=_day(a.valid_until_date),
            scope=_SCOPE[a.scope],
            status=_ADEQUACY_STATUS[a.status],
            source=a.source,
            source_refs=(),
            notes=a.notes,
            status_since=_day(a.status_since_date),
        )
        for a in msg.adequacy
    }
    return Reference(
        reviewed=date.fromisoformat(msg.reviewed_date),
        sources=MappingProxyType({}),
        eea=frozenset(msg.eea),
        adequacy=MappingProxyType(adequacy),
        international_organisations=frozenset(msg.international_organisations),
        iso_countries=frozenset(msg.iso_countries),
        scc_current=_SCC[msg.scc_current],
        scc_repealed=frozenset(_SCC[d] for d in msg.scc_repealed),
        scc_no_new_contracts_from=date.fromisoformat(msg.scc_no_new_contracts_from),
        scc_invalid_from=date.fromisoformat(msg.scc_invalid_from),
        dpf_max_age_days=msg.dpf_max_age_days,
    )


def vocabulary(msg: pb.DecisionVocabulary) -> Vocabulary:
    return Vocabulary(
        data_categories=frozenset(msg.data_categories),
        data_uses=frozenset(msg.data_uses),
        data_subjects=frozenset(msg.data_subjects),
    )


def _operations(numbers: Iterable[int]) -> frozenset[common.Operation]:
    return frozenset(_OPERATION[n] for n in numbers)


T = TypeVar("T")

Interned = dict[Any, Any]
"""Equal immutable values seen during a load, kept once (see ``controller``)."""


def _once(value: T, interned: Interned | None) -> T:
    if value is None or interned is None:
        return value
    return cast(T, interned.setdefault(value, value))


def controller(
    msg: pb.DecisionController, interned: Interned | None = None
) -> tuple[ControllerView, Situation]:
    """The controller's view and situation. With ``interned``, equal scopes
    (and their tuples and sets) are kept once across controllers: many
    controllers share an Annex II or an instruction template, and every
    object the state holds is one more for the caller's garbage collector
    to scan."""
    cid = msg.controller_id
    view = ControllerView(
        controller_id=cid,
        dpa_active=msg.dpa_active,
        allowed_countries=_once(tuple(msg.allowed_countries), interned) if msg.instructed else None,
        allowed_categories=_once(tuple(msg.allowed_categories), interned)
        if msg.instructed
        else None,
        allowed_derogations=_once(frozenset(_GROUND[g] for g in msg.allowed_derogations), interned),
        dpa_ended_version=msg.dpa_ended_version or None,
    )
    agreement = (
        AgreementScope(
            version=msg.agreement.version,
            purposes=tuple(msg.agreement.purposes),
            data_categories=tuple(msg.agreement.data_categories),
            data_subjects=tuple(msg.agreement.data_subjects),
            nature=_operations(msg.agreement.operations),
        )
        if msg.HasField("agreement")
        else None
    )
    instruction = (
        InstructionScope(
            version=msg.instruction.version,
            purposes=tuple(msg.instruction.purposes),
            data_categories=tuple(msg.instruction.data_categories),
            data_subjects=tuple(msg.instruction.data_subjects),
            operations=_operations(msg.instruction.operations),
            countries=frozenset(msg.instruction.countries),
            flagged=msg.instruction.flagged,
        )
        if msg.HasField("instruction")
        else None
    )
    situation = Situation(
        cid, _once(agreement, interned), msg.ended_version or None, _once(instruction, interned)
    )
    return view, situation


def authorizations(
    items: Iterable[pb.DecisionAuthorization],
) -> list[tuple[str, str, common.AuthorizationState]]:
    return [(a.controller_id, a.subprocessor_id, _STATE[a.state]) for a in items]


def subprocessor(msg: pb.DecisionSubprocessor) -> tuple[Subprocessor, bool]:
    errors = Violations()
    record = Subprocessor(
        id=msg.subprocessor_id,
        name=msg.display_name,
        status=_STATUS[msg.status],
        locations=tuple(msg.locations),
        data_categories=tuple(msg.data_categories),
        is_us_entity=msg.us_entity,
        dpf_certified=msg.dpf_certified,
        dpf_checked_on=_day(msg.dpf_checked_date),
        safeguards=tuple(
            safeguard(sg, f"safeguards[{i}]", errors) for i, sg in enumerate(msg.safeguards)
        ),
        sector=_SECTOR.get(msg.sector, RecipientSector.COMMERCIAL),
    )
    return record, msg.platform
