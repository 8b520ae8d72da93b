"""The pure decision behind ``CheckTransfer`` (GDPR Art. 28 and Art. 44-49).

:func:`decide` answers "may the processor move this controller's data to this
sub-processor (or one-off recipient), and on which Chapter V basis?". It does
no I/O and reads no clock: the same inputs give the same :class:`Decision`,
with reasons in a fixed order. When denied, *every* reason is listed.

Checks, in the order their reasons appear:

1. Art. 28(3): a registered controller with an active DPA.
2. The request names data categories and either a sub-processor or a
   one-off recipient with a destination.
3. Art. 28(2): the sub-processor is known and ACTIVE, and this controller
   has AUTHORIZED it (PENDING, OBJECTED, WITHDRAWN or absent each deny).
4. Art. 28(3)(a): the controller's documented instructions allow every
   destination and every data category (fideslang hierarchy: a grant on
   ``user.contact`` covers ``user.contact.email``).
5. Art. 28(4): each category is within the sub-processor's permitted ones.
6. Chapter V, for each destination in sorted order (every processing
   location of the sub-processor, plus ``US`` for a US-established entity,
   EDPB Guidelines 05/2021):

   * EEA member: no transfer safeguard needed (basis ``EEA``);
   * Art. 45 adequacy decision in force on the transfer date, within its
     scope: Canada (Decision 2002/2/EC) only for commercial organisations
     under PIPEDA, Japan (Decision (EU) 2019/419) only the private sector,
     the United States (Decision (EU) 2023/1795) only for recipients
     certified under the EU-US Data Privacy Framework whose certification
     was checked within the reference's freshness window;
   * otherwise a valid Art. 46 safeguard for that country: SCCs under
     Decision (EU) 2021/914 (module fitting a processor exporter, signed,
     with a Clause 14 transfer impact assessment that is not past its
     review date, EDPB Recommendations 01/2020); SCCs under the repealed
     Decisions 2001/497/EC, 2004/915/EC, 2010/87/EU only if signed before
     27 September 2021 and used before 27 December 2022 (Decision 2021/914
     Art. 4); binding corporate rules (Art. 47); another Art. 46 instrument;
   * an Art. 49 derogation is never a standing basis for a sub-processor.
     Documented choice: a **one-off** transfer to a recipient that is not a
     sub-processor may rest on an Art. 49(1)(a)-(g) ground, and only when
     the controller's documented instructions allow that ground (Art.
     28(3)(a): transfers only on documented instructions; assessing a
     derogation is the controller's call, EDPB Guidelines 2/2018).

Legal-basis strings (stable, for logs and exports): ``EEA``;
``adequacy: Japan, (EU) 2019/419``; ``adequacy: United States,
(EU) 2023/1795; DPF certified, checked 2026-01-10``; ``SCC 2021/914 module 3
signed 2024-03-01, TIA 2024-02-20``; ``BCR (Art. 47): <reference>``;
``Art. 46 instrument: <reference>``; ``derogation: Art. 49(1)(b), one-off
transfer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dpa_decisions import common, taxonomy
from dpa_decisions.common import Sink, no_active_dpa_reason
from dpa_decisions.reference import AdequacyDecision, AdequacyScope, Reference
from dpa_decisions.transfer_types import (
    AuthorizationState,
    ControllerView,
    Decision,
    Mechanism,
    Reason,
    RecipientSector,
    Safeguard,
    SccModule,
    Subprocessor,
    SubprocessorStatus,
    TransferRequest,
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

_AUTHORIZATION_REASONS = {
    AuthorizationState.PENDING: (
        C.AUTHORIZATION_PENDING,
        "the controller has not yet authorised sub-processor {sp} (Art. 28(2); "
        "notice or objection period still running)",
    ),
    AuthorizationState.OBJECTED: (
        C.AUTHORIZATION_OBJECTED,
        "the controller objected to sub-processor {sp} (Art. 28(2))",
    ),
    AuthorizationState.WITHDRAWN: (
        C.AUTHORIZATION_WITHDRAWN,
        "the controller withdrew its authorisation of sub-processor {sp} (Art. 28(2))",
    ),
}

_CODE_HINTS = {"UK": "GB", "EL": "GR"}


@dataclass(frozen=True, slots=True)
class _Importer:
    """The data importer, from the registry entry or from a one-off request."""

    is_subprocessor: bool
    sector: RecipientSector
    dpf_certified: bool
    dpf_checked_on: date | None
    safeguards: tuple[Safeguard, ...]


def decide(
    request: TransferRequest,
    controller: ControllerView | None,
    subprocessor: Subprocessor | None,
    reference: Reference,
    revision: int,
) -> Decision:
    """Decides one transfer; pure and deterministic. See the module docstring.

    ``controller`` and ``subprocessor`` are what the registry holds for the
    ids in ``request`` (``None`` if unknown). Passing a record whose id does
    not match the request is a programming error (ValueError).
    """
    reasons: list[Reason] = []
    categories = tuple(sorted(set(request.data_categories)))

    # 1. Controller and DPA (Art. 28(3)); 2. the request itself.
    _check_controller(request, controller, reasons)
    if not categories:
        reasons.append(Reason(C.NO_DATA_CATEGORIES, "the request names no data categories"))

    # 3. Sub-processor, status, authorisation (Art. 28(2)); the destinations.
    destinations: set[str] = set()
    if request.destination_country:
        destinations.add(request.destination_country)
    importer = _importer(request, controller, subprocessor, destinations, reasons)
    ordered = tuple(sorted(destinations))

    # 4. Documented instructions (Art. 28(3)(a)).
    if controller is not None:
        _check_instructions(controller, ordered, categories, reasons)

    # 5. Categories the sub-processor may receive (Art. 28(4)).
    if subprocessor is not None:
        for category in categories:
            if not taxonomy.covered_by_any(category, subprocessor.data_categories):
                reasons.append(
                    Reason(
                        C.CATEGORY_NOT_PERMITTED,
                        f"sub-processor {subprocessor.id!r} is not engaged for data "
                        f"category {category} (Art. 28(4))",
                    )
                )

    # 6. Chapter V, destination by destination.
    bases: list[str] = []
    if importer is not None:
        for country in ordered:
            basis = _chapter_v(country, importer, request, controller, reference, reasons)
            if basis is not None and basis not in bases:
                bases.append(basis)

    if reasons:
        return Decision(allowed=False, legal_bases=(), reasons=tuple(reasons), revision=revision)
    return Decision(allowed=True, legal_bases=tuple(bases), reasons=(), revision=revision)


def _check_controller(
    request: TransferRequest, controller: ControllerView | None, reasons: list[Reason]
) -> None:
    if controller is None:
        reasons.append(
            Reason(
                C.CONTROLLER_UNKNOWN,
                f"controller {request.controller_id!r} is not registered: no DPA on record "
                "(Art. 28(3))",
            )
        )
        return
    if controller.controller_id != request.controller_id:
        raise ValueError("controller record does not match request.controller_id")
    if not controller.dpa_active:
        ended = controller.dpa_ended_version
        reasons.append(
            Reason(
                C.DPA_TERMINATED if ended is not None else C.DPA_NOT_ACTIVE,
                no_active_dpa_reason(ended),
            )
        )


def _importer(
    request: TransferRequest,
    controller: ControllerView | None,
    subprocessor: Subprocessor | None,
    destinations: set[str],
    reasons: list[Reason],
) -> _Importer | None:
    """Who receives the data; adds the sub-processor's locations to ``destinations``."""
    sp_id = request.subprocessor_id
    if sp_id is not None:
        if subprocessor is None:
            reasons.append(
                Reason(C.SUBPROCESSOR_UNKNOWN, f"sub-processor {sp_id!r} is not in the registry")
            )
            return None
        if subprocessor.id != sp_id:
            raise ValueError("subprocessor record does not match request.subprocessor_id")
        destinations.update(subprocessor.locations)
        if subprocessor.is_us_entity:
            destinations.add("US")
        _check_subprocessor(subprocessor, controller, reasons)
        return _Importer(
            is_subprocessor=True,
            sector=subprocessor.sector,
            dpf_certified=subprocessor.dpf_certified,
            dpf_checked_on=subprocessor.dpf_checked_on,
            safeguards=subprocessor.safeguards,
        )
    if subprocessor is not None:
        raise ValueError("subprocessor given for a request without subprocessor_id")
    if not request.recipient or not request.destination_country:
        reasons.append(
            Reason(
                C.REQUEST_INCOMPLETE,
                "the request names neither a sub-processor nor a recipient with a "
                "destination country",
            )
        )
        return None
    return _Importer(
        is_subprocessor=False,
        sector=request.recipient_sector,
        dpf_certified=request.recipient_dpf_certified,
        dpf_checked_on=request.recipient_dpf_checked_on,
        safeguards=request.safeguards,
    )


def _check_instructions(
    controller: ControllerView,
    destinations: tuple[str, ...],
    categories: tuple[str, ...],
    reasons: list[Reason],
) -> None:
    allowed_countries = controller.allowed_countries
    if allowed_countries is not None:
        for country in destinations:
            if country not in allowed_countries:
                reasons.append(
                    Reason(
                        C.INSTRUCTION_COUNTRY_EXCLUDED,
                        f"the controller's documented instructions do not allow "
                        f"processing in {country} (Art. 28(3)(a))",
                    )
                )
    allowed_categories = controller.allowed_categories
    if allowed_categories is not None:
        for category in categories:
            if not taxonomy.covered_by_any(category, allowed_categories):
                reasons.append(
                    Reason(
                        C.INSTRUCTION_CATEGORY_EXCLUDED,
                        f"the controller's documented instructions do not cover data "
                        f"category {category} (Art. 28(3)(a))",
                    )
                )


def _check_subprocessor(
    subprocessor: Subprocessor, controller: ControllerView | None, reasons: list[Reason]
) -> None:
    sp = subprocessor.id
    if subprocessor.status is SubprocessorStatus.PROPOSED:
        reasons.append(
            Reason(
                C.SUBPROCESSOR_PROPOSED,
                f"sub-processor {sp!r} is only proposed, not yet engaged (Art. 28(2))",
            )
        )
    elif subprocessor.status is SubprocessorStatus.RETIRED:
        reasons.append(Reason(C.SUBPROCESSOR_RETIRED, f"sub-processor {sp!r} is retired"))
    if not subprocessor.locations:
        reasons.append(
            Reason(
                C.SUBPROCESSOR_NO_LOCATIONS,
                f"sub-processor {sp!r} has no recorded processing location: transfers "
                "cannot be assessed",
            )
        )
    if controller is not None:
        state = controller.authorizations.get(sp)
        if state is None:
            reasons.append(
                Reason(
                    C.NOT_AUTHORIZED,
                    f"the controller has given no authorisation for sub-processor {sp!r} "
                    "(Art. 28(2))",
                )
            )
        elif state is not AuthorizationState.AUTHORIZED:
            code, message = _AUTHORIZATION_REASONS[state]
            reasons.append(Reason(code, message.format(sp=repr(sp))))


def _chapter_v(
    country: str,
    importer: _Importer,
    request: TransferRequest,
    controller: ControllerView | None,
    reference: Reference,
    reasons: list[Reason],
) -> str | None:
    """The basis for one destination, or None after appending why there is none."""
    if not reference.is_known_destination(country):
        hint = _CODE_HINTS.get(country)
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
        basis = _adequacy_basis(adequacy, importer, request.on, reference, pending)
        if basis is not None:
            return basis

    candidates = sorted(
        (sg for sg in importer.safeguards if sg.destination_country == country),
        key=lambda sg: _MECHANISM_RANK[sg.mechanism],
    )
    for safeguard in candidates:
        basis = _safeguard_basis(safeguard, importer, request.on, reference, pending)
        if basis is not None:
            return basis

    ground = request.derogation
    if ground is not None:
        if importer.is_subprocessor:
            pending.append(
                Reason(
                    C.ART49_NOT_STANDING_BASIS,
                    f"an Art. {ground.value} derogation is for occasional, specific transfers "
                    f"and never a standing basis for a sub-processor ({country})",
                )
            )
        elif controller is not None and ground in controller.allowed_derogations:
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
    importer: _Importer,
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
    importer: _Importer,
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
    importer: _Importer,
    on: date,
    reference: Reference,
    errors: list[Reason],
) -> str | None:
    country = sg.destination_country
    decision = sg.scc_decision
    signed = sg.signed_on
    label = f"SCC {decision.value if decision else '(no decision)'} for {country}"
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
    tia_law = (
        "CJEU C-311/18 Schrems II; EDPB Recommendations 01/2020"
        if decision is not None and decision in reference.scc_repealed
        else "SCC 2021/914 Clause 14; EDPB Recommendations 01/2020"
    )
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
            f"SCC {decision.value} signed {signed.isoformat()}, TIA {tia.isoformat()} "
            f"(transitional until {reference.scc_invalid_from.isoformat()})"
        )
    module_no = int(sg.scc_module) if sg.scc_module is not None else 0
    return (
        f"SCC {decision.value} module {module_no} signed {signed.isoformat()}, "
        f"TIA {tia.isoformat()}"
    )


def validate_request(
    request: TransferRequest, reference: Reference, vocabulary: taxonomy.Vocabulary, errors: Sink
) -> None:
    """Field checks for the RPC layer (INVALID_ARGUMENT); adds to ``errors``.

    Malformed requests (no target, both targets, unknown country code, unknown
    fideslang keys) are rejected before :func:`decide` is asked.
    """
    if not request.controller_id:
        errors.add("controller_id", "required")
    else:
        common.resource_id("controller_id", request.controller_id, errors)
    if request.subprocessor_id:
        common.resource_id("subprocessor_id", request.subprocessor_id, errors)
    has_sp = bool(request.subprocessor_id)
    has_recipient = bool(request.recipient) or bool(request.destination_country)
    if has_sp and has_recipient:
        errors.add("recipient", "give either subprocessor_id or recipient/destination_country")
    elif not has_sp:
        if not request.recipient:
            errors.add("recipient", "required when no subprocessor_id is given")
        if not request.destination_country:
            errors.add("destination_country", "required when no subprocessor_id is given")
    country = request.destination_country
    if country and not reference.is_known_destination(country):
        hint = _CODE_HINTS.get(country)
        extra = f" (use {hint})" if hint else ""
        errors.add(
            "destination_country",
            f"{country!r} is not an ISO 3166-1 alpha-2 code or listed organisation{extra}",
        )
    if not request.data_categories:
        errors.add("data_categories", "at least one data category is required")
    taxonomy.validate(
        taxonomy.Kind.DATA_CATEGORY, "data_categories", request.data_categories, vocabulary, errors
    )
    if not request.purpose:
        errors.add("purpose", "required")
    else:
        taxonomy.validate(taxonomy.Kind.DATA_USE, "purpose", (request.purpose,), vocabulary, errors)
    for i, sg in enumerate(request.safeguards):
        if has_sp:
            errors.add(f"safeguards[{i}]", "one-off safeguards are not taken with a sub-processor")
        elif not reference.is_known_destination(sg.destination_country):
            errors.add(f"safeguards[{i}].destination_country", "unknown code")
