"""The Art. 30(2) record over the API on each backend: what it holds, who may
see which, the revision it reflects, every line traced to audit entries, and
the CSV rendering."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from typing import Any

import pytest

from dpa_client import contact, errors, safeguard
from registry.audit import store
from tests import factories
from tests.harness import Harness


def _scenario(h: Harness) -> None:
    """acme: a full DPA and instructions; globex: an ACTIVE DPA; a hosting
    sub-processor in India with SCCs, engaged platform-wide; one measure."""
    factories.active_dpa(h, "acme")
    factories.instruction(h, "acme")
    factories.controller(h.staff, "globex")
    factories.dpa_terms_direct("globex")
    factories.engaged_subprocessor_direct(h, "hostco")
    h.staff.create_safeguard(
        "hostco",
        "in-scc",
        safeguard(
            "IN",
            "SCC",
            scc_decision="2021/914",
            scc_module=3,
            signed="2024-03-01",
            tia_reference="TIA-1",
            tia_date="2024-02-20",
            tia_review="2030-02-20",
        ),
    )
    h.staff.create_measure(
        "enc-at-rest",
        category="PSEUDONYMISATION_ENCRYPTION",
        title="Encryption at rest",
        description="AES-256 on every volume",
    )


def _json(h: Harness, who: Any, controller_id: str = "", **kw: Any) -> dict[str, Any]:
    got = who.processing_record(controller_id, **kw)
    assert got.digest == "sha256:" + hashlib.sha256(got.content).hexdigest()
    assert got.media_type == "application/json; charset=utf-8"
    body: dict[str, Any] = json.loads(got.content)
    assert body["revision"] == got.revision
    return body


def _resources(seqs: list[int]) -> set[str]:
    rows = store.AuditEvent.select(store.AuditEvent.resource).where(store.AuditEvent.seq.in_(seqs))
    return {r.resource for r in rows}


def test_the_processor_record_comes_from_live_data_and_names_its_entries(
    registry: Harness,
) -> None:
    _scenario(registry)
    record = _json(registry, registry.staff)
    assert record["type"] == "dpa-registry/art30-2-record/v1"
    assert record["scope"] == "processor"
    assert record["revision"] == store.size()
    assert record["processor"]["legal_name"] == "7plus.one"
    acme, globex = record["controllers"]
    assert (acme["controller_id"], globex["controller_id"]) == ("acme", "globex")
    assert acme["dpo_email"] == "dpo@acme.example"
    assert _resources(acme["sources"]) == {"controllers/acme"}
    [processing] = acme["processing"]
    assert processing["purposes"] == ["essential.service"]
    assert set(processing["operations"]) == {"ANALYZE", "STORE"}
    assert _resources(processing["sources"]) == {processing["instruction"]}
    assert globex["processing"] == []  # no instructions issued
    [hostco] = acme["subprocessors"]
    assert hostco["state"] == "AUTHORIZED" and _resources(hostco["sources"]) == {
        "subprocessors/hostco"
    }
    [transfer] = acme["transfers"]
    assert transfer["destination_country"] == "IN" and transfer["scc_module"] == 3
    assert transfer["art49_derogation"] is False
    assert _resources(transfer["sources"]) == {"subprocessors/hostco/safeguards/in-scc"}
    [measure] = record["measures"]
    assert measure["measure"] == "measures/enc-at-rest" and measure["version"] == 1
    assert _resources(measure["sources"]) == {"measures/enc-at-rest"}
    every = [s for c in record["controllers"] for s in c["sources"]]
    assert all(s < record["revision"] for s in every)
    assert (
        _json(registry, registry.client("auditor", "audit1"))["controllers"]
        == record["controllers"]
    )


def test_a_controller_gets_only_its_own_record(registry: Harness) -> None:
    _scenario(registry)
    acme = registry.client("controller", "acme")
    own = _json(registry, acme, "acme")
    assert own["scope"] == "controllers/acme"
    assert [c["controller_id"] for c in own["controllers"]] == ["acme"]
    assert own["measures"][0]["title"] == "Encryption at rest"
    with pytest.raises(errors.NotFound) as caught:
        acme.processing_record("globex")
    assert "globex" in str(caught.value) and "Globex" not in str(caught.value)
    with pytest.raises(errors.NotFound):
        registry.staff.processing_record("nobody")
    assert _json(registry, acme)["controllers"] == own["controllers"]  # "" is its own
    with pytest.raises(errors.PermissionDenied):
        registry.client("service", "checker").processing_record("acme")


def _raw(h: Harness, controller_id: str = "", **kw: Any) -> tuple[bytes, str]:
    got = h.staff.processing_record(controller_id, **kw)
    return got.content, got.digest


def test_as_of_a_revision_is_rebuilt_byte_for_byte(registry: Harness) -> None:
    _scenario(registry)
    r1 = store.size()
    at_r1 = {
        (cid, fmt): _raw(registry, cid, format=fmt)
        for cid in ("", "acme")
        for fmt in ("JSON", "CSV", "HTML")
    }
    # Later writes change every kind of line: a controller's DPO, its
    # instructions, a sub-processor's details, a safeguard, a measure, a new
    # controller; and one that concerns no line (an adequacy change).
    registry.staff.update_controller("acme", dpo_email="dpo2@acme.example")
    factories.instruction(registry, "acme", retention_days=90)
    sp = registry.staff.get_subprocessor("hostco")
    registry.staff.update_subprocessor(
        replace(sp, purpose="Hosting and backups"), fields=["purpose"]
    )
    sg = registry.staff.get_safeguard("hostco", "in-scc")
    registry.staff.update_safeguard(replace(sg, review_date="2031-01-01"), fields=["review_date"])
    registry.staff.update_measure(
        "enc-at-rest",
        impact="LOWERED",
        reason="Provider-managed keys",
        category="PSEUDONYMISATION_ENCRYPTION",
        title="Encryption at rest",
        description="AES-256 with provider-managed keys",
    )
    registry.staff.record_adequacy_change(
        "JP", "SUSPENDED", effective="2027-01-01", source="OJ L 1, 1.1.2027"
    )
    factories.controller(registry.staff, "initech")
    registry.staff.update_processor_details(
        dpo=contact("Data Protection Office", "dpo@7plus.one", phone="+372 600 0000")
    )
    assert store.size() > r1
    for (cid, fmt), (content, digest) in at_r1.items():
        assert _raw(registry, cid, format=fmt, revision=r1) == (content, digest), (cid, fmt)
    now = _json(registry, registry.staff)
    acme = now["controllers"][0]
    assert acme["dpo_email"] == "dpo2@acme.example"
    assert acme["processing"][0]["retention_days"] == 90
    assert acme["subprocessors"][0]["purpose"] == "Hosting and backups"
    assert acme["transfers"][0]["review_date"] == "2031-01-01"
    assert now["measures"][0]["version"] == 2
    assert [c["controller_id"] for c in now["controllers"]] == ["acme", "globex", "initech"]
    assert now["processor"]["dpo"]["email"] == "dpo@7plus.one"
    # Every revision in between is rebuilt too, each naming itself.
    for revision in range(r1, store.size() + 1):
        assert _json(registry, registry.staff, revision=revision)["revision"] == revision
    # A controller registered later has no record as of r1.
    with pytest.raises(errors.FailedPrecondition) as caught:
        registry.staff.processing_record("initech", revision=r1)
    assert "initech" in str(caught.value)
    with pytest.raises(errors.InvalidArgument) as bad:
        registry.staff.processing_record(revision=store.size() + 1)
    assert bad.value.violations[0].field == "revision"


@pytest.mark.parametrize(
    ("field", "request_fields"),
    [
        ("controller", {"controller": "controllers/Not_An_Id"}),
        ("controller", {"controller": "agreements/acme"}),
        ("format", {"format": 99}),
        ("revision", {"revision": -1}),
    ],
)
def test_bad_requests_name_the_field(
    registry: Harness, field: str, request_fields: dict[str, Any]
) -> None:
    import grpc

    from dpa_client._base import translate
    from dpa_registry_api.v1 import records_pb2 as pb

    stub = registry.staff._records
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetProcessingRecord(pb.GetProcessingRecordRequest(**request_fields), timeout=30)
    err = translate(caught.value)
    assert isinstance(err, errors.InvalidArgument)
    assert err.violations[0].field == field


def test_csv_has_one_line_per_fact_with_its_entries(registry: Harness) -> None:
    _scenario(registry)
    got = registry.staff.processing_record(format="CSV")
    assert got.media_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(got.content.decode())))
    assert rows[0][:4] == ["revision", str(got.revision), "scope", "processor"]
    assert rows[1] == ["section", "controller", "subject", "detail", "audit_entries"]
    sections = [r[0] for r in rows[2:]]
    assert sections.count("controller") == 2
    assert {"processor", "processing", "subprocessor", "transfer", "measure"} <= set(sections)
    for section, _controller, _subject, _detail, entries in rows[2:]:
        if section != "processor":
            assert entries and all(int(s) < got.revision for s in entries.split())


def _conforms(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str) -> None:
    """A small JSON Schema check (required, properties, items, $ref, const,
    nullable types)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if value is None and "null" in schema.get("type", ()):
        return
    if "const" in schema:
        assert value == schema["const"], path
    if schema.get("type") == "object" or "required" in schema:
        assert isinstance(value, dict), path
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, (path, missing)
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), path
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _conforms(value[key], sub, root, f"{path}.{key}")
    if schema.get("type") == "array":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            _conforms(item, schema.get("items", {}), root, f"{path}[{i}]")


def test_the_json_record_follows_the_published_schema(registry: Harness) -> None:
    from pathlib import Path

    _scenario(registry)
    schema = json.loads((Path(__file__).parent.parent / "docs/records.schema.json").read_text())
    _conforms(_json(registry, registry.staff), schema, schema, "$")
    _conforms(_json(registry, registry.staff, "acme"), schema, schema, "$")
    registry.staff.update_processor_details(dpo=contact("DPO", "dpo@7plus.one"))
    _conforms(_json(registry, registry.staff), schema, schema, "$")


def test_entries_under_many_roots(registry: Harness) -> None:
    """Hundreds of roots (a processor with many controllers) stay one bounded
    query each: SQLite's parser overflowed on one long OR chain."""
    _scenario(registry)
    roots = [f"controllers/c{i}" for i in range(500)] + ["controllers/acme", "measures"]
    found = store.entries_under(roots, store.size())
    assert "controllers/acme" in found and "measures/enc-at-rest" in found
    assert all(s < store.size() for seqs in found.values() for s in seqs)


def test_the_processor_dpo_and_representative_are_recorded_and_shown(registry: Harness) -> None:
    _scenario(registry)
    before = _json(registry, registry.staff)
    assert before["processor"]["dpo"] is None and before["processor"]["representative"] is None
    assert before["processor"]["sources"] == []
    staff = registry.staff
    recorded = staff.update_processor_details(
        dpo=contact("Mari Maasikas", "dpo@7plus.one", phone="+372 600 0000"),
        representative=contact(
            "EU Rep GmbH", "rep@eurep.example", address="Unter den Linden 1, Berlin", country="DE"
        ),
    )
    assert recorded.etag == "r1" and recorded.name == "processor"
    acme = registry.client("controller", "acme")
    assert acme.processor_details().dpo.email == "dpo@7plus.one"
    with pytest.raises(errors.PermissionDenied):
        acme.update_processor_details(dpo=contact("Me", "me@acme.example"))
    with pytest.raises(errors.Conflict):
        staff.update_processor_details(dpo=contact("X", "x@7plus.one"), etag="r7")
    with pytest.raises(errors.InvalidArgument) as bad:
        staff.update_processor_details(representative=contact("EU Rep", "rep@eurep.example"))
    assert bad.value.violations[0].field == "details.representative.address"
    with pytest.raises(errors.InvalidArgument) as bad:
        staff.update_processor_details(dpo=contact("DPO", "not-an-email"))
    assert bad.value.violations[0].field == "details.dpo.email"

    record = _json(registry, acme)
    p = record["processor"]
    assert p["dpo"]["name"] == "Mari Maasikas" and p["representative"]["country"] == "DE"
    [index] = p["sources"]
    assert _resources([index]) == {"processor"}
    rows = list(csv.reader(io.StringIO(acme.processing_record(format="CSV").content.decode())))
    [line] = [r for r in rows if r[0] == "processor"]
    assert "DPO Mari Maasikas, dpo@7plus.one, +372 600 0000" in line[3]
    assert "representative in the Union (Art. 27) EU Rep GmbH" in line[3]
    assert line[4] == str(index)
    # The record before the change still shows none, byte for byte as then.
    again = _json(registry, registry.staff, revision=before["revision"])
    assert again == before
