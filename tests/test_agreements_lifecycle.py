"""DPA lifecycle, amendments, termination, validation, signatures and
instruction history, through the client library on a real mTLS server."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from dpa_client import documents, errors, terms
from dpa_client.types import AgreementState, EndOfContract
from dpa_registry_api.v1 import agreements_pb2 as pb
from registry import keys
from registry.audit import store
from tests import factories
from tests.harness import Harness


def _pinned() -> list[str]:
    return [keys.active().vkey]


def _unchanged(h: Harness, call: Callable[[], Any], error: type[Exception]) -> None:
    """The call fails with ``error`` and leaves the audit log (so: state) untouched."""
    before = store.size()
    with pytest.raises(error):
        call()
    assert store.size() == before


def test_illegal_transitions_change_nothing(registry: Harness) -> None:
    staff = registry.staff
    factories.controller(staff, "acme")
    acme = registry.client("controller", "acme")
    acme.request_agreement("acme")
    fp = errors.FailedPrecondition
    _unchanged(registry, lambda: staff.sign_agreement("acme", 1), fp)
    _unchanged(registry, lambda: acme.terminate_agreement("acme", 1), fp)
    _unchanged(registry, lambda: staff.confirm_data_disposition("acme", 1, "done"), fp)
    _unchanged(registry, lambda: staff.render_agreement("acme", 1), fp)
    _unchanged(registry, lambda: acme.request_agreement("acme"), fp)  # one pending at a time
    drafted = staff.draft_agreement("acme", 1)
    _unchanged(registry, lambda: staff.draft_agreement("acme", 1), fp)
    _unchanged(registry, lambda: acme.countersign_agreement("acme", 1), fp)
    _unchanged(
        registry,
        lambda: staff.sign_agreement("acme", 1, document_digest="sha256:" + "0" * 64),
        fp,
    )
    _unchanged(registry, lambda: staff.sign_agreement("acme", 1, etag="r1"), errors.Conflict)
    staff.sign_agreement("acme", 1, etag=drafted.etag)
    _unchanged(registry, lambda: staff.sign_agreement("acme", 1), fp)
    _unchanged(registry, lambda: factories.instruction(registry, "acme"), fp)  # not ACTIVE yet
    acme.countersign_agreement("acme", 1)
    _unchanged(registry, lambda: acme.countersign_agreement("acme", 1), fp)
    got = acme.get_agreement("acme", 1)
    assert got.state == AgreementState.ACTIVE
    assert got.document == drafted.document


def test_request_is_idempotent_and_validated(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    acme = registry.client("controller", "acme")
    with pytest.raises(errors.InvalidArgument) as err:
        acme.request_agreement(
            "acme",
            terms(
                purposes=["essential.service", "no.such.use"],
                data_categories=["user.bogus"],
                data_subjects=["martian"],
                notice_days=2,
                objection_days=400,
                breach_notification_hours=96,
                retention_days=0,
                measures=["tom-unknown"],
            ),
        )
    fields = {v.field for v in err.value.violations}
    assert fields == {
        "terms.purposes[1]",
        "terms.data_categories[0]",
        "terms.data_subjects[0]",
        "terms.notice_days",
        "terms.objection_days",
        "terms.breach_notification_hours",
        "terms.retention_days",
        "terms.measures[0]",
    }
    first = acme.request_agreement("acme", request_id="req-1")
    again = acme.request_agreement("acme", request_id="req-1")
    assert first == again
    assert [a.version for a in acme.list_agreements("acme")] == [1]
    with pytest.raises(errors.NotFound):
        registry.staff.request_agreement("nobody")


def test_document_content_follows_the_annexes(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    acme = registry.client("controller", "acme")
    acme.request_agreement(
        "acme",
        terms(
            data_categories=["user.contact", "user.health_and_medical"],
            end_of_contract="RETURN",
            measures=["tom-pseudonymisation"],
        ),
    )
    drafted = registry.staff.draft_agreement("acme", 1, adjust=terms(breach_notification_hours=24))
    content = json.loads(drafted.document)
    assert documents.digest(drafted.document) == drafted.document_digest
    assert content["annex_i_parties"]["controller"]["legal_name"] == "Acme AS"
    assert content["annex_i_parties"]["processor"]["country"] == "EE"
    ii = content["annex_ii_processing"]
    assert ii["special_categories"] is True
    assert {"key": "user.health_and_medical", "special_category": True} in ii["data_categories"]
    assert "tom-pseudonymisation" in {m["id"] for m in content["annex_iii_measures"]}
    assert isinstance(content["annex_iv_subprocessors"], list)
    assert content["end_of_contract"] == "RETURN"
    assert content["breach_notification_hours"] == 24
    assert content["governing_law"] == "EE"
    assert "Andmekaitse" in content["supervisory_authority"]
    assert drafted.terms.breach_notification_hours == 24
    markdown = registry.staff.render_agreement("acme", 1)
    assert "Annex IV" in markdown and drafted.document_digest in markdown


def test_amendment_creates_a_new_version_and_keeps_the_old(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    acme = registry.client("controller", "acme")
    v1 = acme.get_agreement("acme", 1)
    factories.instruction(registry, "acme")
    acme.request_agreement("acme", terms(notice_days=60))
    assert acme.get_agreement("acme", 1).state == AgreementState.ACTIVE
    drafted = registry.staff.draft_agreement("acme", 2)
    assert json.loads(drafted.document)["supersedes"] == {
        "agreement": "controllers/acme/agreements/1",
        "digest": v1.document_digest,
    }
    registry.staff.sign_agreement("acme", 2)
    acme.countersign_agreement("acme", 2)
    old = acme.get_agreement("acme", 1)
    assert old.state == AgreementState.SUPERSEDED
    assert old.document == v1.document
    acme.verify_agreement("acme", 1, pinned_processor_keys=_pinned(), ca=registry.pki.ca_cert)
    acme.verify_agreement("acme", 2, pinned_processor_keys=_pinned(), ca=registry.pki.ca_cert)
    assert [a.version for a in acme.list_agreements("acme")] == [2, 1]
    assert [a.version for a in acme.list_agreements("acme", page_size=1)] == [2, 1]
    assert acme.get_agreement("acme").version == 2
    from registry.agreements.terms import active_terms

    assert active_terms(["acme"])["acme"].notice_days == 60
    # The instruction carries over to the amended DPA.
    decision = registry.client("service", "checker").check_processing(
        "acme", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
    )
    assert decision.outcome == pb.PROCESSING_OUTCOME_ALLOWED
    assert decision.agreement == "controllers/acme/agreements/2"


def test_termination_denies_every_check(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    factories.instruction(registry, "acme")
    checker = registry.client("service", "checker")
    acme = registry.client("controller", "acme")

    def check() -> pb.ProcessingDecision:
        return checker.check_processing(
            "acme", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
        )

    assert check().outcome == pb.PROCESSING_OUTCOME_ALLOWED
    ended = acme.terminate_agreement("acme", 1, disposition="RETURN", reason="contract ended")
    assert ended.state == AgreementState.TERMINATED
    assert ended.termination.disposition == EndOfContract.RETURN
    assert ended.termination.terminated_by == "spiffe://7plus.one/controller/acme"
    decision = check()
    assert decision.outcome == pb.PROCESSING_OUTCOME_DENIED
    assert [r.rule for r in decision.reasons] == ["AGREEMENT_TERMINATED"]
    with pytest.raises(errors.FailedPrecondition):
        factories.instruction(registry, "acme")
    confirmed = registry.staff.confirm_data_disposition("acme", 1, "returned as export #7")
    assert confirmed.termination.confirmation == "returned as export #7"
    assert confirmed.termination.confirmed_by == "spiffe://7plus.one/staff/admin"
    with pytest.raises(errors.FailedPrecondition):
        registry.staff.confirm_data_disposition("acme", 1, "again")
    with pytest.raises(errors.NotFound):
        checker.check_processing(
            "globex",
            purpose="essential.service",
            data_categories=["user.contact"],
            operation="STORE",
        )
    factories.controller(registry.staff, "globex")
    none = checker.check_processing(
        "globex", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
    )
    assert [r.rule for r in none.reasons] == ["NO_AGREEMENT"]


def test_staff_terminates_with_the_dpa_default(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    ended = registry.staff.terminate_agreement("acme", 1)
    assert ended.termination.disposition == EndOfContract.DELETE


def test_offline_verification_rejects_tampering_and_wrong_signers(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    factories.active_dpa(registry, "globex")
    acme = registry.client("controller", "acme")
    good = acme.get_agreement("acme", 1)
    ca = registry.pki.ca_cert.read_bytes()
    documents.verify_downloaded(good, pinned_processor_keys=_pinned(), ca_pem=ca)

    tampered = replace(
        good, document=good.document.replace(b'"notice_days":30', b'"notice_days":90')
    )
    assert tampered.document != good.document
    with pytest.raises(errors.BadSignature):
        documents.verify_downloaded(tampered, pinned_processor_keys=_pinned(), ca_pem=ca)

    not_canonical = replace(good, document=good.document + b" ")
    with pytest.raises(errors.VerificationError):
        documents.verify_downloaded(not_canonical, pinned_processor_keys=_pinned(), ca_pem=ca)

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from registry.keys import from_private

    other = from_private("7plus.one/dpa-registry", Ed25519PrivateKey.generate())
    with pytest.raises(errors.BadSignature):
        documents.verify_downloaded(good, pinned_processor_keys=[other.vkey], ca_pem=ca)
    assert good.processor_signature is not None
    forged = replace(
        good,
        processor_signature=replace(
            good.processor_signature, key=other.vkey, signature=other.sign(good.document)
        ),
    )
    with pytest.raises(errors.BadSignature):
        documents.verify_downloaded(forged, pinned_processor_keys=_pinned(), ca_pem=ca)

    # Countersigned by the wrong identity: globex's certificate and signature.
    globex_doc = registry.client("controller", "globex").get_agreement("globex", 1)
    wrong = replace(good, controller_signature=globex_doc.controller_signature)
    with pytest.raises(errors.BadSignature):
        documents.verify_downloaded(wrong, pinned_processor_keys=_pinned(), ca_pem=ca)
    # Asked about the wrong controller.
    with pytest.raises(errors.VerificationError):
        documents.verify_downloaded(
            good, pinned_processor_keys=_pinned(), ca_pem=ca, controller_id="globex"
        )
    # A certificate from another CA.
    with pytest.raises(errors.BadSignature):
        documents.verify_downloaded(
            good,
            pinned_processor_keys=_pinned(),
            ca_pem=registry.pki.server_cert.read_bytes(),
        )


def test_countersignature_must_be_by_the_callers_certificate(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    acme = registry.client("controller", "acme")
    acme.request_agreement("acme")
    registry.staff.draft_agreement("acme", 1)
    registry.staff.sign_agreement("acme", 1)
    globex_key = registry.pki.client("controller", "globex")[1]
    before = store.size()
    with pytest.raises(errors.InvalidArgument) as err:
        acme.countersign_agreement("acme", 1, key=globex_key)
    assert err.value.violations[0].field == "signature"
    assert store.size() == before
    assert acme.get_agreement("acme", 1).state == AgreementState.SIGNED_BY_PROCESSOR
    with pytest.raises(errors.BadSignature):
        acme.countersign_agreement("acme", 1, pinned_processor_keys=["x+00000000+AAAA"])
    acme.countersign_agreement("acme", 1, pinned_processor_keys=_pinned())


def test_instruction_history_validation_and_flags(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    acme = registry.client("controller", "acme")
    checker = registry.client("service", "checker")
    with pytest.raises(errors.InvalidArgument) as err:
        acme.issue_instruction(
            "acme",
            purposes=["marketing.advertising", "nope"],
            data_categories=["user.financial"],
            data_subjects=[],
            operations=["TRAIN_MODEL"],
            countries=["XX", "EE"],
            retention_days=5000,
        )
    assert {v.field for v in err.value.violations} == {
        "instruction.purposes[0]",
        "instruction.purposes[1]",
        "instruction.data_categories[0]",
        "instruction.data_subjects",
        "instruction.operations[0]",
        "instruction.countries[0]",
        "instruction.retention_days",
    }
    first = factories.instruction(registry, "acme")
    second = factories.instruction(registry, "acme", countries=["EE"], operations=["STORE"])
    history = list(acme.list_instructions("acme"))
    assert [(i.version, i.current) for i in history] == [(2, True), (1, False)]
    assert all(i.issued_by == "spiffe://7plus.one/controller/acme" for i in history)
    assert history[1] == acme.get_instruction("acme", 1)
    assert acme.get_instruction("acme", 1).countries == first.countries
    assert acme.get_instruction("acme").version == second.version

    flagged = registry.staff.flag_instruction("acme", 2, "storage in a country without safeguards")
    assert flagged.flag.flagged and flagged.flag.flagged_by == "spiffe://7plus.one/staff/admin"
    seen = acme.get_instruction("acme", 2)
    assert seen.flag.flagged and seen.flag.reason.startswith("storage")
    notice = next(acme.list_notifications("acme", unacknowledged_only=True))
    assert notice.resource == "controllers/acme/instructions/2"
    assert "storage in a country without safeguards" in notice.body
    assert list(registry.client("controller", "globex").list_notifications("globex")) == []
    with pytest.raises(errors.FailedPrecondition):
        registry.staff.flag_instruction("acme", 2, "again")
    action = store.AuditEvent.select().order_by(store.AuditEvent.seq.desc()).first()
    assert action.action == "instruction.flag" and action.tenant == "acme"
    decision = checker.check_processing(
        "acme", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
    )
    assert [r.rule for r in decision.reasons if not r.satisfied] == ["INSTRUCTION_NOT_FLAGGED"]
    assert all(r.instruction_version == 2 for r in decision.reasons if r.instruction_version)
    factories.instruction(registry, "acme")
    again = checker.check_processing(
        "acme", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
    )
    assert again.outcome == pb.PROCESSING_OUTCOME_ALLOWED


def test_check_processing_validates_its_request(registry: Harness) -> None:
    checker = registry.client("service", "checker")
    with pytest.raises(errors.InvalidArgument) as err:
        checker._call(
            checker._instructions.CheckProcessing,
            pb.CheckProcessingRequest(
                controller="acme",
                purpose="bogus",
                data_categories=["user.nope"],
                country="ZZ",
            ),
            idempotent=True,
        )
    assert {v.field for v in err.value.violations} == {
        "purpose",
        "data_categories[0]",
        "operation",
        "country",
    }
    factories.controller(registry.staff, "acme")
    staff_view = registry.staff.check_processing(
        "acme", purpose="essential.service", data_categories=["user"], operation="STORE"
    )
    assert staff_view.outcome == pb.PROCESSING_OUTCOME_DENIED


def test_tenant_isolation_on_staff_actions_and_lists(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    factories.instruction(registry, "acme")
    globex = factories._controller_client(registry, "globex")
    factories.controller(registry.staff, "globex")
    with pytest.raises(errors.NotFound):
        list(globex.list_agreements("acme"))
    with pytest.raises(errors.NotFound):
        list(globex.list_instructions("acme"))
    assert list(globex.list_agreements("globex")) == []
    service = registry.client("service", "checker")
    assert service.get_agreement("acme", 1).state == AgreementState.ACTIVE
