"""DPAs end to end through the client library: request, draft, sign,
countersign, offline verification, instructions, CheckProcessing."""

from __future__ import annotations

import pytest

from dpa_client import documents, errors, terms
from dpa_client.types import AgreementState
from dpa_registry_api.v1 import agreements_pb2 as pb
from registry import keys
from tests import factories
from tests.harness import Harness


def _pinned() -> list[str]:
    return [keys.active().vkey]


def _rules(decision: pb.ProcessingDecision, satisfied: bool = False) -> list[str]:
    return [r.rule for r in decision.reasons if r.satisfied is satisfied]


def test_new_user_story(registry: Harness) -> None:
    """The issue's "done when": request, draft, sign, countersign, verify offline,
    instruct, check (AI training denied by default), another tenant sees nothing."""
    staff = registry.staff
    factories.controller(staff, "acme")
    factories.controller(staff, "globex")
    acme = registry.client("controller", "acme")
    globex = registry.client("controller", "globex")
    checker = registry.client("service", "checker")

    requested = acme.request_agreement(
        "acme",
        terms(
            purposes=["essential.service", "train_ai_system"],
            data_categories=["user.contact", "user.account"],
            nature=["STORE", "ANALYZE", "TRAIN_MODEL"],
            notice_days=30,
            objection_days=15,
            breach_notification_hours=24,
        ),
    )
    assert requested.name == "controllers/acme/agreements/1"
    assert requested.state == AgreementState.REQUESTED
    assert requested.terms.objection_days == 15
    assert requested.terms.retention_days == 365  # template default

    drafted = staff.draft_agreement("acme", 1)
    assert drafted.state == AgreementState.DRAFTED
    assert drafted.document and drafted.document_digest == documents.digest(drafted.document)
    signed = staff.sign_agreement("acme", 1, document_digest=drafted.document_digest)
    assert signed.state == AgreementState.SIGNED_BY_PROCESSOR
    active = acme.countersign_agreement("acme", 1, pinned_processor_keys=_pinned())
    assert active.state == AgreementState.ACTIVE
    assert active.controller_signature.signed_by == "spiffe://7plus.one/controller/acme"
    assert "BEGIN CERTIFICATE" in active.controller_signature.certificate

    verified = acme.verify_agreement(
        "acme", 1, pinned_processor_keys=_pinned(), ca=registry.pki.ca_cert
    )
    assert verified.controller_identity == "spiffe://7plus.one/controller/acme"
    assert verified.content["subprocessor_authorisation"] == {
        "mode": "GENERAL",
        "notice_days": 30,
        "objection_days": 15,
    }
    assert verified.content["breach_notification_hours"] == 24
    assert "# Data Processing Agreement" in acme.render_agreement("acme", 1)

    # No instruction yet: nothing is allowed.
    d = checker.check_processing(
        "acme", purpose="essential.service", data_categories=["user.contact"], operation="STORE"
    )
    assert d.outcome == pb.PROCESSING_OUTCOME_DENIED
    assert _rules(d) == ["INSTRUCTION_ISSUED"]

    issued = acme.issue_instruction(
        "acme",
        purposes=["essential.service"],
        data_categories=["user.contact"],
        data_subjects=["customer"],
        operations=["STORE", "ANALYZE"],
        countries=["EE", "DE"],
        retention_days=90,
    )
    assert issued.name == "controllers/acme/instructions/1"
    assert issued.issued_by == "spiffe://7plus.one/controller/acme"
    assert issued.current

    ok = checker.check_processing(
        "acme",
        purpose="essential.service",
        data_categories=["user.contact.email"],
        operation="STORE",
        country="EE",
    )
    assert ok.outcome == pb.PROCESSING_OUTCOME_ALLOWED, ok
    assert ok.instruction == "controllers/acme/instructions/1"
    assert ok.revision > 0
    assert all(r.satisfied for r in ok.reasons)

    # The reverse of the hierarchy is not covered; AI training denied by default.
    denied = checker.check_processing(
        "acme", purpose="train_ai_system", data_categories=["user"], operation="TRAIN_MODEL"
    )
    assert denied.outcome == pb.PROCESSING_OUTCOME_DENIED
    assert "AI_TRAINING_EXPLICIT" in _rules(denied)
    assert "CATEGORY_INSTRUCTED" in _rules(denied)
    assert all(r.instruction_version == 1 for r in denied.reasons if r.rule.endswith("INSTRUCTED"))

    # An explicit instruction allows it.
    acme.issue_instruction(
        "acme",
        purposes=["essential.service", "train_ai_system"],
        data_categories=["user.contact"],
        data_subjects=["customer"],
        operations=["STORE", "TRAIN_MODEL"],
        countries=["EE"],
        retention_days=90,
    )
    trained = checker.check_processing(
        "acme",
        purpose="train_ai_system",
        data_categories=["user.contact.email"],
        operation="TRAIN_MODEL",
    )
    assert trained.outcome == pb.PROCESSING_OUTCOME_ALLOWED, trained
    assert trained.instruction == "controllers/acme/instructions/2"

    # Another controller sees none of it.
    for call in (
        lambda: globex.get_agreement("acme", 1),
        lambda: globex.get_agreement("acme"),
        lambda: list(globex.list_agreements("acme")),
        lambda: globex.render_agreement("acme", 1),
        lambda: globex.get_instruction("acme", 1),
        lambda: globex.get_instruction("acme"),
        lambda: list(globex.list_instructions("acme")),
        lambda: globex.request_agreement("acme"),
        lambda: globex.terminate_agreement("acme", 1),
        lambda: globex.countersign_agreement(
            "acme", 1, key=registry.pki.client("controller", "globex")[1]
        ),
        lambda: globex.issue_instruction(
            "acme",
            purposes=["essential.service"],
            data_categories=["user.contact"],
            data_subjects=["customer"],
            operations=["STORE"],
            countries=["EE"],
            retention_days=30,
        ),
    ):
        with pytest.raises(errors.NotFound):
            call()
    assert [i.version for i in acme.list_instructions("acme")] == [2, 1]


def test_active_dpa_factory_and_terms(registry: Harness) -> None:
    from registry.agreements.terms import AuthorizationMode, active_terms

    factories.active_dpa(registry, "acme", mode="SPECIFIC", notice_days=15, objection_days=5)
    factories.active_dpa(registry, "newco", breach_hours=72)
    found = active_terms()
    assert set(found) == {"acme", "newco"}
    assert found["acme"].authorization_mode is AuthorizationMode.SPECIFIC
    assert (found["acme"].notice_days, found["acme"].objection_days) == (15, 5)
    assert found["acme"].agreement == "controllers/acme/agreements/1"
    assert found["newco"].breach_notification_hours == 72
    assert set(active_terms(["acme", "nobody"])) == {"acme"}
    assert active_terms([]) == {}
