"""Staff-recorded changes to the Art. 45 adequacy reference data, applied on
top of the shipped file (``registry/data/adequacy.json``).

The Commission adopts new decisions (Art. 45(3)), may suspend or repeal them
(Art. 45(5)), and the Court of Justice may invalidate them (as it did with
Decisions 2000/520/EC and (EU) 2016/1250, Schrems I and II). The registry
must follow such a change on the day it is recorded, without a release, so
staff record it through an audited RPC; the changes are stored in order and
:func:`apply_changes` replays them over the reviewed file. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from registry.errors import Violations
from registry.transfers.reference import (
    _PSEUDO_CODE,
    AdequacyDecision,
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
    Reference,
    validate_country,
)

STAFF_SOURCE_REF = "staff-change"


class ChangeKind(enum.Enum):
    ADOPTED = "adopted"
    SUSPENDED = "suspended"
    INVALIDATED = "invalidated"


_STATUS = {
    ChangeKind.SUSPENDED: AdequacyStatus.SUSPENDED,
    ChangeKind.INVALIDATED: AdequacyStatus.INVALIDATED,
}


@dataclass(frozen=True, slots=True)
class AdequacyChange:
    """One recorded change. ADOPTED carries the whole new decision."""

    code: str
    kind: ChangeKind
    effective: date
    source: str
    notes: str = ""
    decision: str = ""
    destination_name: str = ""
    destination_kind: DestinationKind = DestinationKind.COUNTRY
    scope: AdequacyScope = AdequacyScope.FULL
    valid_until: date | None = None


def validate_change(change: AdequacyChange, current: Reference, errors: Violations) -> None:
    """Field checks against the reference in force (INVALID_ARGUMENT)."""
    code = change.code
    if change.kind is ChangeKind.ADOPTED:
        if change.destination_kind is DestinationKind.INTERNATIONAL_ORGANISATION:
            if not _PSEUDO_CODE.match(code) or validate_country(code):
                errors.add("change.code", "an international organisation uses an X?- pseudo-code")
        elif not validate_country(code):
            errors.add("change.code", f"{code!r} is not an ISO 3166-1 alpha-2 code")
        if code in current.eea:
            errors.add("change.code", f"{code} is in the EEA: no adequacy decision applies")
        if not change.decision.strip():
            errors.add("change.decision", "required for an adopted decision")
        if not change.destination_name.strip():
            errors.add("change.destination_name", "required for an adopted decision")
        if change.valid_until is not None and change.valid_until <= change.effective:
            errors.add("change.valid_until_date", "must be after effective_date")
    else:
        existing = current.adequacy.get(code)
        if existing is None:
            errors.add("change.code", f"no adequacy decision for {code!r} to change")
        elif existing.status is not AdequacyStatus.IN_FORCE:
            errors.add("change.code", f"the decision for {code} is already {existing.status.value}")
    if not change.source.strip():
        errors.add("change.source", "cite the Official Journal reference or judgment")


def _apply(entries: dict[str, AdequacyDecision], change: AdequacyChange) -> None:
    if change.kind is ChangeKind.ADOPTED:
        entries[change.code] = AdequacyDecision(
            code=change.code,
            kind=change.destination_kind,
            name=change.destination_name,
            decision=change.decision,
            adopted=change.effective,
            valid_until=change.valid_until,
            scope=change.scope,
            status=AdequacyStatus.IN_FORCE,
            source=change.source,
            source_refs=(STAFF_SOURCE_REF,),
            notes=change.notes,
        )
        return
    existing = entries.get(change.code)
    if existing is None:
        return  # validated at recording time; an old row cannot break the table
    entries[change.code] = dataclasses.replace(
        existing,
        status=_STATUS[change.kind],
        status_since=change.effective,
        source_refs=(*existing.source_refs, STAFF_SOURCE_REF),
        notes=f"{existing.notes} {change.kind.value} from {change.effective.isoformat()}: "
        f"{change.source}. {change.notes}".strip(),
    )


def apply_changes(base: Reference, changes: Sequence[AdequacyChange]) -> Reference:
    """``base`` with every change applied in the order recorded."""
    if not changes:
        return base
    entries = dict(base.adequacy)
    for change in changes:
        _apply(entries, change)
    return dataclasses.replace(
        base,
        adequacy=MappingProxyType(entries),
        international_organisations=frozenset(
            code
            for code, entry in entries.items()
            if entry.kind is DestinationKind.INTERNATIONAL_ORGANISATION
        ),
    )


def changed_codes(changes: Sequence[AdequacyChange]) -> frozenset[str]:
    return frozenset(c.code for c in changes)
