"""The reviewed reference table for Chapter V GDPR transfers (Art. 44-49).

``registry/data/adequacy.json`` holds every dated legal fact the decision
needs, so that none is buried in code:

* the EEA members (27 EU + IS, LI, NO), ISO 3166-1 alpha-2;
* every Commission adequacy decision in force (GDPR Art. 45(3), and those
  kept by Art. 45(9)), with decision reference, adoption date, end date,
  scope (full, Canada's PIPEDA commercial organisations, Japan's private
  sector, US Data Privacy Framework certified recipients only, Decision
  (EU) 2023/1795), status and an Official Journal citation;
* the SCC dates of Decision (EU) 2021/914 Art. 4: no contract on the repealed
  Decisions 2001/497/EC, 2004/915/EC or 2010/87/EU from 27 September 2021,
  none valid from 27 December 2022;
* company policy: how fresh a DPF List check must be.

The file is parsed and checked strictly once (:func:`load_reference`); the
result, :class:`Reference`, is immutable and holds sets and dicts so that a
decision is a handful of lookups. End dates are exclusive (see the file's
``review_notes``).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from dpa_decisions.reference import (
    AdequacyDecision,
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
    Reference,
    Source,
)
from dpa_decisions.transfer_types import SccDecision

_DATA_PACKAGE = "registry"
_DATA_FILE = "data/adequacy.json"
_EEA_SIZE = 30
_PSEUDO_CODE = re.compile(r"^X[A-Z]-[A-Z0-9]+$")
_E = TypeVar("_E", bound=enum.Enum)

__all__ = [
    "AdequacyDecision",
    "AdequacyScope",
    "AdequacyStatus",
    "DestinationKind",
    "Reference",
    "ReferenceDataError",
    "Source",
    "default_reference",
    "load_reference",
    "parse_reference",
    "validate_country",
]


class ReferenceDataError(ValueError):
    """The reference file is malformed; the registry must not start on it."""


@cache
def _iso_alpha2() -> frozenset[str]:
    import pycountry  # noqa: PLC0415 - loaded once, on first use

    return frozenset(str(c.alpha_2) for c in pycountry.countries)


def validate_country(code: str) -> bool:
    """True if ``code`` is an assigned ISO 3166-1 alpha-2 code, as written.

    Canonical upper case only; ``UK`` and ``EL`` (EU spellings) are rejected:
    the registry writes ``GB`` and ``GR``. For request validation upstream
    (INVALID_ARGUMENT); :func:`registry.transfers.decide.decide` also denies
    unknown codes itself.
    """
    return code in _iso_alpha2()


# --- strict parsing --------------------------------------------------------


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ReferenceDataError(f"{where}: missing {key!r}")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, where: str, *, empty: bool = False) -> str:
    value = _get(obj, key, where)
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ReferenceDataError(f"{where}.{key}: expected a non-empty string")
    return value


def _date(obj: Mapping[str, Any], key: str, where: str) -> date:
    text = _str(obj, key, where)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ReferenceDataError(f"{where}.{key}: not an ISO date: {text!r}") from exc


def _opt_date(obj: Mapping[str, Any], key: str, where: str) -> date | None:
    if _get(obj, key, where) is None:
        return None
    return _date(obj, key, where)


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ReferenceDataError(f"{where}: expected an object")
    return value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key, where)
    if not isinstance(value, list) or not value:
        raise ReferenceDataError(f"{where}.{key}: expected a non-empty list")
    return value


def _enum(cls: type[_E], obj: Mapping[str, Any], key: str, where: str) -> _E:
    text = _str(obj, key, where)
    try:
        return cls(text)
    except ValueError as exc:
        raise ReferenceDataError(f"{where}.{key}: unknown {cls.__name__} {text!r}") from exc


def _refs(obj: Mapping[str, Any], where: str, sources: Mapping[str, Source]) -> tuple[str, ...]:
    refs = _list(obj, "source_refs", where)
    for ref in refs:
        if ref not in sources:
            raise ReferenceDataError(f"{where}.source_refs: unknown source {ref!r}")
    return tuple(str(r) for r in refs)


def _parse_sources(raw: Mapping[str, Any]) -> Mapping[str, Source]:
    sources: dict[str, Source] = {}
    for i, item in enumerate(_list(raw, "sources", "$")):
        where = f"$.sources[{i}]"
        obj = _obj(item, where)
        source = Source(
            id=_str(obj, "id", where),
            title=_str(obj, "title", where),
            citation=_str(obj, "citation", where),
            url=_str(obj, "url", where, empty=True),
        )
        if source.id in sources:
            raise ReferenceDataError(f"{where}.id: duplicate {source.id!r}")
        sources[source.id] = source
    return MappingProxyType(sources)


def _parse_eea(raw: Mapping[str, Any], sources: Mapping[str, Source]) -> frozenset[str]:
    eea = _obj(_get(raw, "eea", "$"), "$.eea")
    _str(eea, "source", "$.eea")
    _refs(eea, "$.eea", sources)
    members = _list(eea, "members", "$.eea")
    for code in members:
        if not isinstance(code, str) or not validate_country(code):
            raise ReferenceDataError(f"$.eea.members: {code!r} is not ISO 3166-1 alpha-2")
    result = frozenset(members)
    if len(result) != len(members) or len(result) != _EEA_SIZE:
        raise ReferenceDataError(f"$.eea.members: expected {_EEA_SIZE} distinct codes")
    return result


def _parse_adequacy(
    raw: Mapping[str, Any], sources: Mapping[str, Source], eea: frozenset[str]
) -> Mapping[str, AdequacyDecision]:
    result: dict[str, AdequacyDecision] = {}
    for i, item in enumerate(_list(raw, "adequacy", "$")):
        where = f"$.adequacy[{i}]"
        obj = _obj(item, where)
        entry = AdequacyDecision(
            code=_str(obj, "code", where),
            kind=_enum(DestinationKind, obj, "kind", where),
            name=_str(obj, "name", where),
            decision=_str(obj, "decision", where),
            adopted=_date(obj, "adopted", where),
            valid_until=_opt_date(obj, "valid_until", where),
            scope=_enum(AdequacyScope, obj, "scope", where),
            status=_enum(AdequacyStatus, obj, "status", where),
            source=_str(obj, "source", where),
            source_refs=_refs(obj, where, sources),
            notes=_str(obj, "notes", where, empty=True),
        )
        if entry.kind is DestinationKind.INTERNATIONAL_ORGANISATION:
            if not _PSEUDO_CODE.match(entry.code) or validate_country(entry.code):
                raise ReferenceDataError(f"{where}.code: {entry.code!r} is not an X?- pseudo-code")
        elif not validate_country(entry.code):
            raise ReferenceDataError(f"{where}.code: {entry.code!r} is not ISO 3166-1 alpha-2")
        if entry.code in eea:
            raise ReferenceDataError(f"{where}.code: {entry.code!r} is in the EEA")
        if entry.code in result:
            raise ReferenceDataError(f"{where}.code: duplicate {entry.code!r}")
        if entry.valid_until is not None and entry.valid_until <= entry.adopted:
            raise ReferenceDataError(f"{where}.valid_until: not after 'adopted'")
        result[entry.code] = entry
    return MappingProxyType(result)


def _parse_scc(
    raw: Mapping[str, Any], sources: Mapping[str, Source]
) -> tuple[SccDecision, frozenset[SccDecision], date, date]:
    scc = _obj(_get(raw, "scc", "$"), "$.scc")
    _refs(scc, "$.scc", sources)
    current = _obj(_get(scc, "current", "$.scc"), "$.scc.current")
    current_decision = _enum(SccDecision, current, "decision", "$.scc.current")
    _str(current, "source", "$.scc.current")
    repealed: set[SccDecision] = set()
    for i, item in enumerate(_list(scc, "repealed", "$.scc")):
        where = f"$.scc.repealed[{i}]"
        obj = _obj(item, where)
        repealed.add(_enum(SccDecision, obj, "decision", where))
        _str(obj, "source", where)
    expected = {d for d in SccDecision if d.repealed}
    if current_decision.repealed or repealed != expected:
        raise ReferenceDataError("$.scc: current/repealed decisions do not match SccDecision")
    no_new = _date(scc, "no_new_contracts_from", "$.scc")
    invalid = _date(scc, "invalid_from", "$.scc")
    if invalid <= no_new:
        raise ReferenceDataError("$.scc.invalid_from: not after no_new_contracts_from")
    return current_decision, frozenset(repealed), no_new, invalid


def parse_reference(raw: Mapping[str, Any]) -> Reference:
    """Checks and converts the decoded JSON document; raises ReferenceDataError."""
    sources = _parse_sources(raw)
    eea = _parse_eea(raw, sources)
    adequacy = _parse_adequacy(raw, sources, eea)
    current, repealed, no_new, invalid = _parse_scc(raw, sources)
    policy = _obj(_get(raw, "policy", "$"), "$.policy")
    max_age = _get(policy, "dpf_check_max_age_days", "$.policy")
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        raise ReferenceDataError("$.policy.dpf_check_max_age_days: expected an integer >= 0")
    return Reference(
        reviewed=_date(raw, "reviewed", "$"),
        sources=sources,
        eea=eea,
        adequacy=adequacy,
        international_organisations=frozenset(
            code
            for code, entry in adequacy.items()
            if entry.kind is DestinationKind.INTERNATIONAL_ORGANISATION
        ),
        iso_countries=_iso_alpha2(),
        scc_current=current,
        scc_repealed=repealed,
        scc_no_new_contracts_from=no_new,
        scc_invalid_from=invalid,
        dpf_max_age_days=max_age,
    )


def load_reference(path: Path | None = None, *, dpf_max_age_days: int | None = None) -> Reference:
    """Reads and checks the reference file (the packaged one by default)."""
    if path is None:
        text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"reference file is not JSON: {exc}") from exc
    reference = parse_reference(_obj(raw, "$"))
    if dpf_max_age_days is not None:
        reference = reference.with_dpf_max_age(dpf_max_age_days)
    return reference


@cache
def default_reference() -> Reference:
    """The packaged reference table, loaded once per process."""
    return load_reference()
