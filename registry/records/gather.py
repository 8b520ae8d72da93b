"""Gathers the Art. 30(2) record as of one revision of the audit log (its size).

The current record is read live from the domains' read APIs: every change
runs through the one write path, which appends audit entries and bumps the
log size in the same transaction; the record reads the size, the facts, and
the size again, and reads again if it moved. A record as of an older
revision is rebuilt from the journal the write path keeps
(``registry.records.journal``) through the same conversions, so it is byte for
byte the record built at that revision.
"""

from __future__ import annotations

from typing import Any

from registry.agreements import template, terms
from registry.audit import events, store
from registry.auth import Caller
from registry.controllers import core as controllers
from registry.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from registry.measures import core as measures
from registry.records import facts, journal, processor, record
from registry.subprocessors import engagement
from registry.subprocessors.notices import COLLECTION as NOTICES
from registry.transfers.store import safeguards_of

_ATTEMPTS = 5


def _live(controller_ids: list[str] | None) -> facts.Facts:
    parties = controllers.parties(controller_ids)
    scopes = terms.instruction_scopes(controller_ids)
    found = []
    for cid in sorted(parties):
        engaged = engagement.of_controller(cid)
        guards = safeguards_of(list(engaged))
        scope = scopes.get(cid)
        found.append(
            facts.controller(
                cid,
                parties[cid],
                facts.scope_json(scope) if scope is not None else None,
                {
                    sid: (facts.subprocessor_json(sp, guards.get(sid, [])), state.value)
                    for sid, (sp, state) in engaged.items()
                },
            )
        )
    return facts.Facts(
        processor=processor.get().details.to_json(),
        controllers=found,
        measures=[v.to_json() for v in measures.current()],
    )


def _roots(controller_id: str | None) -> list[str]:
    who = f"controllers/{controller_id}" if controller_id else "controllers"
    return [who, "subprocessors", NOTICES, measures.COLLECTION, processor.RESOURCE]


def _check_access(caller: Caller, controller_id: str | None) -> None:
    if controller_id is None:
        return
    name = f"controllers/{controller_id}"
    caller.require(controller_id, name)
    if not controllers.existing([controller_id]):
        raise NotFound(f"{name} not found")


def _checked(size: int, revision: int) -> int:
    """The revision asked for (0: the current one)."""
    if revision < 0:
        raise InvalidArgument.one("revision", "must not be negative")
    if revision > size:
        raise InvalidArgument.one("revision", f"is larger than the audit log ({size})")
    return revision or size


def _time_of(revision: int) -> str:
    """The time of the last entry a revision holds: when the record's facts
    were last true as stated."""
    if revision == 0:
        return ""
    return str(events.parse(store.body_at(revision - 1))["time"])


def _past(controller_id: str | None, revision: int) -> facts.Facts:
    begun = journal.start()
    if begun is None or revision < begun:
        raise FailedPrecondition(
            f"the record can be rebuilt as of revision {begun} or later (the journal of its "
            f"facts begins there), not {revision}"
            if begun is not None
            else "no record has been kept yet"
        )
    found = journal.as_of([controller_id] if controller_id else None, revision)
    if controller_id and not found.controllers:
        raise FailedPrecondition(
            f"controllers/{controller_id} was not registered at revision {revision}"
        )
    return found


def build(caller: Caller, controller_id: str | None, revision: int) -> dict[str, Any]:
    """The record for one controller (``None``: the whole processor, or the
    caller's own when the caller is a controller)."""
    controller_id = controller_id or caller.tenant
    _check_access(caller, controller_id)
    roots = _roots(controller_id)
    for _ in range(_ATTEMPTS):
        size = store.size()
        as_of = _checked(size, revision)
        if as_of < size:
            found = _past(controller_id, as_of)
        else:
            found = _live([controller_id] if controller_id else None)
        index = store.entries_under(roots, as_of)
        if as_of < size or store.size() == size:
            tpl = template.load()
            return record.build(
                revision=as_of,
                as_of_time=_time_of(as_of),
                scope=f"controllers/{controller_id}" if controller_id else record.PROCESSOR_SCOPE,
                processor=tpl.processor,
                processor_origin=f"DPA template {tpl.template_id} v{tpl.version}",
                processor_details=found.processor,
                controllers=found.controllers,
                measures=found.measures,
                index=index,
            )
    raise Aborted("the registry kept changing while the record was built; retry")
