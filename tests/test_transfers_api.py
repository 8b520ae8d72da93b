"""CheckTransfer over real mTLS on each backend, through the real data path:
sub-processors engaged by change notices, DPAs, instructions, safeguards and
the adequacy reference with staff-recorded changes. The full legal table is
in tests/test_transfer_decisions.py (pure core); here each case needs the
registry's own state (GDPR Art. 28(2), 28(3), 44-49).

Staleness: after a change commits, the very next check reflects it, in this
process (here) and in another server process (tests/test_transfers_multiprocess.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

import pytest

from dpa_client import RegistryClient, denial_code_name, errors, safeguard
from dpa_client.types import (
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
    Safeguard,
    SubprocessorAuthorizationState,
    SubprocessorStatus,
)
from dpa_registry_api.v1 import transfers_pb2 as tpb
from registry import clock, revision
from registry.audit import store as audit_store
from tests import factories
from tests.harness import Harness

DAY = timedelta(days=1)
EMAIL = ["user.contact.email"]
USE = "essential.service"


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# Sub-processors of the world: id -> (country, locations, categories, dpf).
SUBPROCESSORS: dict[str, tuple[str, list[str], list[str], str]] = {
    "euhost": ("EE", ["EE", "FI"], ["user"], ""),
    "jphost": ("JP", ["JP"], ["user.contact"], ""),
    "gbhost": ("GB", ["GB"], ["user"], ""),
    "chhost": ("CH", ["CH"], ["user"], ""),
    "cahost": ("CA", ["CA"], ["user"], ""),
    "brhost": ("BR", ["BR"], ["user"], ""),
    "usdpf": ("US", ["US"], ["user"], "CERTIFIED"),
    "usnodpf": ("US", ["US"], ["user"], "NOT_CERTIFIED"),
    "usscc": ("US", ["US", "IE"], ["user"], "NOT_CERTIFIED"),
    "inold": ("IN", ["IN"], ["user"], ""),
    "innotia": ("IN", ["IN"], ["user"], ""),
    "intiaold": ("IN", ["IN"], ["user"], ""),
    "inbcr": ("IN", ["IN"], ["user"], ""),
}

# Controllers: id -> authorisation mode.
CONTROLLERS = {
    "acme": "GENERAL",
    "globex": "SPECIFIC",
    "initech": "GENERAL",
    "umbrella": "GENERAL",
    "soylent": "GENERAL",
}


def scc(country: str, **overrides: object) -> Safeguard:
    fields: dict[str, object] = {
        "scc_decision": "2021/914",
        "scc_module": 3,
        "clause9_option": 2,
        "signed": "2024-03-01",
        "tia_reference": "TIA-2024-007",
        "tia_date": "2024-02-20",
        "tia_review": "2030-02-20",
        "supplementary_measures": ["encryption in transit and at rest"],
        **overrides,
    }
    return safeguard(country, "SCC", **fields)  # type: ignore[arg-type]


@dataclass
class World:
    h: Harness
    staff: RegistryClient
    checker: RegistryClient
    on: date

    def check(self, controller_id: str, subprocessor_id: str, **kw: object) -> tpb.TransferDecision:
        kw.setdefault("data_categories", EMAIL)
        kw.setdefault("purpose", USE)
        kw.setdefault("transfer_date", self.on)
        return self.checker.check_transfer(
            controller_id,
            subprocessor_id=subprocessor_id,
            **kw,  # type: ignore[arg-type]
        )


def codes(decision: tpb.TransferDecision) -> list[str]:
    return [denial_code_name(r.code) for r in decision.reasons]


def build_world(h: Harness) -> World:
    """Controllers with DPAs, sub-processors engaged by an ADDITION notice
    whose windows have closed, safeguards, an instruction, an objection, a
    pending SPECIFIC authorisation and a terminated DPA."""
    staff = h.staff
    for cid, mode in CONTROLLERS.items():
        factories.controller(staff, cid)
        factories.active_dpa_direct(cid, mode=mode)
    factories.instruction(
        h, "initech", countries=["EE", "FI", "DE"], data_categories=["user.contact"]
    )
    today = clock.now().date()
    for sid, (country, locations, categories, dpf) in SUBPROCESSORS.items():
        extra: dict[str, object] = {}
        if dpf:
            extra = {"dpf_status": dpf, "dpf_checked": today}
        factories.subprocessor(
            staff,
            sid,
            country=country,
            locations=locations,
            data_categories=categories,
            **extra,
        )
    staff.create_safeguard("usscc", "us-scc", scc("US"))
    staff.create_safeguard(
        "inold",
        "in-scc-2010",
        scc(
            "IN",
            scc_decision="2010/87/EU",
            scc_module=None,
            clause9_option=None,
            signed="2019-05-02",
        ),
    )
    staff.create_safeguard(
        "innotia", "in-scc", scc("IN", tia_reference="", tia_date=None, tia_review=None)
    )
    staff.create_safeguard("intiaold", "in-scc", scc("IN", tia_review="2025-02-20"))
    staff.create_safeguard(
        "inbcr", "in-bcr", safeguard("IN", "BCR", instrument_reference="BCR-EDPB-2023-12")
    )
    notices = {
        sid: staff.propose_subprocessor_change(
            "ADDITION", sid, effective=clock.now() + 31 * DAY, reason="test world"
        )
        for sid in SUBPROCESSORS
    }
    umbrella = factories._controller_client(h, "umbrella")
    umbrella.object_to_subprocessor_change(notices["euhost"].name, reason="not that host")
    # The notices reach every controller: their objection windows begin.
    factories.read_inbox(h, *CONTROLLERS)
    clock.advance(32 * DAY)
    eventually(
        lambda: all(
            s.status is SubprocessorStatus.ACTIVE
            for s in staff.list_subprocessors()
            if s.subprocessor_id in SUBPROCESSORS
        )
    )
    # Every GENERAL window closed too, for every controller: the scheduler
    # writes nothing more after this (a window it closed later would move
    # the registry's revision between two checks of a test).
    eventually(lambda: _windows_closed(h))
    staff.terminate_agreement("soylent", reason="contract ended")
    return World(h, staff, h.client("service", "checker"), clock.now().date())


def _windows_closed(h: Harness) -> bool:
    """Every GENERAL controller lists every world sub-processor, none of them
    still PENDING (AUTHORIZED, or OBJECTED where it objected)."""
    pending = SubprocessorAuthorizationState.PENDING
    for cid, mode in CONTROLLERS.items():
        if mode != "GENERAL":
            continue
        states = {
            e.subprocessor.removeprefix("subprocessors/"): e.state
            for e in h.staff.get_subprocessor_list(cid).entries
        }
        if any(states.get(sid, pending) is pending for sid in SUBPROCESSORS):
            return False
    return True


@pytest.fixture
def world(registry: Harness) -> World:
    return build_world(registry)


# -- the table, through the RPC ----------------------------------------------------

ALLOWED_CASES = [
    ("EEA", "acme", "euhost", ["EEA"]),
    ("adequacy Japan", "acme", "jphost", ["adequacy: Japan, (EU) 2019/419"]),
    ("adequacy UK", "acme", "gbhost", ["adequacy: United Kingdom, (EU) 2021/1772"]),
    ("adequacy Switzerland", "acme", "chhost", ["adequacy: Switzerland, 2000/518/EC"]),
    ("adequacy Canada, commercial", "acme", "cahost", ["adequacy: Canada, 2002/2/EC"]),
    ("adequacy Brazil", "acme", "brhost", ["adequacy: Brazil, (EU) 2026/179"]),
    ("BCR", "acme", "inbcr", ["BCR (Art. 47): BCR-EDPB-2023-12"]),
    ("instructions allow EE/FI", "initech", "euhost", ["EEA"]),
]


@pytest.mark.parametrize(("label", "cid", "sid", "bases"), ALLOWED_CASES)
def test_allowed_cases(world: World, label: str, cid: str, sid: str, bases: list[str]) -> None:
    committed = audit_store_size(world)
    decision = world.check(cid, sid)
    assert decision.verdict == tpb.TRANSFER_VERDICT_ALLOWED, (label, codes(decision))
    assert list(decision.legal_bases) == bases
    # Decided on everything committed before the call; the scheduler may
    # still be writing (its last windows close while the world settles).
    after = audit_store_size(world)
    assert committed <= decision.revision <= after
    if after == committed:  # nothing written meanwhile: exactly the log's size
        assert decision.revision == committed


def audit_store_size(world: World) -> int:
    from registry import db

    with db.database.connection_context():
        return audit_store.size()


def test_us_with_dpf_and_with_sccs(world: World) -> None:
    dpf = world.check("acme", "usdpf")
    assert dpf.verdict == tpb.TRANSFER_VERDICT_ALLOWED, codes(dpf)
    (basis,) = dpf.legal_bases
    assert basis.startswith("adequacy: United States, (EU) 2023/1795; DPF certified, checked ")
    with_scc = world.check("acme", "usscc")
    assert with_scc.verdict == tpb.TRANSFER_VERDICT_ALLOWED, codes(with_scc)
    assert list(with_scc.legal_bases) == [
        "EEA",
        "SCC 2021/914 module 3 signed 2024-03-01, TIA 2024-02-20",
    ]


DENIED_CASES = [
    (
        "US without DPF or SCCs",
        "acme",
        "usnodpf",
        {},
        ["DPF_NOT_CERTIFIED", "NO_TRANSFER_MECHANISM"],
    ),
    (
        "SCCs under repealed 2010/87/EU",
        "acme",
        "inold",
        {},
        ["SCC_REPEALED_DECISION_EXPIRED", "NO_TRANSFER_MECHANISM"],
    ),
    ("TIA missing", "acme", "innotia", {}, ["TIA_MISSING", "NO_TRANSFER_MECHANISM"]),
    ("TIA past review", "acme", "intiaold", {}, ["TIA_REVIEW_OVERDUE", "NO_TRANSFER_MECHANISM"]),
    ("objection", "umbrella", "euhost", {}, ["AUTHORIZATION_OBJECTED"]),
    ("pending SPECIFIC authorisation", "globex", "euhost", {}, ["AUTHORIZATION_PENDING"]),
    ("terminated DPA", "soylent", "euhost", {}, ["DPA_TERMINATED"]),
    (
        "instructions exclude the country",
        "initech",
        "jphost",
        {},
        ["INSTRUCTION_COUNTRY_EXCLUDED"],
    ),
    (
        "instructions exclude the category",
        "initech",
        "euhost",
        {"data_categories": ["user.financial"]},
        ["INSTRUCTION_CATEGORY_EXCLUDED"],
    ),
    (
        "category outside the sub-processor's",
        "acme",
        "jphost",
        {"data_categories": ["user.financial"]},
        ["CATEGORY_NOT_PERMITTED"],
    ),
    (
        "UK adequacy ends 27 Dec 2031",
        "acme",
        "gbhost",
        {"transfer_date": "2031-12-27"},
        ["ADEQUACY_NOT_IN_FORCE", "NO_TRANSFER_MECHANISM"],
    ),
]


@pytest.mark.parametrize(("label", "cid", "sid", "extra", "expected"), DENIED_CASES)
def test_denied_cases(
    world: World, label: str, cid: str, sid: str, extra: dict[str, object], expected: list[str]
) -> None:
    decision = world.check(cid, sid, **extra)
    assert decision.verdict == tpb.TRANSFER_VERDICT_DENIED, label
    assert codes(decision) == expected, label
    assert all(r.message for r in decision.reasons)
    assert not decision.legal_bases


def test_unknown_ids_are_not_found_in_both_checks(world: World) -> None:
    """A calling service with a typo hears it loudly, the same in both checks."""
    with pytest.raises(errors.NotFound, match="controllers/nobody"):
        world.check("nobody", "euhost")
    with pytest.raises(errors.NotFound, match="subprocessors/ghost"):
        world.check("acme", "ghost")
    with pytest.raises(errors.NotFound, match="controllers/nobody"):
        world.checker.check_processing(
            "nobody", purpose="essential.service", data_categories=EMAIL, operation="STORE"
        )


def test_terminated_dpa_gives_the_same_reason_in_both_checks(world: World) -> None:
    transfer = world.check("soylent", "euhost")
    processing = world.checker.check_processing(
        "soylent", purpose="essential.service", data_categories=EMAIL, operation="STORE"
    )
    assert codes(transfer) == ["DPA_TERMINATED"]
    assert [r.rule for r in processing.reasons] == ["AGREEMENT_TERMINATED"]
    assert transfer.reasons[0].message == processing.reasons[0].message
    assert "was terminated" in transfer.reasons[0].message


def test_whole_table_in_one_world(world: World) -> None:
    """Every table row again on one world: a decision is deterministic."""
    for label, cid, sid, bases in ALLOWED_CASES:
        first = world.check(cid, sid)
        again = world.check(cid, sid)
        assert first == again, (label, first, again)
        assert list(first.legal_bases) == bases, label
    for label, cid, sid, extra, expected in DENIED_CASES:
        assert codes(world.check(cid, sid, **extra)) == expected, label


def test_one_off_recipients(world: World) -> None:
    c = world.checker
    jp = c.check_transfer(
        "acme",
        recipient="Tokyo Partner KK",
        destination_country="JP",
        data_categories=EMAIL,
        purpose=USE,
    )
    assert list(jp.legal_bases) == ["adequacy: Japan, (EU) 2019/419"]
    derogation = c.check_transfer(
        "acme",
        recipient="Mumbai Court",
        destination_country="IN",
        data_categories=EMAIL,
        purpose=USE,
        derogation="LEGAL_CLAIMS",
    )
    assert codes(derogation) == ["DEROGATION_NOT_INSTRUCTED", "NO_TRANSFER_MECHANISM"]
    public = c.check_transfer(
        "acme",
        recipient="Ministry",
        destination_country="JP",
        data_categories=EMAIL,
        purpose=USE,
        recipient_sector="PUBLIC_BODY",
    )
    assert codes(public) == ["ADEQUACY_SCOPE_NOT_MET", "NO_TRANSFER_MECHANISM"]


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"recipient": "X", "destination_country": "XX"}, ["destination_country"]),
        ({"recipient": "X", "destination_country": "UK"}, ["destination_country"]),
        (
            {"subprocessor_id": "euhost", "data_categories": ["user.nonsense"]},
            ["data_categories[0]"],
        ),
        ({}, ["recipient", "destination_country"]),
        (
            {"subprocessor_id": "euhost", "recipient": "X", "destination_country": "JP"},
            ["recipient"],
        ),
        ({"subprocessor_id": "euhost", "purpose": "nonsense.use"}, ["purpose[0]"]),
        ({"subprocessor_id": "euhost", "transfer_date": "tomorrow"}, ["transfer_date"]),
    ],
)
def test_invalid_requests_name_the_field(
    registry: Harness, kwargs: dict[str, object], fields: list[str]
) -> None:
    kwargs.setdefault("data_categories", EMAIL)
    kwargs.setdefault("purpose", USE)
    with pytest.raises(errors.InvalidArgument) as info:
        registry.client("service", "checker").check_transfer("acme", **kwargs)  # type: ignore[arg-type]
    assert [v.field for v in info.value.violations] == fields


def test_controllers_and_auditors_may_not_check(registry: Harness) -> None:
    for role, name in (("controller", "acme"), ("auditor", "audit1")):
        with pytest.raises(errors.PermissionDenied):
            registry.client(role, name).check_transfer(
                "acme", subprocessor_id="x", data_categories=EMAIL, purpose=USE
            )


def test_an_answer_given_before_is_given_only_to_callers_allowed_to_check(world: World) -> None:
    """A request answered before is answered again from its bytes (a memo in
    front of the decoding), but only after the caller is identified and
    allowed: the same bytes from a controller or an auditor are refused."""
    first = world.check("acme", "euhost")
    again = world.check("acme", "euhost")
    assert again == first, (first, again)
    for role, name in (("controller", "acme"), ("auditor", "audit1")):
        with pytest.raises(errors.PermissionDenied):
            world.h.client(role, name).check_transfer(
                "acme",
                subprocessor_id="euhost",
                data_categories=EMAIL,
                purpose=USE,
                transfer_date=world.on,
            )


def test_a_remembered_answer_for_today_is_not_given_tomorrow(world: World) -> None:
    """A request without a date is decided for today: the same bytes the
    next day are decided for that day, not answered from the memo."""
    today = clock.now().date()
    asked = {"subprocessor_id": "euhost", "data_categories": EMAIL, "purpose": USE}
    first = world.checker.check_transfer("acme", **asked)  # type: ignore[arg-type]
    again = world.checker.check_transfer("acme", **asked)  # type: ignore[arg-type]
    assert again == first, (first, again)
    assert first.transfer_date == today.isoformat()
    clock.advance(DAY)
    later = world.checker.check_transfer("acme", **asked)  # type: ignore[arg-type]
    assert later.transfer_date == (today + DAY).isoformat()


def test_a_request_answered_before_a_write_waits_for_one_proof_after_it(world: World) -> None:
    """On PostgreSQL a check after a write reads the committed revision (to
    prove freshness, or, under the revision lease, to bring the snapshot up
    to the write). A request answered before the write and asked again after
    it makes one such read, not two: the memo's lookup decides it from the
    snapshot it has just proved fresh."""
    reads = revision.committed_reads()
    if reads is None:
        pytest.skip("only PostgreSQL counts its reads of the committed revision")
    first = world.check("acme", "euhost")
    world.staff.create_safeguard("intiaold", "in-scc-2", scc("IN"))
    before = reads.reads
    again = world.check("acme", "euhost")
    assert reads.reads - before == 1
    assert again.revision > first.revision
    assert list(again.legal_bases) == list(first.legal_bases)


# -- safeguards and reference data -----------------------------------------------------


def test_safeguard_crud(registry: Harness) -> None:
    staff = registry.staff
    factories.subprocessor(staff, "hostco", country="IN", locations=["IN"])
    created = staff.create_safeguard("hostco", "in-scc", scc("IN"))
    assert created.name == "subprocessors/hostco/safeguards/in-scc"
    assert created.tia.review_date == "2030-02-20"
    assert staff.get_safeguard("hostco", "in-scc") == created
    assert [s.name for s in staff.list_safeguards("hostco")] == [created.name]
    assert [s.name for s in registry.client("service", "checker").list_safeguards()] == [
        created.name
    ]
    edited = replace(created, tia=replace(created.tia, review_date="2031-01-01"))
    updated = staff.update_safeguard(edited, fields=["tia.review_date"])
    assert updated.tia.review_date == "2031-01-01"
    assert updated.etag != created.etag
    with pytest.raises(errors.Conflict):
        staff.update_safeguard(edited, fields=["tia.review_date"])
    with pytest.raises(errors.AlreadyExists):
        staff.create_safeguard("hostco", "in-scc", scc("IN"))
    with pytest.raises(errors.NotFound):
        staff.create_safeguard("nohost", "in-scc", scc("IN"))
    with pytest.raises(errors.NotFound):
        staff.get_safeguard("hostco", "nope")
    with pytest.raises(errors.PermissionDenied):
        registry.client("controller", "acme").get_safeguard("hostco", "in-scc")


@pytest.mark.parametrize(
    ("sg", "fields"),
    [
        (safeguard("DE", "BCR", instrument_reference="B"), ["safeguard.destination_country"]),
        (safeguard("XX", "BCR", instrument_reference="B"), ["safeguard.destination_country"]),
        (safeguard("IN", "ADEQUACY"), ["safeguard.mechanism"]),
        (safeguard("IN", "DEROGATION_ART49"), ["safeguard.mechanism"]),
        (safeguard("IN", "BCR"), ["safeguard.instrument_reference"]),
        (
            safeguard("IN", "SCC", scc_decision="2021/914"),
            ["safeguard.scc_module", "safeguard.signed_date"],
        ),
        (scc("IN", signed="1 March"), ["safeguard.signed_date"]),
        (scc("IN", tia_review="2020-01-01"), ["safeguard.tia.review_date"]),
    ],
)
def test_bad_safeguard_names_the_field(registry: Harness, sg: Safeguard, fields: list[str]) -> None:
    factories.subprocessor(registry.staff, "hostco", country="IN", locations=["IN"])
    with pytest.raises(errors.InvalidArgument) as info:
        registry.staff.create_safeguard("hostco", "bad", sg)
    assert [v.field for v in info.value.violations] == fields


def test_reference_data_and_recorded_changes(registry: Harness) -> None:
    ref = registry.client("controller", "acme").adequacy_reference()
    by_code = {d.code: d for d in ref.adequacy_decisions}
    assert "EE" in ref.eea_countries and len(ref.eea_countries) == 30
    assert by_code["GB"].valid_until_date == "2031-12-27"
    assert by_code["US"].scope == AdequacyScope.DPF_CERTIFIED_ONLY
    assert by_code["CA"].scope == AdequacyScope.COMMERCIAL_ORGANISATIONS
    assert by_code["BR"].adopted_date == "2026-01-26"
    assert by_code["XO-EPO"].kind == DestinationKind.INTERNATIONAL_ORGANISATION
    assert not any(d.changed_by_staff for d in ref.adequacy_decisions)

    staff = registry.staff
    suspended = staff.record_adequacy_change(
        "JP", "SUSPENDED", effective="2027-01-01", source="Commission Decision (EU) 2027/1"
    )
    assert suspended.status == AdequacyStatus.SUSPENDED
    assert suspended.status_since_date == "2027-01-01"
    assert staff.last_receipt is not None
    adopted = staff.record_adequacy_change(
        "IN",
        "ADOPTED",
        effective="2027-03-01",
        decision="(EU) 2027/99",
        destination_name="India",
        scope="FULL",
        source="OJ L 99, 1.3.2027",
    )
    assert adopted.status == AdequacyStatus.IN_FORCE
    after = {d.code: d for d in staff.adequacy_reference().adequacy_decisions}
    assert after["JP"].changed_by_staff and after["IN"].changed_by_staff
    checker = registry.client("service", "checker")
    factories.controller(staff, "acme")

    def one_off(country: str, on: str) -> tpb.TransferDecision:
        return checker.check_transfer(
            "acme",
            recipient="R",
            destination_country=country,
            data_categories=EMAIL,
            purpose=USE,
            transfer_date=on,
        )

    # acme has no DPA here: only the Chapter V reasons matter below.
    assert "ADEQUACY_NOT_IN_FORCE" in codes(one_off("JP", "2027-01-02"))
    assert "ADEQUACY_NOT_IN_FORCE" not in codes(one_off("JP", "2026-12-31"))
    assert "NO_TRANSFER_MECHANISM" in codes(one_off("IN", "2027-02-28"))
    assert "NO_TRANSFER_MECHANISM" not in codes(one_off("IN", "2027-03-01"))

    for code, kind, fields in (
        ("DE", "ADOPTED", ["change.code"]),
        ("IN", "SUSPENDED", ["change.source"]),
        ("ZZ", "SUSPENDED", ["change.code", "change.source"]),
    ):
        with pytest.raises(errors.InvalidArgument) as info:
            staff.record_adequacy_change(
                code,
                kind,
                effective="2027-01-01",
                decision="x",
                destination_name="x",
                source="" if kind == "SUSPENDED" else "s",
            )
        assert [v.field for v in info.value.violations] == fields, code
    with pytest.raises(errors.PermissionDenied):
        checker.record_adequacy_change("JP", "INVALIDATED", effective="2027-01-01", source="x")


# -- never stale, in this process ---------------------------------------------------------


def test_changes_are_seen_by_the_very_next_check(world: World) -> None:
    staff = world.staff
    # Authorisation: the SPECIFIC controller approves; the next check allows.
    pending = world.check("globex", "euhost")
    assert codes(pending) == ["AUTHORIZATION_PENDING"]
    notice = next(
        n for n in staff.list_change_notices() if n.subprocessor == "subprocessors/euhost"
    )
    globex = factories._controller_client(world.h, "globex")
    globex.approve_subprocessor_change(notice.name)
    allowed = world.check("globex", "euhost")
    assert allowed.verdict == tpb.TRANSFER_VERDICT_ALLOWED
    assert allowed.revision > pending.revision

    # Objection to a newly proposed sub-processor: OBJECTED at once.
    factories.subprocessor(staff, "newhost")
    new_notice = staff.propose_subprocessor_change(
        "ADDITION", "newhost", effective=clock.now() + 31 * DAY
    )
    assert codes(world.check("acme", "newhost")) == [
        "SUBPROCESSOR_PROPOSED",
        "AUTHORIZATION_PENDING",
    ]
    acme = factories._controller_client(world.h, "acme")
    acme.object_to_subprocessor_change(new_notice.name, reason="no")
    assert codes(world.check("acme", "newhost")) == [
        "SUBPROCESSOR_PROPOSED",
        "AUTHORIZATION_OBJECTED",
    ]

    # Safeguard change: the TIA review date passes; then fixed again.
    sg = staff.get_safeguard("usscc", "us-scc")
    sg = replace(sg, tia=replace(sg.tia, review_date=(world.on - DAY).isoformat()))
    sg = staff.update_safeguard(sg, fields=["tia.review_date"])
    assert codes(world.check("acme", "usscc")) == [
        "DPF_NOT_CERTIFIED",
        "TIA_REVIEW_OVERDUE",
        "NO_TRANSFER_MECHANISM",
    ]
    staff.update_safeguard(
        replace(sg, tia=replace(sg.tia, review_date="2030-02-20")), fields=["tia.review_date"]
    )
    assert world.check("acme", "usscc").verdict == tpb.TRANSFER_VERDICT_ALLOWED

    # Sub-processor change: a new location outside the EEA without safeguard.
    sp = replace(staff.get_subprocessor("euhost"), locations=("EE", "IN"))
    staff.update_subprocessor(sp, fields=["locations"])
    assert codes(world.check("acme", "euhost")) == ["NO_TRANSFER_MECHANISM"]

    # Reference data: Japan's decision suspended.
    staff.record_adequacy_change("JP", "SUSPENDED", effective=world.on, source="OJ L 1")
    assert codes(world.check("acme", "jphost")) == [
        "ADEQUACY_NOT_IN_FORCE",
        "NO_TRANSFER_MECHANISM",
    ]

    # The DPA ends: nothing more.
    staff.terminate_agreement("acme", reason="ended")
    assert codes(world.check("acme", "usdpf")) == ["DPA_TERMINATED"]


@pytest.mark.parametrize("load", ["quiet", "busy"])
def test_no_check_started_after_a_commit_sees_the_old_state(
    world: World, load: str, request: pytest.FixtureRequest
) -> None:
    """Checks run continuously while the TIA flips; every check that began
    after an update returned reflects that update (or a later one), also
    while other processes keep every core busy."""
    if load == "busy":
        request.getfixturevalue("busy_cores")
    staff = world.staff
    checker = world.h.client("service", "checker")
    results: list[tuple[float, float, bool]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            began = time.monotonic()
            d = checker.check_transfer(
                "acme",
                subprocessor_id="usscc",
                data_categories=EMAIL,
                purpose=USE,
                transfer_date=world.on,
            )
            ended = time.monotonic()
            results.append((began, ended, d.verdict == tpb.TRANSFER_VERDICT_ALLOWED))

    thread = threading.Thread(target=hammer)
    thread.start()
    # (sent, returned, state) of each update: it committed somewhere in between.
    commits: list[tuple[float, float, bool]] = []
    try:
        sg = staff.get_safeguard("usscc", "us-scc")
        for i in range(6):
            overdue = i % 2 == 0
            review = (world.on - DAY).isoformat() if overdue else "2030-02-20"
            edited = replace(sg, tia=replace(sg.tia, review_date=review))
            sent = time.monotonic()
            sg = staff.update_safeguard(edited, fields=["tia.review_date"])
            commits.append((sent, time.monotonic(), not overdue))
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert len(results) > 10
    for began, ended, allowed in results:
        # The newest update that had returned before the check began; or one
        # that may have committed while the check ran (sent before it ended,
        # not yet returned when it began): never anything older.
        before = [state for _, returned, state in commits if returned <= began]
        valid = {before[-1] if before else True}
        valid |= {state for sent, returned, state in commits if began < returned and sent < ended}
        assert allowed in valid, "stale answer"
