"""Assistance tasks through the API (Art. 28(3)(e), (g)): a data-subject
request fanned out to systems and sub-processors, evidence per part, overdue
parts, a signed receipt that verifies offline; the end of a contract through
return, retrieval window, deletions, backups and legal holds to a signed
certificate, after which the controller's data are no longer held."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from dpa_client import cli, errors, verify_task
from dpa_client.types import Task, TaskPart, TaskPartState, TaskState
from registry import cli as registry_cli
from registry import clock, keys
from registry.tasks.engine import systems
from tests import factories
from tests.harness import Harness

SALTED = "sha256:" + hashlib.sha256(b"salt|jane@example.com").hexdigest()
SYSTEMS = {f"system-{s.system_id}" for s in systems()}


def _pinned() -> list[str]:
    return [keys.active().vkey]


def _world(h: Harness) -> None:
    """acme (DPA with the default 10 assistance days) uses three
    sub-processors; globex uses another one."""
    factories.controller(h.staff, "acme")
    factories.controller(h.staff, "globex")
    factories.active_dpa_direct("acme")
    factories.active_dpa_direct("globex")
    for sp in ("hostco", "mailco", "crmco"):
        factories.engaged_subprocessor_direct(h, sp, controllers=("acme",))
    factories.engaged_subprocessor_direct(h, "payco", controllers=("globex",))


def _file(h: Harness, **overrides: object) -> Task:
    fields: dict[str, object] = {
        "type": "ERASURE",
        "controller_request_id": "dsr-2026-0001",
        "received": clock.now() - timedelta(days=2),
        "subject_references": [SALTED, "crm-customer-88412"],
        "data_categories": ["user.contact.email"],
        **overrides,
    }
    return h.client("controller", "acme").file_data_subject_request("acme", **fields)  # type: ignore[arg-type]


def _parts(task: Task) -> dict[str, TaskPart]:
    return {p.part_id: p for p in task.parts}


def test_erasure_request_done_when_scenario(
    registry: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _world(registry)
    staff, acme = registry.staff, registry.client("controller", "acme")
    task = _file(registry)
    parts = _parts(task)
    subs = {"subprocessor-crmco", "subprocessor-hostco", "subprocessor-mailco"}
    assert set(parts) == SYSTEMS | subs  # payco (globex only) is not a part
    due = task.data_subject_request.due_time
    for p in parts.values():
        assert p.state == TaskPartState.PENDING
        assert p.due_time <= due  # inside the controller's month
        assert p.due_time - task.create_time == timedelta(days=10)
    # The controller sees its task; another tenant does not.
    assert acme.get_task(task.name).name == task.name
    with pytest.raises(errors.NotFound):
        registry.client("controller", "globex").get_task(task.name)
    assert [t.name for t in acme.list_tasks("acme")] == [task.name]
    # Proof of receipt in the inbox.
    inbox = [n for n in acme.list_notifications() if n.resource == task.name]
    assert inbox and inbox[0].title == "Data-subject request received"
    # Staff confirm the systems and two sub-processors; one stays open.
    for pid in [*sorted(SYSTEMS), "subprocessor-hostco", "subprocessor-mailco"]:
        staff.update_task_part(
            f"{task.name}/parts/{pid}",
            "DONE",
            reference=f"ticket {pid}",
            attachment_digest="sha256:" + "ab" * 32,
        )
    clock.advance(timedelta(days=11))
    overdue = list(staff.list_overdue_task_parts())
    assert [o.part.part_id for o in overdue] == ["subprocessor-crmco"]
    assert overdue[0].late >= timedelta(days=1)
    assert overdue[0].controller_id == "acme"
    # The staff CLI shows the same queue.
    d = registry.pki.directory
    tls = ["--target", registry.target, "--ca", str(d / "ca.crt")]
    tls += ["--cert", str(d / "staff-admin.crt"), "--key", str(d / "staff-admin.key")]
    assert registry_cli.main(["tasks", "overdue", *tls]) == 0
    shown = capsys.readouterr()
    assert "subprocessor-crmco" in shown.out and "1 overdue part(s)" in shown.err
    assert registry_cli.main(["tasks", "update", f"{task.name}/parts/nope", "DONE", *tls]) == 2
    assert "not found" in capsys.readouterr().err
    # The last confirmation issues the signed receipt.
    done = staff.update_task_part(
        f"{task.name}/parts/subprocessor-crmco", "DONE", reference="crmco case 5521"
    )
    assert done.state == TaskState.COMPLETED
    assert not list(staff.list_overdue_task_parts())
    fetched = acme.get_task(task.name)
    verified = verify_task(fetched, pinned_processor_keys=_pinned())
    assert verified.content["request"]["controller_request_id"] == "dsr-2026-0001"
    assert SALTED not in fetched.signed_document.document.decode()
    assert len(verified.content["parts"]) == len(parts)
    # Filing, and each confirmation, with its audit index.
    actions = [s["action"] for s in verified.content["audit_steps"]]
    assert actions == ["task.file"] + ["task.part.update"] * len(parts)
    assert sorted(verified.audit_indices) == list(verified.audit_indices)
    assert any(n.title.startswith("Task completed") for n in acme.list_notifications())
    # The same check from the command line, as the controller.
    cert, key = registry.pki.client("controller", "acme")
    argv = ["task", "--target", registry.target, "--ca", str(registry.pki.ca_cert)]
    argv += ["--cert", str(cert), "--key", str(key), "--name", task.name]
    assert cli.main([*argv, "--vkey", _pinned()[0]]) == 0
    assert cli.main([*argv, "--vkey", "other+00000000+AAAA"]) == 1
    # Tampered bytes do not verify.
    signed = fetched.signed_document
    assert signed is not None
    tampered = replace(
        fetched,
        signed_document=replace(signed, document=signed.document.replace(b"ERASURE", b"ACCESS")),
    )
    with pytest.raises(errors.VerificationError):
        verify_task(tampered, pinned_processor_keys=_pinned())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"subject_references": ["jane@example.com"]}, "request.subject_references[0]"),
        ({"subject_references": ["+372 5555 1234"]}, "request.subject_references[0]"),
        ({"subject_references": ["sha256:xyz"]}, "request.subject_references[0]"),
        ({"subject_references": []}, "request.subject_references"),
        ({"data_categories": ["user.nonsense"]}, "request.data_categories[0]"),
        ({"controller_request_id": ""}, "request.controller_request_id"),
        ({"due": clock.now() + timedelta(days=60)}, "request.due_time"),
        ({"received": clock.now() + timedelta(days=3)}, "request.receive_time"),
    ],
)
def test_request_validation_names_the_field(
    registry: Harness, overrides: dict[str, object], field: str
) -> None:
    _world(registry)
    with pytest.raises(errors.InvalidArgument) as err:
        _file(registry, **overrides)
    assert [v.field for v in err.value.violations] == [field]
    # Nothing personal reached the audit log.
    from registry.audit import store

    bodies = b"".join(bytes(r.body) for r in store.AuditEvent.select())
    assert b"jane@example.com" not in bodies


def test_extension_duplicates_and_failures(registry: Harness) -> None:
    _world(registry)
    staff, acme = registry.staff, registry.client("controller", "acme")
    task = _file(registry)
    with pytest.raises(errors.AlreadyExists):
        _file(registry)
    received = task.data_subject_request.receive_time
    with pytest.raises(errors.InvalidArgument) as err:
        acme.extend_data_subject_request(task.name, due=received + timedelta(days=40), reason="")
    assert [v.field for v in err.value.violations] == ["reason"]
    with pytest.raises(errors.InvalidArgument) as err:
        acme.extend_data_subject_request(
            task.name, due=received + timedelta(days=100), reason="complex"
        )
    assert [v.field for v in err.value.violations] == ["due_time"]
    extended = acme.extend_data_subject_request(
        task.name, due=received + timedelta(days=80), reason="many requests (Art. 12(3))"
    )
    assert extended.data_subject_request.extension_reason == "many requests (Art. 12(3))"
    with pytest.raises(errors.FailedPrecondition):
        acme.extend_data_subject_request(
            task.name, due=received + timedelta(days=85), reason="again"
        )
    part = f"{task.name}/parts/subprocessor-hostco"
    with pytest.raises(errors.InvalidArgument) as err:
        staff.update_task_part(part, "FAILED")
    assert [v.field for v in err.value.violations] == ["failure_reason"]
    with pytest.raises(errors.InvalidArgument) as err:
        staff.update_task_part(part, "DONE", reference="x", attachment_digest="md5:abc")
    assert [v.field for v in err.value.violations] == ["attachment_digest"]
    failed = staff.update_task_part(part, "FAILED", failure_reason="hostco API down")
    assert _parts(failed)["subprocessor-hostco"].failure_reason == "hostco API down"
    assert any(n.title == "A task part failed" for n in acme.list_notifications())
    with pytest.raises(errors.PermissionDenied):
        acme.update_task_part(part, "DONE", reference="self-service")
    with pytest.raises(errors.NotFound):
        staff.update_task_part(f"{task.name}/parts/subprocessor-payco", "DONE", reference="x")


def test_restart_in_the_middle_of_a_task(registry: Harness) -> None:
    from tests import harness

    _world(registry)
    task = _file(registry)
    registry.staff.update_task_part(
        f"{task.name}/parts/subprocessor-hostco", "DONE", reference="before restart"
    )
    registry.close()
    again = harness.start(registry.pki, registry.database)
    try:
        staff = again.staff
        for p in task.parts:
            if p.part_id != "subprocessor-hostco":
                staff.update_task_part(p.name, "DONE", reference="after restart")
        done = again.client("controller", "acme").get_task(task.name)
        assert done.state == TaskState.COMPLETED
        verified = verify_task(done, pinned_processor_keys=_pinned())
        refs = {p["part"]: p["reference"] for p in verified.content["parts"]}
        assert refs["subprocessor-hostco"] == "before restart"
    finally:
        again.close()
