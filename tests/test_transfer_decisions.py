"""CheckTransfer decision core: a table of legal cases (GDPR Art. 28, 44-49).

Each case names the rule it exercises: EEA; Art. 45 adequacy (full, partial
scopes, the UK end date, Brazil's start date, the EPO as an international
organisation, the US DPF); Art. 46 SCCs under Decision (EU) 2021/914 and the
repealed decisions (Art. 4 dates); TIAs; BCRs; Art. 49; Art. 28(2)
authorisations; Art. 28(3)(a) instructions; fideslang category hierarchy.
"""

from __future__ import annotations

import builtins
import dataclasses
import io
import json
import os
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from registry.errors import Violations
from registry.transfers import (
    AdequacyScope,
    Art49Ground,
    AuthorizationState,
    ControllerView,
    Decision,
    DestinationKind,
    Mechanism,
    ReasonCode,
    RecipientSector,
    ReferenceDataError,
    Safeguard,
    SccDecision,
    SccModule,
    Subprocessor,
    SubprocessorStatus,
    TransferRequest,
    decide,
    default_reference,
    load_reference,
    validate_country,
    validate_request,
)

REF = default_reference()
ON = date(2026, 11, 1)
SP = "sp-acme"
CTRL = "ctrl-1"
R = ReasonCode
NO_MECH = R.NO_TRANSFER_MECHANISM

SCC_BASIS = "SCC 2021/914 module 3 signed 2024-03-01, TIA 2024-02-20"
US_ADEQUACY = "adequacy: United States, (EU) 2023/1795"

_UNSET: Any = object()


def scc(
    country: str,
    *,
    decision: SccDecision = SccDecision.EU_2021_914,
    module: SccModule | None = SccModule.PROCESSOR_TO_PROCESSOR,
    signed: date = date(2024, 3, 1),
    tia_ref: str | None = "TIA-2024-007",
    tia: date | None = date(2024, 2, 20),
    tia_due: date | None = date(2027, 2, 20),
) -> Safeguard:
    return Safeguard(
        mechanism=Mechanism.SCC,
        destination_country=country,
        scc_decision=decision,
        scc_module=module,
        signed_on=signed,
        tia_reference=tia_ref,
        tia_date=tia,
        tia_review_due=tia_due,
        supplementary_measures=("encryption in transit and at rest",),
    )


def other(
    mechanism: Mechanism, country: str, ref: str | None, review: date | None = None
) -> Safeguard:
    return Safeguard(
        mechanism=mechanism,
        destination_country=country,
        instrument_reference=ref,
        review_date=review,
    )


def sp(
    *locations: str,
    status: SubprocessorStatus = SubprocessorStatus.ACTIVE,
    categories: tuple[str, ...] = ("user",),
    us_entity: bool = False,
    dpf: bool = False,
    dpf_checked: date | None = None,
    safeguards: tuple[Safeguard, ...] = (),
    sector: RecipientSector = RecipientSector.COMMERCIAL,
) -> Subprocessor:
    return Subprocessor(
        id=SP,
        name="Acme Hosting",
        status=status,
        locations=locations,
        data_categories=categories,
        is_us_entity=us_entity,
        dpf_certified=dpf,
        dpf_checked_on=dpf_checked,
        safeguards=safeguards,
        sector=sector,
    )


def ctrl(
    *,
    dpa: bool = True,
    countries: tuple[str, ...] | None = None,
    categories: tuple[str, ...] | None = None,
    auth: AuthorizationState | None = AuthorizationState.AUTHORIZED,
    derogations: frozenset[Art49Ground] = frozenset(),
) -> ControllerView:
    return ControllerView(
        controller_id=CTRL,
        dpa_active=dpa,
        allowed_countries=countries,
        allowed_categories=categories,
        authorizations={} if auth is None else {SP: auth},
        allowed_derogations=derogations,
    )


def req(
    *,
    categories: tuple[str, ...] = ("user.contact.email",),
    on: date = ON,
    derogation: Art49Ground | None = None,
) -> TransferRequest:
    return TransferRequest(
        controller_id=CTRL,
        data_categories=categories,
        purpose="essential.service",
        on=on,
        subprocessor_id=SP,
        derogation=derogation,
    )


def one_off(
    recipient: str | None,
    country: str | None,
    *,
    on: date = ON,
    safeguards: tuple[Safeguard, ...] = (),
    derogation: Art49Ground | None = None,
) -> TransferRequest:
    return TransferRequest(
        controller_id=CTRL,
        data_categories=("user.contact.email",),
        purpose="essential.service",
        on=on,
        recipient=recipient,
        destination_country=country,
        safeguards=safeguards,
        derogation=derogation,
    )


@dataclass(frozen=True)
class Case:
    id: str
    request: TransferRequest
    subprocessor: Subprocessor | None
    allowed: bool
    codes: tuple[ReasonCode, ...] = ()
    bases: tuple[str, ...] = ()
    controller: ControllerView | None = _UNSET

    def controller_view(self) -> ControllerView | None:
        return ctrl() if self.controller is _UNSET else self.controller


OLD_SCC = scc(
    "IN",
    decision=SccDecision.EU_2010_87,
    module=None,
    signed=date(2020, 5, 1),
    tia=date(2020, 9, 1),
    tia_due=date(2022, 9, 1),
)

CASES = [
    # --- EEA: no Chapter V safeguard needed ------------------------------
    Case("eea-germany", req(), sp("DE"), True, bases=("EEA",)),
    Case("eea-several-locations-one-basis", req(), sp("IE", "FI", "DE"), True, bases=("EEA",)),
    Case("eea-norway-non-eu-member", req(), sp("NO"), True, bases=("EEA",)),
    Case("eea-greece-is-gr", req(), sp("GR"), True, bases=("EEA",)),
    # --- Art. 45 adequacy ---------------------------------------------------
    Case("adequacy-japan", req(), sp("JP"), True, bases=("adequacy: Japan, (EU) 2019/419",)),
    Case(
        "adequacy-switzerland",
        req(),
        sp("CH"),
        True,
        bases=("adequacy: Switzerland, 2000/518/EC",),
    ),
    Case(
        "adequacy-korea",
        req(),
        sp("KR"),
        True,
        bases=("adequacy: Republic of Korea, (EU) 2022/254",),
    ),
    Case(
        "adequacy-japan-public-body-outside-private-sector-scope",
        req(),
        sp("JP", sector=RecipientSector.PUBLIC_BODY),
        False,
        (R.ADEQUACY_SCOPE_NOT_MET, NO_MECH),
    ),
    Case(
        "adequacy-uk-2026",
        req(),
        sp("GB"),
        True,
        bases=("adequacy: United Kingdom, (EU) 2021/1772",),
    ),
    Case(
        "adequacy-uk-last-day-2031-12-26",
        req(on=date(2031, 12, 26)),
        sp("GB"),
        True,
        bases=("adequacy: United Kingdom, (EU) 2021/1772",),
    ),
    Case(
        "adequacy-uk-expired-2031-12-27",
        req(on=date(2031, 12, 27)),
        sp("GB"),
        False,
        (R.ADEQUACY_NOT_IN_FORCE, NO_MECH),
    ),
    Case(
        "adequacy-uk-expired-but-scc-signed",
        req(on=date(2032, 1, 10)),
        sp("GB", safeguards=(scc("GB", tia_due=date(2033, 1, 1)),)),
        True,
        bases=(SCC_BASIS,),
    ),
    Case(
        "adequacy-canada-commercial-organisation",
        req(),
        sp("CA"),
        True,
        bases=("adequacy: Canada, 2002/2/EC",),
    ),
    Case(
        "adequacy-canada-non-commercial-outside-pipeda",
        req(),
        sp("CA", sector=RecipientSector.PRIVATE_NON_COMMERCIAL),
        False,
        (R.ADEQUACY_SCOPE_NOT_MET, NO_MECH),
    ),
    Case(
        "adequacy-epo-international-organisation",
        one_off("European Patent Office", "XO-EPO"),
        None,
        True,
        bases=("adequacy: European Patent Organisation, (EU) 2025/1382",),
    ),
    Case(
        "adequacy-epo-before-adoption",
        one_off("European Patent Office", "XO-EPO", on=date(2025, 7, 14)),
        None,
        False,
        (R.ADEQUACY_NOT_IN_FORCE, NO_MECH),
    ),
    Case(
        "adequacy-brazil-from-2026-01-26",
        req(on=date(2026, 1, 26)),
        sp("BR"),
        True,
        bases=("adequacy: Brazil, (EU) 2026/179",),
    ),
    Case(
        "adequacy-brazil-before-2026-01-26-not-covered",
        req(on=date(2026, 1, 25)),
        sp("BR"),
        False,
        (R.ADEQUACY_NOT_IN_FORCE, NO_MECH),
    ),
    Case(
        "adequacy-brazil-before-start-but-scc",
        req(on=date(2025, 6, 1)),
        sp("BR", safeguards=(scc("BR"),)),
        True,
        bases=(SCC_BASIS,),
    ),
    # --- United States: EU-US Data Privacy Framework (Decision 2023/1795) ---
    Case(
        "us-dpf-certified-checked-recently",
        req(),
        sp("US", dpf=True, dpf_checked=date(2026, 6, 1)),
        True,
        bases=(f"{US_ADEQUACY}; DPF certified, checked 2026-06-01",),
    ),
    Case(
        "us-dpf-check-older-than-365-days",
        req(),
        sp("US", dpf=True, dpf_checked=date(2025, 10, 31)),
        False,
        (R.DPF_CHECK_STALE, NO_MECH),
    ),
    Case(
        "us-dpf-certified-never-checked",
        req(),
        sp("US", dpf=True),
        False,
        (R.DPF_CHECK_STALE, NO_MECH),
    ),
    Case(
        "us-not-dpf-certified-no-scc",
        req(),
        sp("US"),
        False,
        (R.DPF_NOT_CERTIFIED, NO_MECH),
    ),
    Case(
        "us-not-dpf-certified-with-scc",
        req(),
        sp("US", safeguards=(scc("US"),)),
        True,
        bases=(SCC_BASIS,),
    ),
    Case(
        "us-entity-hosting-in-eea-is-a-transfer-to-us",
        req(),
        sp("IE", us_entity=True, dpf=True, dpf_checked=date(2026, 9, 1)),
        True,
        bases=("EEA", f"{US_ADEQUACY}; DPF certified, checked 2026-09-01"),
    ),
    Case(
        "us-entity-hosting-in-eea-without-dpf",
        req(),
        sp("IE", us_entity=True),
        False,
        (R.DPF_NOT_CERTIFIED, NO_MECH),
    ),
    # --- SCC Decision (EU) 2021/914 and its TIA (Clause 14) ------------------
    Case(
        "scc-2021-914-module-3-india",
        req(),
        sp("IN", safeguards=(scc("IN"),)),
        True,
        bases=(SCC_BASIS,),
    ),
    Case(
        "scc-mixed-locations-eea-adequacy-scc",
        req(),
        sp("JP", "DE", "IN", safeguards=(scc("IN"),)),
        True,
        bases=("EEA", SCC_BASIS, "adequacy: Japan, (EU) 2019/419"),
    ),
    Case(
        "scc-module-1-does-not-fit-a-processor",
        req(),
        sp("IN", safeguards=(scc("IN", module=SccModule.CONTROLLER_TO_CONTROLLER),)),
        False,
        (R.SCC_MODULE_MISMATCH, NO_MECH),
    ),
    Case(
        "scc-for-another-country-does-not-count",
        req(),
        sp("IN", safeguards=(scc("BR"),)),
        False,
        (NO_MECH,),
    ),
    Case(
        "scc-tia-missing",
        req(),
        sp("IN", safeguards=(scc("IN", tia_ref=None, tia=None),)),
        False,
        (R.TIA_MISSING, NO_MECH),
    ),
    Case(
        "scc-tia-past-review-date",
        req(),
        sp("IN", safeguards=(scc("IN", tia_due=date(2026, 10, 31)),)),
        False,
        (R.TIA_REVIEW_OVERDUE, NO_MECH),
    ),
    Case(
        "scc-tia-review-due-on-transfer-day",
        req(),
        sp("IN", safeguards=(scc("IN", tia_due=ON),)),
        True,
        bases=(SCC_BASIS,),
    ),
    Case(
        "scc-signed-after-transfer-date",
        req(on=date(2024, 2, 1)),
        sp("IN", safeguards=(scc("IN", tia=date(2024, 1, 10)),)),
        False,
        (R.SAFEGUARD_NOT_YET_SIGNED, NO_MECH),
    ),
    # --- repealed SCCs: 2001/497/EC, 2004/915/EC, 2010/87/EU -----------------
    Case(
        "old-scc-2010-87-signed-2020-in-transition-2022",
        req(on=date(2022, 6, 1)),
        sp("IN", safeguards=(OLD_SCC,)),
        True,
        bases=("SCC 2010/87/EU signed 2020-05-01, TIA 2020-09-01 (transitional until 2022-12-27)",),
    ),
    Case(
        "old-scc-2010-87-invalid-from-2022-12-27",
        req(on=date(2022, 12, 27)),
        sp("IN", safeguards=(dataclasses.replace(OLD_SCC, tia_review_due=date(2023, 9, 1)),)),
        False,
        (R.SCC_REPEALED_DECISION_EXPIRED, NO_MECH),
    ),
    Case(
        "old-scc-2010-87-today",
        req(),
        sp("IN", safeguards=(dataclasses.replace(OLD_SCC, tia_review_due=date(2027, 1, 1)),)),
        False,
        (R.SCC_REPEALED_DECISION_EXPIRED, NO_MECH),
    ),
    Case(
        "old-scc-2001-497-signed-after-repeal-2021-09-27",
        req(on=date(2022, 1, 10)),
        sp(
            "IN",
            safeguards=(
                scc(
                    "IN",
                    decision=SccDecision.EC_2001_497,
                    module=None,
                    signed=date(2021, 9, 27),
                    tia=date(2021, 9, 1),
                ),
            ),
        ),
        False,
        (R.SCC_SIGNED_AFTER_REPEAL, NO_MECH),
    ),
    Case(
        "old-scc-2004-915-today-all-defects-listed",
        req(),
        sp(
            "IN",
            safeguards=(
                scc(
                    "IN",
                    decision=SccDecision.EC_2004_915,
                    module=None,
                    signed=date(2021, 10, 1),
                    tia_ref=None,
                ),
            ),
        ),
        False,
        (R.SCC_SIGNED_AFTER_REPEAL, R.SCC_REPEALED_DECISION_EXPIRED, R.TIA_MISSING, NO_MECH),
    ),
    # --- BCR (Art. 47) and other Art. 46 instruments -------------------------
    Case(
        "bcr-processor-rules",
        req(),
        sp("IN", safeguards=(other(Mechanism.BCR, "IN", "BCR-P approved by CNIL 2023"),)),
        True,
        bases=("BCR (Art. 47): BCR-P approved by CNIL 2023",),
    ),
    Case(
        "bcr-without-instrument-reference",
        req(),
        sp("IN", safeguards=(other(Mechanism.BCR, "IN", None),)),
        False,
        (R.SAFEGUARD_INCOMPLETE, NO_MECH),
    ),
    Case(
        "bcr-past-review-date",
        req(),
        sp("IN", safeguards=(other(Mechanism.BCR, "IN", "BCR-P", review=date(2026, 1, 1)),)),
        False,
        (R.SAFEGUARD_REVIEW_OVERDUE, NO_MECH),
    ),
    Case(
        "other-art46-approved-code-of-conduct",
        req(),
        sp("IN", safeguards=(other(Mechanism.OTHER_ART46, "IN", "Art. 46(2)(e) code X"),)),
        True,
        bases=("Art. 46 instrument: Art. 46(2)(e) code X",),
    ),
    # --- Art. 49 derogations ---------------------------------------------------
    Case(
        "art49-recorded-for-subprocessor-is-not-a-basis",
        req(),
        sp("IN", safeguards=(other(Mechanism.DEROGATION_ART49, "IN", "Art. 49(1)(b)"),)),
        False,
        (R.ART49_NOT_STANDING_BASIS, NO_MECH),
    ),
    Case(
        "art49-requested-for-subprocessor-is-not-a-basis",
        req(derogation=Art49Ground.CONTRACT_WITH_DATA_SUBJECT),
        sp("IN"),
        False,
        (R.ART49_NOT_STANDING_BASIS, NO_MECH),
        controller=ctrl(derogations=frozenset({Art49Ground.CONTRACT_WITH_DATA_SUBJECT})),
    ),
    Case(
        "art49-recorded-but-valid-scc-used",
        req(),
        sp(
            "IN",
            safeguards=(other(Mechanism.DEROGATION_ART49, "IN", "49(1)(a)"), scc("IN")),
        ),
        True,
        bases=(SCC_BASIS,),
    ),
    Case(
        "art49-one-off-instructed-by-controller",
        one_off("Hotel Sakura", "IN", derogation=Art49Ground.CONTRACT_WITH_DATA_SUBJECT),
        None,
        True,
        bases=("derogation: Art. 49(1)(b), one-off transfer",),
        controller=ctrl(derogations=frozenset({Art49Ground.CONTRACT_WITH_DATA_SUBJECT})),
    ),
    Case(
        "art49-one-off-not-instructed",
        one_off("Hotel Sakura", "IN", derogation=Art49Ground.EXPLICIT_CONSENT),
        None,
        False,
        (R.DEROGATION_NOT_INSTRUCTED, NO_MECH),
        controller=ctrl(derogations=frozenset({Art49Ground.CONTRACT_WITH_DATA_SUBJECT})),
    ),
    Case(
        "one-off-scc-module-4-to-a-controller",
        one_off(
            "Client HQ",
            "IN",
            safeguards=(scc("IN", module=SccModule.PROCESSOR_TO_CONTROLLER),),
        ),
        None,
        True,
        bases=("SCC 2021/914 module 4 signed 2024-03-01, TIA 2024-02-20",),
    ),
    # --- Art. 28(2): sub-processor and authorisation ---------------------------
    Case(
        "authorisation-objected",
        req(),
        sp("DE"),
        False,
        (R.AUTHORIZATION_OBJECTED,),
        controller=ctrl(auth=AuthorizationState.OBJECTED),
    ),
    Case(
        "authorisation-pending",
        req(),
        sp("DE"),
        False,
        (R.AUTHORIZATION_PENDING,),
        controller=ctrl(auth=AuthorizationState.PENDING),
    ),
    Case(
        "authorisation-withdrawn",
        req(),
        sp("DE"),
        False,
        (R.AUTHORIZATION_WITHDRAWN,),
        controller=ctrl(auth=AuthorizationState.WITHDRAWN),
    ),
    Case(
        "authorisation-never-given",
        req(),
        sp("DE"),
        False,
        (R.NOT_AUTHORIZED,),
        controller=ctrl(auth=None),
    ),
    Case(
        "subprocessor-only-proposed",
        req(),
        sp("DE", status=SubprocessorStatus.PROPOSED),
        False,
        (R.SUBPROCESSOR_PROPOSED,),
    ),
    Case(
        "subprocessor-retired",
        req(),
        sp("DE", status=SubprocessorStatus.RETIRED),
        False,
        (R.SUBPROCESSOR_RETIRED,),
    ),
    Case("subprocessor-unknown", req(), None, False, (R.SUBPROCESSOR_UNKNOWN,)),
    # --- Art. 28(3)(a): documented instructions --------------------------------
    Case(
        "instructions-exclude-country",
        req(),
        sp("JP"),
        False,
        (R.INSTRUCTION_COUNTRY_EXCLUDED,),
        controller=ctrl(countries=("DE", "FR")),
    ),
    Case(
        "instructions-allow-country",
        req(),
        sp("FR"),
        True,
        bases=("EEA",),
        controller=ctrl(countries=("DE", "FR")),
    ),
    Case(
        "instructions-exclude-category",
        req(categories=("user.financial",)),
        sp("DE"),
        False,
        (R.INSTRUCTION_CATEGORY_EXCLUDED,),
        controller=ctrl(categories=("user.contact",)),
    ),
    Case(
        "instructions-parent-grant-covers-child",
        req(categories=("user.contact.email", "user.contact.phone_number")),
        sp("DE"),
        True,
        bases=("EEA",),
        controller=ctrl(categories=("user.contact",)),
    ),
    # --- Art. 28(4): the sub-processor's permitted categories -----------------
    Case(
        "category-outside-subprocessor-engagement",
        req(categories=("user.financial",)),
        sp("DE", categories=("user.contact",)),
        False,
        (R.CATEGORY_NOT_PERMITTED,),
    ),
    Case(
        "category-child-grant-does-not-cover-parent",
        req(categories=("user.contact",)),
        sp("DE", categories=("user.contact.email",)),
        False,
        (R.CATEGORY_NOT_PERMITTED,),
    ),
    Case(
        "category-parent-grant-covers-child",
        req(categories=("user.contact.address.city",)),
        sp("DE", categories=("user.contact",)),
        True,
        bases=("EEA",),
    ),
    # --- the DPA and the request ----------------------------------------------
    Case(
        "dpa-terminated",
        req(),
        sp("DE"),
        False,
        (R.DPA_NOT_ACTIVE,),
        controller=ctrl(dpa=False),
    ),
    Case(
        "controller-unknown-no-dpa",
        req(),
        sp("DE"),
        False,
        (R.CONTROLLER_UNKNOWN,),
        controller=None,
    ),
    Case("no-data-categories", req(categories=()), sp("DE"), False, (R.NO_DATA_CATEGORIES,)),
    Case(
        "one-off-without-destination",
        one_off("Someone", None),
        None,
        False,
        (R.REQUEST_INCOMPLETE,),
    ),
    Case("unknown-country-code", req(), sp("ZZ"), False, (R.UNKNOWN_COUNTRY,)),
    Case("uk-is-not-the-iso-code", req(), sp("UK"), False, (R.UNKNOWN_COUNTRY,)),
    # --- several defects at once: every reason, in a fixed order ---------------
    Case(
        "many-reasons-all-listed",
        req(categories=("user.financial", "user.contact.email")),
        sp(
            "US",
            "DE",
            status=SubprocessorStatus.RETIRED,
            categories=("user.contact",),
            safeguards=(scc("US", tia_due=date(2025, 1, 1)),),
        ),
        False,
        (
            R.DPA_NOT_ACTIVE,
            R.SUBPROCESSOR_RETIRED,
            R.AUTHORIZATION_OBJECTED,
            R.INSTRUCTION_COUNTRY_EXCLUDED,
            R.INSTRUCTION_CATEGORY_EXCLUDED,
            R.CATEGORY_NOT_PERMITTED,
            R.DPF_NOT_CERTIFIED,
            R.TIA_REVIEW_OVERDUE,
            NO_MECH,
        ),
        controller=ctrl(
            dpa=False,
            countries=("DE",),
            categories=("user.contact",),
            auth=AuthorizationState.OBJECTED,
        ),
    ),
]


def run(case: Case, revision: int = 42) -> Decision:
    return decide(case.request, case.controller_view(), case.subprocessor, REF, revision)


def test_table_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decision_table(case: Case) -> None:
    decision = run(case)
    assert decision.allowed is case.allowed, decision.reasons
    assert decision.codes == case.codes, [r.message for r in decision.reasons]
    assert decision.legal_bases == case.bases
    assert decision.revision == 42
    for reason in decision.reasons:
        assert reason.message.strip()
    if not decision.allowed:
        assert decision.reasons
        assert decision.legal_bases == ()


def test_reason_messages_name_the_law() -> None:
    expired = run(next(c for c in CASES if c.id == "old-scc-2010-87-today"))
    assert "2010/87/EU" in expired.reasons[0].message
    assert "2022-12-27" in expired.reasons[0].message
    signed_late = run(next(c for c in CASES if c.id.startswith("old-scc-2001-497")))
    assert "2001/497/EC" in signed_late.reasons[0].message
    assert "2021-09-27" in signed_late.reasons[0].message
    uk = run(next(c for c in CASES if c.id == "uk-is-not-the-iso-code"))
    assert "GB" in uk.reasons[0].message


def test_deterministic_and_order_independent() -> None:
    for case in CASES:
        assert run(case) == run(case)
    subprocessor = sp(
        "US", "JP", "DE", "IN", safeguards=(scc("IN"), other(Mechanism.BCR, "IN", "BCR-P"))
    )
    shuffled = dataclasses.replace(
        subprocessor,
        locations=tuple(reversed(subprocessor.locations)),
        safeguards=tuple(reversed(subprocessor.safeguards)),
    )
    request = req(categories=("user.contact.email", "user.name", "user.contact.email"))
    reordered = request._replace(data_categories=("user.name", "user.contact.email"))
    first = decide(request, ctrl(), subprocessor, REF, 1)
    second = decide(reordered, ctrl(), shuffled, REF, 1)
    assert first == second
    assert first.codes == (R.DPF_NOT_CERTIFIED, NO_MECH)


def test_decide_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("decide() must not do I/O")

    expected = [run(case) for case in CASES]
    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(io, "open", forbidden)
    monkeypatch.setattr(os, "open", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    for _ in range(100):
        for case, want in zip(CASES, expected, strict=True):
            assert run(case) == want


def test_dpf_freshness_is_configurable() -> None:
    subprocessor = sp("US", dpf=True, dpf_checked=date(2026, 9, 1))
    assert decide(req(), ctrl(), subprocessor, REF, 1).allowed
    strict = REF.with_dpf_max_age(30)
    assert decide(req(), ctrl(), subprocessor, strict, 1).codes == (R.DPF_CHECK_STALE, NO_MECH)
    assert REF.dpf_max_age_days == 365
    assert load_reference(dpf_max_age_days=10).dpf_max_age_days == 10


def test_a_memo_gives_the_same_answers_and_never_a_stale_one() -> None:
    """decide_with's memo remembers parts by sub-processor record and
    reference identity: every case answers as without it, twice over (the
    second time from the memo), and a changed record or reference is
    decided afresh."""
    from dpa_decisions.transfer import Memo, decide_with

    memo = Memo()
    for _ in range(2):
        for case in CASES:
            view = case.controller_view()
            state = None
            if case.subprocessor is not None and view is not None:
                state = view.authorizations.get(case.subprocessor.id)
            remembered = decide_with(case.request, view, state, case.subprocessor, REF, 42, memo)
            assert remembered == run(case), case.id
    subprocessor = sp("US", dpf=True, dpf_checked=date(2026, 9, 1))
    authorized = AuthorizationState.AUTHORIZED
    assert decide_with(req(), ctrl(), authorized, subprocessor, REF, 1, memo).allowed
    strict = REF.with_dpf_max_age(30)
    assert not decide_with(req(), ctrl(), authorized, subprocessor, strict, 1, memo).allowed
    retired = dataclasses.replace(subprocessor, status=SubprocessorStatus.RETIRED)
    assert decide_with(req(), ctrl(), authorized, retired, REF, 1, memo).codes == (
        R.SUBPROCESSOR_RETIRED,
    )


def test_a_memo_answers_every_day_as_without_it() -> None:
    """The memo keeps Chapter V per span between turning days: for every
    case, each day around each turning day (and days far before and after),
    decided in a shuffled order through one memo, is answered exactly as
    without a memo on that day; a missing turning day would show here."""
    import random
    from datetime import timedelta

    from dpa_decisions.chapter_v import turning_days
    from dpa_decisions.transfer import Memo, _subprocessor_target, decide_with

    rng = random.Random(7)
    for case in CASES:
        record = case.subprocessor
        if record is None or case.request.subprocessor_id is None:
            continue
        view = case.controller_view()
        state = view.authorizations.get(record.id) if view is not None else None
        target = _subprocessor_target(record)
        turning = turning_days(target.destinations, target.importer, REF)
        assert turning
        days = {case.request.on, date(1990, 1, 1), date(2090, 1, 1)}
        for day in turning:
            days.update(day + timedelta(days=d) for d in (-2, -1, 0, 1) if day < date(9999, 1, 1))
        order = sorted(days)
        rng.shuffle(order)
        memo = Memo()
        for day in order:
            request = case.request._replace(on=day)
            want = decide(request, view, record, REF, 42)
            assert decide_with(request, view, state, record, REF, 42, memo) == want, (
                case.id,
                day,
            )


def test_the_usual_request_is_answered_as_validate_and_decide_would() -> None:
    """``transfer.usual`` (the local checker's one step) answers exactly when
    the request is valid and ``decide_with`` answers it, and then the same;
    for every case, with unknown, empty and repeated keys."""
    from dpa_decisions.transfer import Memo, decide_with, usual
    from dpa_decisions.transfer_types import subprocessor_request
    from registry.taxonomy import vocabulary

    vocab = vocabulary()
    memo = Memo()
    answered = 0
    for case in CASES:
        record = case.subprocessor
        view = case.controller_view()
        if record is None or view is None or case.request.subprocessor_id is None:
            continue
        state = view.authorizations.get(record.id)
        # A sub-processor's request as the checker builds it (no one-off fields).
        base = subprocessor_request(
            view.controller_id,
            case.request.data_categories,
            case.request.purpose,
            case.request.on,
            record.id,
        )
        variants = [
            base,
            base._replace(purpose="no.such.use"),
            base._replace(purpose=""),
            base._replace(data_categories=()),
            base._replace(data_categories=("no.such.category",)),
            base._replace(data_categories=("user.name", "user.contact.email", "user.name")),
            base._replace(data_categories=("user.financial",)),
        ]
        for request in variants:
            got = usual(
                view,
                state,
                request.data_categories,
                request.purpose,
                request.on,
                memo.work(record, REF),
                vocab,
                42,
            )
            if got is None:
                continue
            answered += 1
            errors = Violations()
            validate_request(request, REF, errors)
            assert not errors, (case.id, request)
            assert got == decide_with(request, view, state, record, REF, 42), (case.id, request)
    assert answered > 10


def test_categories_given_as_a_list_are_decided_as_the_tuple() -> None:
    listed = req(categories=("user.contact.email",))._replace(
        data_categories=["user.contact.email"]  # type: ignore[arg-type]
    )
    assert decide(listed, ctrl(), sp("US"), REF, 1) == decide(req(), ctrl(), sp("US"), REF, 1)


def test_mismatched_records_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="controller"):
        decide(req(), dataclasses.replace(ctrl(), controller_id="other"), sp("DE"), REF, 1)
    with pytest.raises(ValueError, match="subprocessor"):
        decide(req(), ctrl(), dataclasses.replace(sp("DE"), id="other"), REF, 1)


def test_controller_view_is_immutable_copy() -> None:
    auths = {SP: AuthorizationState.AUTHORIZED}
    view = ControllerView(CTRL, True, authorizations=auths)
    auths[SP] = AuthorizationState.OBJECTED
    assert view.authorizations[SP] is AuthorizationState.AUTHORIZED
    with pytest.raises(TypeError):
        view.authorizations[SP] = AuthorizationState.OBJECTED  # type: ignore[index]


def test_reason_codes_are_stable_strings() -> None:
    for code in ReasonCode:
        assert code.value == code.name


# --- the reference file --------------------------------------------------------

BRIEF_TABLE = {
    "AD": "2010/625/EU",
    "AR": "2003/490/EC",
    "BR": "(EU) 2026/179",
    "CA": "2002/2/EC",
    "XO-EPO": "(EU) 2025/1382",
    "FO": "2010/146/EU",
    "GG": "2003/821/EC",
    "IM": "2004/411/EC",
    "IL": "2011/61/EU",
    "JP": "(EU) 2019/419",
    "JE": "2008/393/EC",
    "NZ": "2013/65/EU",
    "KR": "(EU) 2022/254",
    "CH": "2000/518/EC",
    "GB": "(EU) 2021/1772",
    "US": "(EU) 2023/1795",
    "UY": "2012/484/EU",
}


def test_reference_file_loads_with_every_adequacy_decision() -> None:
    assert REF.reviewed.year == 2026
    assert {code: entry.decision for code, entry in REF.adequacy.items()} == BRIEF_TABLE
    assert REF.adequacy["GB"].valid_until == date(2031, 12, 27)
    assert REF.adequacy["BR"].adopted == date(2026, 1, 26)
    assert REF.adequacy["CA"].scope is AdequacyScope.COMMERCIAL_ORGANISATIONS
    assert REF.adequacy["JP"].scope is AdequacyScope.PRIVATE_SECTOR
    assert REF.adequacy["US"].scope is AdequacyScope.DPF_CERTIFIED_ONLY
    assert REF.adequacy["XO-EPO"].kind is DestinationKind.INTERNATIONAL_ORGANISATION
    assert REF.international_organisations == frozenset({"XO-EPO"})
    assert REF.scc_no_new_contracts_from == date(2021, 9, 27)
    assert REF.scc_invalid_from == date(2022, 12, 27)


def test_reference_eea_members() -> None:
    assert len(REF.eea) == 30
    assert {"IS", "LI", "NO", "GR", "EE", "DE"} <= REF.eea
    assert not {"EL", "UK", "GB", "CH", "FO", "GL"} & REF.eea


def test_every_reference_entry_cites_a_source() -> None:
    for source in REF.sources.values():
        assert source.title.strip() and source.citation.strip()
    for entry in REF.adequacy.values():
        assert entry.source.strip(), entry.code
        assert entry.source_refs, entry.code
        assert all(ref in REF.sources for ref in entry.source_refs)
        assert entry.decision.split()[-1] in entry.source, entry.code


def _reference_json() -> dict[str, Any]:
    path = Path(__file__).resolve().parents[1] / "registry" / "data" / "adequacy.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["adequacy"][0].pop("source"), "source"),
        (lambda d: d["adequacy"][0].update(source_refs=["nowhere"]), "unknown source"),
        (lambda d: d["adequacy"][0].update(code="UK"), "ISO"),
        (lambda d: d["adequacy"][0].update(scope="partial"), "AdequacyScope"),
        (lambda d: d["eea"]["members"].append("EL"), "ISO"),
        (lambda d: d["eea"]["members"].remove("NO"), "30"),
        (lambda d: d["adequacy"][0].update(code="DE"), "EEA"),
        (lambda d: d["scc"].update(invalid_from="2021-01-01"), "invalid_from"),
    ],
    ids=[
        "no-source",
        "dangling-source-ref",
        "uk-code",
        "unknown-scope",
        "el-code",
        "eea-size",
        "adequacy-for-eea-member",
        "scc-dates",
    ],
)
def test_malformed_reference_is_rejected(tmp_path: Path, mutate: Any, message: str) -> None:
    data = _reference_json()
    mutate(data)
    path = tmp_path / "adequacy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=message):
        load_reference(path)


def test_validate_country() -> None:
    assert validate_country("GB")
    assert validate_country("GR")
    assert validate_country("IN")
    for bad in ("UK", "EL", "gb", "ZZ", "", "GBR", "XO-EPO"):
        assert not validate_country(bad), bad
    assert REF.is_known_destination("XO-EPO")


def test_validate_request_for_invalid_argument() -> None:
    good = Violations()
    validate_request(req(), REF, good)
    assert not good
    errors = Violations()
    validate_request(
        one_off("Acme UK", "UK")._replace(data_categories=("user.nonsense",), purpose=""),
        REF,
        errors,
    )
    with pytest.raises(Exception, match="destination_country") as info:
        errors.raise_if_any()
    text = str(info.value)
    assert "use GB" in text
    assert "data_categories[0]" in text
    assert "purpose" in text
    both = Violations()
    validate_request(req()._replace(recipient="x"), REF, both)
    assert both


def test_a_subprocessor_request_is_read_as_the_general_build_would() -> None:
    """The wire's short build of a sub-processor's request (the hot path)
    gives the very request the general build gives with the other fields
    absent; a request naming any of them takes the general build."""
    from dpa_registry_api.v1 import transfers_pb2 as tpb
    from registry.transfers.servicer import transfer_request

    msg = tpb.CheckTransferRequest(
        controller_id=CTRL,
        subprocessor_id=SP,
        data_categories=["user.contact.email", "user.name"],
        purpose="essential.service",
        transfer_date="2026-11-01",
    )
    short, errors = transfer_request(msg, date(2026, 1, 1))
    assert not errors
    assert short == TransferRequest(
        controller_id=CTRL,
        data_categories=("user.contact.email", "user.name"),
        purpose="essential.service",
        on=ON,
        subprocessor_id=SP,
    )
    assert type(short) is TransferRequest
    msg.recipient_sector = tpb.RECIPIENT_SECTOR_PUBLIC_BODY
    general, _ = transfer_request(msg, date(2026, 1, 1))
    assert general == short._replace(recipient_sector=RecipientSector.PUBLIC_BODY)
    # Only the short build's shape is the usual request's.
    from dpa_decisions.transfer_types import subprocessor_only

    assert subprocessor_only(short)
    assert not subprocessor_only(general)
    assert not subprocessor_only(short._replace(derogation=Art49Ground.EXPLICIT_CONSENT))
    assert not subprocessor_only(short._replace(subprocessor_id=None))
