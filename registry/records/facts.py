"""The facts behind the Art. 30(2) record in one plain-JSON shape, whether
read live or from the journal as of a revision: the same conversions and the
same engagement rule on both paths, so a record rebuilt for a past revision
is byte for byte the one built at that revision."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from registry.agreements.terms import InstructionScope
from registry.records import record
from registry.subprocessors import engagement
from registry.subprocessors.types import AuthorizationState, Scope, Status
from registry.subprocessors.values import Subprocessor
from registry.transfers.model import Safeguard


@dataclass(frozen=True)
class Facts:
    processor: dict[str, Any]
    """The processor's DPO and representative (``processor.Details.to_json``)."""
    controllers: list[record.ControllerFacts]
    measures: list[dict[str, Any]]


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def scope_json(scope: InstructionScope) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(scope).items()}


def _scope(data: Mapping[str, Any]) -> InstructionScope:
    return InstructionScope(
        instruction=str(data["instruction"]),
        purposes=tuple(data["purposes"]),
        data_categories=tuple(data["data_categories"]),
        data_subjects=tuple(data["data_subjects"]),
        operations=tuple(data["operations"]),
        countries=tuple(data["countries"]),
        retention_days=int(data["retention_days"]),
    )


def subprocessor_json(sp: Subprocessor, safeguards: Sequence[Safeguard]) -> dict[str, Any]:
    """What the record shows of one sub-processor, with what the engagement
    rule needs (scope, status) and its transfers' safeguards."""
    return {
        "legal_name": sp.details.legal_name,
        "country": sp.details.country,
        "purpose": sp.details.purpose,
        "locations": list(sp.details.locations),
        "scope": sp.details.scope.value,
        "status": sp.status.value,
        "safeguards": [
            {
                "destination_country": sg.destination_country,
                "mechanism": sg.mechanism.value,
                "article": sg.mechanism.article,
                "details": {
                    "scc_decision": sg.scc_decision.value if sg.scc_decision else None,
                    "scc_module": int(sg.scc_module) if sg.scc_module else None,
                    "signed_on": _day(sg.signed_on),
                    "tia_reference": sg.tia_reference,
                    "instrument_reference": sg.instrument_reference,
                    "review_date": _day(sg.review_date),
                },
            }
            for sg in safeguards
        ],
    }


Engaged = Mapping[str, tuple[Mapping[str, Any], str]]
"""Sub-processor id -> (its ``subprocessor_json``, the controller's state)."""


def engaged_from_json(
    subprocessors: Mapping[str, Mapping[str, Any]], explicit: Mapping[str, str]
) -> dict[str, tuple[Mapping[str, Any], str]]:
    """The sub-processors engaged for one controller by the engagement rule,
    from their facts and the controller's recorded authorisations."""
    result: dict[str, tuple[Mapping[str, Any], str]] = {}
    for sid, sp in sorted(subprocessors.items()):
        st = explicit.get(sid)
        state = engagement.engaged_state(
            scope=Scope(sp["scope"]),
            status=Status(sp["status"]),
            explicit=AuthorizationState(st) if st else None,
        )
        if state is not None:
            result[sid] = (sp, state.value)
    return result


def controller(
    controller_id: str,
    party: Mapping[str, str],
    processing: Mapping[str, Any] | None,
    engaged: Engaged,
) -> record.ControllerFacts:
    return record.ControllerFacts(
        controller_id=controller_id,
        party=party,
        processing=_scope(processing) if processing is not None else None,
        subprocessors=tuple(
            record.Engaged(
                subprocessor_id=sid,
                legal_name=sp["legal_name"],
                country=sp["country"],
                purpose=sp["purpose"],
                locations=tuple(sp["locations"]),
                state=state,
            )
            for sid, (sp, state) in sorted(engaged.items())
        ),
        transfers=tuple(
            record.Transfer(
                subprocessor_id=sid,
                destination_country=sg["destination_country"],
                mechanism=sg["mechanism"],
                article=sg["article"],
                details=sg["details"],
            )
            for sid, (sp, _) in sorted(engaged.items())
            for sg in sp["safeguards"]
        ),
    )
