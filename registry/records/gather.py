"""Gathers the Art. 30(2) record from the domains' read APIs, consistently
as of one revision of the audit log (its size).

Every change runs through the one write path, which appends audit entries
and bumps the log size in the same transaction. The record reads the size,
the facts, and the size again; if it moved, it reads again. A revision
older than the current one is served only when no entry after it concerns
the record's resources (then the record as of it is the current one);
otherwise FAILED_PRECONDITION: past states are not reconstructed.
"""

from __future__ import annotations

from typing import Any

from registry import clock
from registry.agreements import template, terms
from registry.agreements.terms import InstructionScope
from registry.audit import store
from registry.auth import Caller
from registry.controllers import core as controllers
from registry.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from registry.measures import core as measures
from registry.records import record
from registry.subprocessors import engagement
from registry.subprocessors.notices import COLLECTION as NOTICES
from registry.transfers.store import safeguards_of

_ATTEMPTS = 5


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _facts(
    controller_id: str, party: dict[str, str], scope: InstructionScope | None
) -> record.ControllerFacts:
    engaged = engagement.of_controller(controller_id)
    safeguards = safeguards_of(list(engaged))
    return record.ControllerFacts(
        controller_id=controller_id,
        party=party,
        processing=scope,
        subprocessors=tuple(
            record.Engaged(
                subprocessor_id=sid,
                legal_name=sp.details.legal_name,
                country=sp.details.country,
                purpose=sp.details.purpose,
                locations=sp.details.locations,
                state=state.value,
            )
            for sid, (sp, state) in sorted(engaged.items())
        ),
        transfers=tuple(
            record.Transfer(
                subprocessor_id=sid,
                destination_country=sg.destination_country,
                mechanism=sg.mechanism.value,
                article=sg.mechanism.article,
                details={
                    "scc_decision": sg.scc_decision.value if sg.scc_decision else None,
                    "scc_module": int(sg.scc_module) if sg.scc_module else None,
                    "signed_on": _day(sg.signed_on),
                    "tia_reference": sg.tia_reference,
                    "instrument_reference": sg.instrument_reference,
                    "review_date": _day(sg.review_date),
                },
            )
            for sid in sorted(safeguards)
            for sg in safeguards[sid]
        ),
    )


def _roots(controller_id: str | None) -> list[str]:
    who = f"controllers/{controller_id}" if controller_id else "controllers"
    return [who, "subprocessors", NOTICES, measures.COLLECTION]


def _check_access(caller: Caller, controller_id: str | None) -> None:
    if controller_id is None:
        return
    name = f"controllers/{controller_id}"
    caller.require(controller_id, name)
    if not controllers.existing([controller_id]):
        raise NotFound(f"{name} not found")


def _as_of(size: int, revision: int, roots: list[str]) -> int:
    """The revision the record reflects (see the module doc)."""
    if revision < 0:
        raise InvalidArgument.one("revision", "must not be negative")
    if revision > size:
        raise InvalidArgument.one("revision", f"is larger than the audit log ({size})")
    if revision in (0, size):
        return size
    later = [s for seqs in store.entries_under(roots, size).values() for s in seqs if s >= revision]
    if later:
        raise FailedPrecondition(
            f"the record can be generated as of revision {size} (current) or any revision "
            f"from {max(later) + 1} on; entry {min(later)} changed it after {revision}"
        )
    return revision


def build(caller: Caller, controller_id: str | None, revision: int) -> dict[str, Any]:
    """The record for one controller (``None``: the whole processor, or the
    caller's own when the caller is a controller)."""
    controller_id = controller_id or caller.tenant
    _check_access(caller, controller_id)
    roots = _roots(controller_id)
    for _ in range(_ATTEMPTS):
        size = store.size()
        as_of = _as_of(size, revision, roots)
        ids = [controller_id] if controller_id else None
        parties = controllers.parties(ids)
        scopes = terms.instruction_scopes(ids)
        facts = [_facts(cid, parties[cid], scopes.get(cid)) for cid in sorted(parties)]
        in_force = [v.to_json() for v in measures.current()]
        index = store.entries_under(roots, as_of)
        if store.size() == size:
            tpl = template.load()
            return record.build(
                revision=as_of,
                generated_at=clock.rfc3339(clock.now()),
                scope=f"controllers/{controller_id}" if controller_id else record.PROCESSOR_SCOPE,
                processor=tpl.processor,
                processor_origin=f"DPA template {tpl.template_id} v{tpl.version}",
                controllers=facts,
                measures=in_force,
                index=index,
            )
    raise Aborted("the registry kept changing while the record was built; retry")
