"""The end of a contract (Art. 28(3)(g)) through the task engine: return with a
retrieval window, deletions at every system and sub-processor, backups that
expire on a recorded date, a legal hold, a signed certificate; afterwards the
controller's data are no longer held. And parts updated at once from two
threads, each with its own connection."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from dpa_client import errors, verify_task
from dpa_client.types import Disposition, Task, TaskPart, TaskPartKind, TaskPartState, TaskState
from registry import clock, db, keys
from registry.agreements import terms
from registry.agreements.types import DpaStanding
from tests import factories
from tests.harness import Harness

SUBS = ("crmco", "hostco", "mailco")


def _world(h: Harness) -> None:
    factories.controller(h.staff, "acme")
    factories.controller(h.staff, "globex")
    factories.active_dpa_direct("acme")
    factories.active_dpa_direct("globex")
    for sp in SUBS:
        factories.engaged_subprocessor_direct(h, sp, controllers=("acme", "globex"))


def _affected_by_breach_at(h: Harness, sp: str) -> set[str]:
    aware = clock.now() - timedelta(hours=1)
    b = h.staff.report_breach(
        factories.breach_details((sp,)), awareness_time=aware, detection_time=aware
    )
    return {o.controller.split("/")[1] for o in h.staff.breach_obligations(b.breach_id)}


def _parts(task: Task) -> dict[str, TaskPart]:
    return {p.part_id: p for p in task.parts}


def test_return_then_deletion_to_a_signed_certificate(registry: Harness) -> None:
    _world(registry)
    staff, acme = registry.staff, registry.client("controller", "acme")
    with pytest.raises(errors.FailedPrecondition):
        staff.start_end_of_contract("acme")  # the DPA is still ACTIVE
    staff.terminate_agreement("acme", 1, disposition="RETURN", reason="contract ended")
    # The termination started the task; starting it again is refused.
    with pytest.raises(errors.AlreadyExists):
        staff.start_end_of_contract("acme")
    (task,) = acme.list_tasks("acme")
    parts = _parts(task)
    assert {f"subprocessor-{sp}" for sp in SUBS} <= set(parts)
    assert {"export", "backups"} <= set(parts)
    assert task.end_of_contract.disposition == Disposition.RETURN
    assert acme.get_task(task.name).name == task.name
    with pytest.raises(errors.NotFound):
        registry.client("controller", "globex").get_task(task.name)
    # No deletion before the controller has its data back.
    with pytest.raises(errors.FailedPrecondition):
        staff.update_task_part(parts["subprocessor-hostco"].name, "DONE", reference="early")
    until = clock.now() + timedelta(days=7 * 365)
    with pytest.raises(errors.InvalidArgument) as err:
        staff.add_legal_hold(task.name, data_category="user.financial", legal_basis="", until=until)
    assert [v.field for v in err.value.violations] == ["hold.legal_basis"]
    staff.add_legal_hold(
        task.name,
        data_category="user.financial",
        legal_basis="Accounting Act § 12 (EE): accounting records kept 7 years",
        until=until,
    )
    ready = staff.update_task_part(
        parts["export"].name, "IN_PROGRESS", export_ready=True, reference="export acme-1.tar"
    )
    export = _parts(ready)["export"]
    window = export.window_end_time - export.ready_time
    assert window >= timedelta(days=30)
    assert _parts(ready)["subprocessor-hostco"].due_time > export.window_end_time
    staff.update_task_part(parts["export"].name, "DONE", reference="retrieved by acme")
    # Backups: the expiry is recorded first; done only once it has passed.
    backups = parts["backups"].name
    staff.update_task_part(
        backups, "IN_PROGRESS", expire=clock.now() + timedelta(days=35), reference="rotation"
    )
    with pytest.raises(errors.FailedPrecondition):
        staff.update_task_part(backups, "DONE", reference="too early")
    for p in parts.values():
        if p.kind in (TaskPartKind.SYSTEM, TaskPartKind.SUBPROCESSOR):
            staff.update_task_part(p.name, "DONE", reference=f"deletion certificate {p.target}")
    # Until the certificate, a breach at hostco still concerns acme.
    assert "acme" in _affected_by_breach_at(registry, "hostco")
    clock.advance(timedelta(days=36))
    done = staff.update_task_part(backups, "DONE", reference="last backup expired")
    assert done.state == TaskState.COMPLETED
    verified = verify_task(acme.get_task(task.name), pinned_processor_keys=[keys.active().vkey])
    c = verified.content
    assert c["type"] == "dpa-registry/end-of-contract-certificate/v1"
    assert c["agreement"] == "controllers/acme/agreements/1" and c["disposition"] == "RETURN"
    listed = {p["target"] for p in c["parts"] if p["kind"] == "SUBPROCESSOR"}
    assert listed == set(SUBS)
    assert all(p["confirmed_by"] and p["reference"] for p in c["parts"])
    assert [h["data_category"] for h in c["legal_holds"]] == ["user.financial"]
    actions = [s["action"] for s in c["audit_steps"]]
    assert actions[0] == "task.start" and "task.hold.add" in actions
    assert actions.count("task.part.update") == len(parts) + 2  # export and backups twice
    # The data are no longer held: standing, breaches and checks follow.
    with db.database.connection_context():
        assert terms.standings(["acme"])["acme"].standing is DpaStanding.TERMINATED
    affected = _affected_by_breach_at(registry, "hostco")
    assert "acme" not in affected and "globex" in affected


def test_delete_alone_has_no_export(registry: Harness) -> None:
    _world(registry)
    registry.staff.terminate_agreement("acme", 1, disposition="DELETE")
    (task,) = registry.staff.list_tasks("acme")
    assert "export" not in _parts(task)
    assert task.end_of_contract.disposition == Disposition.DELETE
    # Deletions need no export first.
    registry.staff.update_task_part(
        f"{task.name}/parts/subprocessor-hostco", "DONE", reference="deleted"
    )


def _dsr(h: Harness) -> Task:
    factories.controller(h.staff, "acme")
    factories.active_dpa_direct("acme")
    for sp in SUBS:
        factories.engaged_subprocessor_direct(h, sp, controllers=("acme",))
    return h.client("controller", "acme").file_data_subject_request(
        "acme",
        type="ACCESS",
        controller_request_id="dsr-77",
        received=clock.now(),
        subject_references=["sha256:" + "ef" * 32],
    )


def _run(calls: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = calls[i]()
        except Exception as err:
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_two_threads_confirm_the_same_part(registry: Harness) -> None:
    """Both read the same etag; exactly one confirmation wins, the other is ABORTED."""
    task = _dsr(registry)
    part = _parts(task)["subprocessor-hostco"]
    a, b = registry.client("staff", "admin"), registry.client("staff", "admin")
    results = _run(
        [
            lambda: a.update_task_part(part.name, "DONE", reference="by a", etag=part.etag),
            lambda: b.update_task_part(part.name, "DONE", reference="by b", etag=part.etag),
        ]
    )
    wins = [r for r in results if isinstance(r, Task)]
    losses = [r for r in results if isinstance(r, errors.Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    final = _parts(registry.staff.get_task(task.name))["subprocessor-hostco"]
    assert final.evidence.reference in ("by a", "by b")
    assert final.etag == "r2"


def test_threads_confirm_different_parts_at_once(registry: Harness) -> None:
    """Every part confirmed at once from its own connection: none is lost, the
    task completes once, with one signed receipt."""
    task = _dsr(registry)
    clients = [registry.client("staff", "admin") for _ in task.parts]
    calls = [
        (lambda c=c, p=p: c.update_task_part(p.name, "DONE", reference=f"ok {p.part_id}"))
        for c, p in zip(clients, task.parts, strict=True)
    ]
    results = _run(calls)
    assert all(isinstance(r, Task) for r in results), results
    final = registry.staff.get_task(task.name)
    assert final.state == TaskState.COMPLETED
    assert all(p.state == TaskPartState.DONE for p in final.parts)
    from registry.audit import store

    with db.database.connection_context():
        issued = store.AuditEvent.select().where(store.AuditEvent.action == "task.issue").count()
    assert issued == 1


def test_the_same_request_filed_twice_at_once(registry: Harness) -> None:
    """Two filings of one controller_request_id: one task, the other ALREADY_EXISTS."""
    factories.controller(registry.staff, "acme")
    factories.active_dpa_direct("acme")
    clients = [registry.client("controller", "acme") for _ in range(2)]
    calls = [
        (
            lambda c=c: c.file_data_subject_request(
                "acme",
                type="ACCESS",
                controller_request_id="dsr-same",
                received=clock.now(),
                subject_references=["opaque-ref-1"],
            )
        )
        for c in clients
    ]
    results = _run(calls)
    assert sorted(type(r).__name__ for r in results) == ["AlreadyExists", "Task"], results
