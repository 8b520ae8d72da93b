"""Technical and organisational measures: versioned records over the API on
each backend, the pure impact and expiry rules, notices of a lowering and the
annex of DPAs drafted after a change."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from dpa_client import errors, evidence, terms
from registry import clock
from registry.audit import store
from registry.measures.types import (
    AppliesTo,
    Category,
    Content,
    Evidence,
    EvidenceStatus,
    Impact,
    effective_impact,
)
from tests import factories
from tests.harness import Harness


def _iso(ev: date) -> Evidence:
    return Evidence(
        "ISO/IEC 27001 certificate", "Cert Body", "Platform", "C-1", date(2025, 1, 1), ev
    )


ENCRYPTION: dict[str, Any] = {
    "category": "PSEUDONYMISATION_ENCRYPTION",
    "title": "Encryption at rest",
    "description": "AES-256 on every volume; keys in an HSM",
}


def _cert(valid_until: str = "2030-01-01", reference: str = "ISO-123") -> Any:
    return evidence(
        "ISO/IEC 27001 certificate",
        "Cert Body",
        "Platform hosting",
        reference,
        "2025-01-01",
        valid_until,
    )


# -- pure rules ---------------------------------------------------------------


def test_a_narrower_scope_or_dropped_evidence_is_a_lowering_whatever_is_declared() -> None:
    wide = Content(
        Category.LOGGING,
        "Logs",
        "Central logs",
        AppliesTo(platform=True),
        (_iso(date(2030, 1, 1)),),
    )
    narrow = Content(Category.LOGGING, "Logs", "Central logs", AppliesTo(systems=("api",)))
    assert effective_impact(wide, wide, Impact.EQUIVALENT) is Impact.EQUIVALENT
    assert effective_impact(wide, narrow, Impact.STRENGTHENED) is Impact.LOWERED
    no_cert = Content(Category.LOGGING, "Logs", "Central logs", AppliesTo(platform=True))
    assert effective_impact(wide, no_cert, Impact.EQUIVALENT) is Impact.LOWERED
    assert effective_impact(no_cert, wide, Impact.STRENGTHENED) is Impact.STRENGTHENED


def test_evidence_status_warns_before_expiry() -> None:
    ev = _iso(date(2026, 3, 1))
    assert ev.status(date(2024, 12, 31)) is EvidenceStatus.NOT_YET_VALID
    assert ev.status(date(2026, 1, 1), warn_days=30) is EvidenceStatus.VALID
    assert ev.status(date(2026, 1, 31), warn_days=30) is EvidenceStatus.EXPIRING
    assert ev.status(date(2026, 3, 1), warn_days=30) is EvidenceStatus.EXPIRING
    assert ev.status(date(2026, 3, 2)) is EvidenceStatus.EXPIRED


# -- over the API ---------------------------------------------------------------


def test_staff_records_versions_everyone_reads_them(registry: Harness) -> None:
    staff = registry.staff
    created = staff.create_measure("enc-at-rest", evidence=[_cert()], **ENCRYPTION)
    assert (created.name, created.version, created.etag) == ("measures/enc-at-rest", 1, "v1")
    assert created.evidence[0].status == "VALID"
    updated = staff.update_measure(
        "enc-at-rest",
        impact="STRENGTHENED",
        reason="Keys rotate monthly now",
        etag=created.etag,
        evidence=[_cert()],
        **{**ENCRYPTION, "description": "AES-256; HSM keys rotated monthly"},
    )
    assert updated.version == 2 and updated.notified_controllers == 0
    acme = registry.client("controller", "acme")
    assert acme.get_measure("enc-at-rest").description.endswith("monthly")
    assert acme.get_measure("enc-at-rest", 1).description == ENCRYPTION["description"]
    assert [
        v.version for v in registry.client("auditor", "audit1").list_measure_versions("enc-at-rest")
    ] == [1, 2]
    actions = [
        e.action
        for e in store.AuditEvent.select().where(
            store.AuditEvent.resource == "measures/enc-at-rest"
        )
    ]
    assert actions == ["measure.create", "measure.update"]
    with pytest.raises(errors.Conflict):
        staff.update_measure(
            "enc-at-rest", impact="EQUIVALENT", reason="x", etag="v1", **ENCRYPTION
        )
    with pytest.raises(errors.PermissionDenied):
        acme.create_measure("mine", **ENCRYPTION)
    with pytest.raises(errors.NotFound):
        acme.get_measure("nope")


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("measure.category", {"category": "UNSPECIFIED"}),
        ("measure.title", {"title": " "}),
        ("measure.applies_to", {"platform": False}),
        ("measure.applies_to.subprocessors[0]", {"subprocessors": ["ghost"]}),
        ("measure.evidence[0].valid_until", {"evidence": [_cert(valid_until="2030-13-01")]}),
        ("measure.evidence[0].valid_until", {"evidence": [_cert(valid_until="2024-01-01")]}),
        ("measure.measure_id", {"measure_id": "Bad_Id"}),
    ],
)
def test_bad_input_names_the_field(registry: Harness, field: str, change: dict[str, Any]) -> None:
    fields = {"measure_id": "m1", **ENCRYPTION, **change}
    measure_id = fields.pop("measure_id")
    with pytest.raises(errors.InvalidArgument) as caught:
        registry.staff.create_measure(measure_id, **fields)
    assert field in {v.field for v in caught.value.violations}


def test_update_needs_an_impact_and_a_reason(registry: Harness) -> None:
    registry.staff.create_measure("m1", **ENCRYPTION)
    with pytest.raises(errors.InvalidArgument) as caught:
        registry.staff.update_measure("m1", impact="UNSPECIFIED", reason="r", **ENCRYPTION)
    assert caught.value.violations[0].field == "impact"
    with pytest.raises(errors.InvalidArgument) as caught:
        registry.staff.update_measure("m1", impact="EQUIVALENT", reason="", **ENCRYPTION)
    assert caught.value.violations[0].field == "reason"
    with pytest.raises(errors.InvalidArgument) as caught:
        registry.staff.update_measure(
            "m1", impact="LOWERED", reason="r", notice_days=-1, **ENCRYPTION
        )
    assert caught.value.violations[0].field == "notice_days"


def test_a_lowered_or_removed_measure_reaches_every_controller_with_an_active_dpa(
    registry: Harness,
) -> None:
    staff = registry.staff
    for cid in ("acme", "globex", "initech"):
        factories.controller(staff, cid)
    factories.dpa_terms_direct("acme")
    factories.dpa_terms_direct("globex")  # initech has no DPA: not told
    staff.create_measure("enc-at-rest", evidence=[_cert()], **ENCRYPTION)
    same = staff.update_measure(
        "enc-at-rest", impact="EQUIVALENT", reason="Wording", evidence=[_cert()], **ENCRYPTION
    )
    assert same.notified_controllers == 0 and same.notice_days == 0
    # Declared EQUIVALENT, but the certificate is gone: a lowering.
    lowered = staff.update_measure(
        "enc-at-rest",
        impact="EQUIVALENT",
        reason="Certificate not renewed",
        notice_days=45,
        **ENCRYPTION,
    )
    assert lowered.impact == "LOWERED"
    assert (lowered.notified_controllers, lowered.notice_days) == (2, 45)
    assert lowered.effective_time - lowered.change_time == timedelta(days=45)
    for cid in ("acme", "globex"):
        inbox = list(registry.client("controller", cid).list_notifications(cid))
        assert len(inbox) == 1
        assert inbox[0].payload["notice_days"] == 45
        assert "lowered" in inbox[0].title and inbox[0].resource.endswith("/versions/3")
    assert list(staff.list_notifications("initech")) == []
    retired = staff.retire_measure("enc-at-rest", reason="Replaced by a managed service")
    assert retired.retired and retired.notified_controllers == 2 and retired.notice_days == 30
    assert [m.measure_id for m in staff.list_measures()] == []
    assert [m.measure_id for m in staff.list_measures(include_retired=True)] == ["enc-at-rest"]
    with pytest.raises(errors.FailedPrecondition):  # it still exists, retired
        staff.retire_measure("enc-at-rest", reason="again")


def test_expiring_evidence_is_visible_before_it_expires(registry: Harness) -> None:
    soon = (clock.now().date() + timedelta(days=10)).isoformat()
    registry.staff.create_measure("enc", evidence=[_cert(valid_until=soon)], **ENCRYPTION)
    registry.staff.create_measure(
        "logs", evidence=[_cert()], **{**ENCRYPTION, "category": "LOGGING"}
    )
    shown = registry.staff.list_measures(expiring_only=True)
    [enc] = list(shown)
    assert enc.measure_id == "enc"
    assert enc.evidence[0].status == "EXPIRING" and enc.evidence[0].days_left == 10
    assert enc.expiry_warning_days == 30


def test_a_dpa_drafted_after_a_change_carries_the_current_measures(registry: Harness) -> None:
    staff = registry.staff
    staff.create_measure("enc-at-rest", evidence=[_cert()], **ENCRYPTION)
    staff.update_measure(
        "enc-at-rest",
        impact="STRENGTHENED",
        reason="HSM",
        evidence=[_cert()],
        **{**ENCRYPTION, "description": "AES-256 with HSM keys"},
    )
    factories.controller(staff, "acme")
    registry.client("controller", "acme").request_agreement("acme", terms())
    drafted = staff.draft_agreement("acme", 1)
    annex = json.loads(drafted.document)["annex_iii_measures"]
    assert [(m["id"], m["version"], m["description"]) for m in annex] == [
        ("enc-at-rest", 2, "AES-256 with HSM keys")
    ]
    assert annex[0]["evidence"][0]["reference"] == "ISO-123"
    assert "Encryption at rest" in staff.render_agreement("acme", 1)
