"""Chapter V (GDPR Art. 44-49): the basis for one destination, or why none.

The rules are listed in :mod:`dpa_decisions.transfer`'s docstring (check 6);
this module evaluates them for one data importer and one transfer date. Pure:
no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from dpa_decisions.reference import AdequacyDecision, AdequacyScope, Reference
from dpa_decisions.transfer_types import (
    Art49Ground,
    Mechanism,
    Reason,
    RecipientSector,
    Safeguard,
    SccModule,
)
from dpa_decisions.transfer_types import ReasonCode as C

# Which SCC 2021/914 modules fit the processor as data exporter.
# To a sub-processor (importer = processor): module 3; module 2 where the
# controller itself signed the clauses with the sub-processor. To a one-off
# recipient: module 3 (a processor) or module 4 (a controller).
_SUBPROCESSOR_MODULES = frozenset(
    {SccModule.CONTROLLER_TO_PROCESSOR, SccModule.PROCESSOR_TO_PROCESSOR}
)
_ONE_OFF_MODULES = frozenset({SccModule.PROCESSOR_TO_PROCESSOR, SccModule.PROCESSOR_TO_CONTROLLER})

# Preference among safeguards for one country (Art. 46(2) tools first).
_MECHANISM_RANK = {
    Mechanism.SCC: 0,
    Mechanism.BCR: 1,
    Mechanism.OTHER_ART46: 2,
    Mechanism.DEROGATION_ART49: 3,
    Mechanism.ADEQUACY: 4,
}

_TIA_LAW = "SCC 2021/914 Clause 14; EDPB Recommendations 01/2020"
_TIA_LAW_REPEALED = "CJEU C-311/18 Schrems II; EDPB Recommendations 01/2020"

CODE_HINTS = {"UK": "GB", "EL": "GR"}
"""Codes people write for which the registry has another (ISO 3166-1)."""


@dataclass(frozen=True, slots=True)
class Importer:
    """The data importer, from the registry entry or from a one-off request."""

    is_subprocessor: bool
    sector: RecipientSector
    dpf_certified: bool
    dpf_checked_on: date | None
    safeguards: tuple[Safeguard, ...]


def assess(
    destinations: tuple[str, ...],
    importer: Importer,
    on: date,
    derogation: Art49Ground | None,
    allowed_derogations: Collection[Art49Ground],
    reference: Reference,
) -> tuple[tuple[str, ...], tuple[Reason, ...]]:
    """(the distinct bases relied on, the reasons none was found), destination
    by destination in the order given. ``allowed_derogations``: the Art. 49
    grounds the controller's instructions allow for one-off transfers."""
    bases: list[str] = []
    reasons: list[Reason] = []
    for country in destinations:
        basis = _chapter_v(
            country, importer, on, derogation, allowed_derogations, reference, reasons
        )
        if basis is not None and basis not in bases:
            bases.append(basis)
    return tuple(bases), tuple(reasons)


def turning_days(
    destinations: tuple[str, ...], importer: Importer, reference: Reference
) -> tuple[date, ...]:
    """Every day on which :func:`assess`'s answer for these inputs may change,
    sorted. The rules below compare the transfer date only with these dates:
    the destinations' adequacy dates, the importer's DPF check and its age
    limit, each safeguard's dates and the reference's SCC dates; each is
    listed with the day after it, because the rules compare with ``<`` as
    well as ``<=``. Between two neighbouring turning days every comparison
    has one outcome, so the bases found are the same on each day (reasons
    may name the day itself). A rule that compares the transfer date with
    another date must add it here (tests/test_transfer_decisions.py checks
    every case on the days around each)."""
    found: set[date | None] = {reference.scc_invalid_from, reference.scc_no_new_contracts_from}
    for country in destinations:
        adequacy = reference.adequacy.get(country)
        if adequacy is not None:
            found.update((adequacy.adopted, adequacy.valid_until, adequacy.status_since))
    checked = importer.dpf_checked_on
    if checked is not None:
        found.add(checked)
        found.add(_plus(checked, reference.dpf_max_age_days))
    for sg in importer.safeguards:
        found.update((sg.review_date, sg.signed_on, sg.tia_date, sg.tia_review_due))
    days: set[date] = set()
    for day in found:
        if day is not None:
            days.add(day)
            days.add(_plus(day, 1))
    return tuple(sorted(days))


def _plus(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max


def _chapter_v(
    country: str,
    importer: Importer,
    on: date,
    derogation: Art49Ground | None,
    allowed_derogations: Collection[Art49Ground],
    reference: Reference,
    reasons: list[Reason],
) -> str | None:
    """The basis for one destination, or None after appending why there is none."""
    if not reference.is_known_destination(country):
        hint = CODE_HINTS.get(country)
        suffix = f"; the registry writes {hint}" if hint else ""
        reasons.append(
            Reason(
                C.UNKNOWN_COUNTRY,
                f"{country!r} is not an ISO 3166-1 alpha-2 code or a listed international "
                f"organisation{suffix}",
            )
        )
        return None
    if country in reference.eea:
        return "EEA"

    pending: list[Reason] = []
    adequacy = reference.adequacy.get(country)
    if adequacy is not None:
        basis = _adequacy_basis(adequacy, importer, on, reference, pending)
        if basis is not None:
            return basis

    candidates = [sg for sg in importer.safeguards if sg.destination_country == country]
    if len(candidates) > 1:
        candidates.sort(key=lambda sg: _MECHANISM_RANK[sg.mechanism])
    for safeguard in candidates:
        basis = _safeguard_basis(safeguard, importer, on, reference, pending)
        if basis is not None:
            return basis

    ground = derogation
    if ground is not None:
        if importer.is_subprocessor:
            pending.append(
                Reason(
                    C.ART49_NOT_STANDING_BASIS,
                    f"an Art. {ground.value} derogation is for occasional, specific transfers "
                    f"and never a standing basis for a sub-processor ({country})",
                )
            )
        elif ground in allowed_derogations:
            return f"derogation: Art. {ground.value}, one-off transfer"
        else:
            pending.append(
                Reason(
                    C.DEROGATION_NOT_INSTRUCTED,
                    f"the controller's documented instructions do not allow one-off transfers "
                    f"on Art. {ground.value} (Art. 28(3)(a))",
                )
            )

    where = f"{country} ({adequacy.name})" if adequacy is not None else country
    pending.append(
        Reason(
            C.NO_TRANSFER_MECHANISM,
            f"no valid Chapter V transfer mechanism for {where} (Art. 44-46)",
        )
    )
    reasons.extend(pending)
    return None


def _adequacy_basis(
    adequacy: AdequacyDecision,
    importer: Importer,
    on: date,
    reference: Reference,
    pending: list[Reason],
) -> str | None:
    label = f"{adequacy.name} adequacy decision {adequacy.decision}"
    if not adequacy.in_force_on(on):
        if on < adequacy.adopted:
            detail = f"applies from {adequacy.adopted.isoformat()}"
        elif adequacy.valid_until is not None and on >= adequacy.valid_until:
            detail = f"expired on {adequacy.valid_until.isoformat()}"
        else:
            detail = f"is {adequacy.status.value}"
        pending.append(
            Reason(
                C.ADEQUACY_NOT_IN_FORCE,
                f"{label} {detail}; not in force on {on.isoformat()} (Art. 45)",
            )
        )
        return None

    scope = adequacy.scope
    if scope is AdequacyScope.FULL:
        return adequacy.legal_basis
    if scope is AdequacyScope.COMMERCIAL_ORGANISATIONS:
        if importer.sector is RecipientSector.COMMERCIAL:
            return adequacy.legal_basis
        pending.append(
            Reason(
                C.ADEQUACY_SCOPE_NOT_MET,
                f"{label} covers only commercial organisations subject to PIPEDA; the "
                f"recipient is {importer.sector.value}",
            )
        )
        return None
    if scope is AdequacyScope.PRIVATE_SECTOR:
        if importer.sector is not RecipientSector.PUBLIC_BODY:
            return adequacy.legal_basis
        pending.append(
            Reason(
                C.ADEQUACY_SCOPE_NOT_MET,
                f"{label} covers only the private sector; the recipient is a public body",
            )
        )
        return None
    # AdequacyScope.DPF_CERTIFIED_ONLY
    checked = importer.dpf_checked_on
    if not importer.dpf_certified:
        pending.append(
            Reason(
                C.DPF_NOT_CERTIFIED,
                f"{label} covers only organisations certified under the EU-US Data Privacy "
                "Framework; the recipient is not recorded as certified",
            )
        )
        return None
    if checked is None or checked > on or (on - checked).days > reference.dpf_max_age_days:
        when = "never checked" if checked is None else f"last checked {checked.isoformat()}"
        pending.append(
            Reason(
                C.DPF_CHECK_STALE,
                f"DPF certification {when}; a check within {reference.dpf_max_age_days} days "
                f"before {on.isoformat()} is required",
            )
        )
        return None
    return f"{adequacy.legal_basis}; DPF certified, checked {checked.isoformat()}"


def _safeguard_basis(
    sg: Safeguard,
    importer: Importer,
    on: date,
    reference: Reference,
    pending: list[Reason],
) -> str | None:
    country = sg.destination_country
    if sg.mechanism is Mechanism.DEROGATION_ART49:
        where = "a sub-processor" if importer.is_subprocessor else "a recorded safeguard"
        pending.append(
            Reason(
                C.ART49_NOT_STANDING_BASIS,
                f"an Art. 49 derogation ({sg.instrument_reference or 'unspecified'}) is never "
                f"a standing basis for {where} ({country})",
            )
        )
        return None
    if sg.mechanism is Mechanism.ADEQUACY:
        pending.append(
            Reason(
                C.SAFEGUARD_INCOMPLETE,
                f"adequacy is not a contractual safeguard; it comes from the reference table "
                f"({country})",
            )
        )
        return None

    errors: list[Reason] = []
    if sg.review_date is not None and on > sg.review_date:
        errors.append(
            Reason(
                C.SAFEGUARD_REVIEW_OVERDUE,
                f"{sg.mechanism.name} safeguard for {country} was due for review on "
                f"{sg.review_date.isoformat()}",
            )
        )
    if sg.mechanism is Mechanism.SCC:
        basis = _scc_basis(sg, importer, on, reference, errors)
    else:
        ref = (sg.instrument_reference or "").strip()
        if not ref:
            errors.append(
                Reason(
                    C.SAFEGUARD_INCOMPLETE,
                    f"{sg.mechanism.name} safeguard for {country} names no instrument "
                    f"({sg.mechanism.article})",
                )
            )
        if sg.mechanism is Mechanism.BCR:
            basis = f"BCR (Art. 47): {ref}"
        else:
            basis = f"Art. 46 instrument: {ref}"
    if errors:
        pending.extend(errors)
        return None
    return basis


def _scc_basis(
    sg: Safeguard,
    importer: Importer,
    on: date,
    reference: Reference,
    errors: list[Reason],
) -> str | None:
    country = sg.destination_country
    decision = sg.scc_decision
    signed = sg.signed_on
    label = f"SCC {decision or '(no decision)'} for {country}"
    if decision is None or signed is None:
        errors.append(
            Reason(
                C.SAFEGUARD_INCOMPLETE,
                f"{label}: the Commission decision and the signature date are required",
            )
        )
    elif signed > on:
        errors.append(
            Reason(
                C.SAFEGUARD_NOT_YET_SIGNED,
                f"{label} signed {signed.isoformat()}, after the transfer date {on.isoformat()}",
            )
        )

    if decision is not None and decision in reference.scc_repealed:
        if signed is not None and signed >= reference.scc_no_new_contracts_from:
            errors.append(
                Reason(
                    C.SCC_SIGNED_AFTER_REPEAL,
                    f"{label}: Decision {decision.value} was repealed with effect from "
                    f"{reference.scc_no_new_contracts_from.isoformat()}; clauses signed on "
                    f"{signed.isoformat()} provide no safeguard (Decision (EU) 2021/914 Art. 4)",
                )
            )
        if on >= reference.scc_invalid_from:
            errors.append(
                Reason(
                    C.SCC_REPEALED_DECISION_EXPIRED,
                    f"{label}: contracts on repealed Decision {decision.value} ceased to "
                    f"provide safeguards on {reference.scc_invalid_from.isoformat()} "
                    "(Decision (EU) 2021/914 Art. 4); re-paper on Decision (EU) 2021/914",
                )
            )
    elif decision is not None:
        module = sg.scc_module
        allowed = _SUBPROCESSOR_MODULES if importer.is_subprocessor else _ONE_OFF_MODULES
        if module is None:
            errors.append(Reason(C.SAFEGUARD_INCOMPLETE, f"{label}: no module recorded"))
        elif module not in allowed:
            fits = " or ".join(str(int(m)) for m in sorted(allowed))
            errors.append(
                Reason(
                    C.SCC_MODULE_MISMATCH,
                    f"{label}: module {int(module)} ({module.name.lower()}) does not fit a "
                    f"processor exporting to this importer; module {fits} is required",
                )
            )

    tia = sg.tia_date
    review_due = sg.tia_review_due
    repealed = decision is not None and decision in reference.scc_repealed
    tia_law = _TIA_LAW_REPEALED if repealed else _TIA_LAW
    if not (sg.tia_reference or "").strip() or tia is None or review_due is None:
        errors.append(
            Reason(
                C.TIA_MISSING,
                f"{label}: transfer impact assessment missing or incomplete (reference, date "
                f"and review date required; {tia_law})",
            )
        )
    elif tia > on:
        errors.append(
            Reason(
                C.TIA_MISSING,
                f"{label}: the transfer impact assessment is dated {tia.isoformat()}, after "
                f"the transfer date {on.isoformat()} ({tia_law})",
            )
        )
    elif on > review_due:
        errors.append(
            Reason(
                C.TIA_REVIEW_OVERDUE,
                f"{label}: transfer impact assessment {sg.tia_reference} was due for review "
                f"on {review_due.isoformat()} ({tia_law})",
            )
        )

    if errors or decision is None or signed is None or tia is None:
        return None
    if decision in reference.scc_repealed:
        return (
            f"SCC {decision} signed {signed.isoformat()}, TIA {tia.isoformat()} "
            f"(transitional until {reference.scc_invalid_from.isoformat()})"
        )
    module_no = int(sg.scc_module) if sg.scc_module is not None else 0
    return f"SCC {decision} module {module_no} signed {signed.isoformat()}, TIA {tia.isoformat()}"
