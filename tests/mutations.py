"""One valid call of every mutating RPC, for the write-path test.

Each case: ``setup(h)`` prepares state (its events are not counted), then
``act(h, state)`` makes exactly the mutating call under test. Add a case for
every RPC whose access option says ``mutates: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dpa_client import contact
from tests import factories
from tests.harness import Harness


@dataclass(frozen=True)
class Case:
    setup: Callable[[Harness], Any]
    act: Callable[[Harness, Any], Any]
    events: int = 1


def _none(h: Harness) -> None:
    return None


CASES: dict[str, Case] = {
    "/dpa.registry.v1.ControllerService/CreateController": Case(
        _none, lambda h, _: factories.controller(h.staff, "acme")
    ),
    "/dpa.registry.v1.ControllerService/UpdateController": Case(
        lambda h: factories.controller(h.staff, "acme"),
        lambda h, _: h.client("controller", "acme").update_controller(
            "acme", dpo_email="dpo2@acme.example"
        ),
    ),
}


# -- sub-processors and notifications --------------------------------------------


def _two_controllers_and_subprocessor(h: Harness) -> None:
    for cid in ("acme", "globex"):
        factories.controller(h.staff, cid)
        factories.dpa_terms_direct(cid, notice_days=10, objection_days=10)
    factories.subprocessor(h.staff, "hostco")


def _notice(h: Harness) -> str:
    from datetime import timedelta

    from registry import clock

    _two_controllers_and_subprocessor(h)
    notice = h.staff.propose_subprocessor_change(
        "ADDITION", "hostco", effective=clock.now() + timedelta(days=11)
    )
    return notice.name


def _objection(h: Harness) -> str:
    name = _notice(h)
    h.client("controller", "acme").object_to_subprocessor_change(name, reason="no")
    return name


def _edited_subprocessor(h: Harness) -> Any:
    created = factories.subprocessor(h.staff, "hostco")
    return replace(created, purpose="Hosting and backups")


CASES.update(
    {
        "/dpa.registry.v1.RecordService/UpdateProcessorDetails": Case(
            _none,
            lambda h, _: h.staff.update_processor_details(
                dpo=contact("Data Protection Office", "dpo@7plus.one")
            ),
        ),
    }
)

CASES.update(
    {
        "/dpa.registry.v1.SubprocessorService/CreateSubprocessor": Case(
            _none, lambda h, _: factories.subprocessor(h.staff, "hostco")
        ),
        "/dpa.registry.v1.SubprocessorService/UpdateSubprocessor": Case(
            _edited_subprocessor,
            lambda h, sp: h.staff.update_subprocessor(sp, fields=["purpose"]),
        ),
        # The notice itself, plus one audit event per notified controller.
        "/dpa.registry.v1.SubprocessorService/ProposeSubprocessorChange": Case(
            _two_controllers_and_subprocessor, lambda h, _: _notice_only(h), events=3
        ),
        "/dpa.registry.v1.SubprocessorService/ApproveSubprocessorChange": Case(
            _notice,
            lambda h, name: h.client("controller", "acme").approve_subprocessor_change(name),
        ),
        "/dpa.registry.v1.SubprocessorService/ObjectSubprocessorChange": Case(
            _notice,
            lambda h, name: h.client("controller", "acme").object_to_subprocessor_change(
                name, reason="no transfers to this provider"
            ),
        ),
        "/dpa.registry.v1.SubprocessorService/WithdrawSubprocessorAuthorization": Case(
            lambda h: (
                factories.controller(h.staff, "acme"),
                factories.engaged_subprocessor_direct(h, "hostco"),
            ),
            lambda h, _: h.client("controller", "acme").withdraw_subprocessor_authorization(
                "acme", "hostco", reason="moving to an EU-only stack"
            ),
        ),
        "/dpa.registry.v1.SubprocessorService/ResolveObjection": Case(
            _objection,
            lambda h, name: h.staff.resolve_objection(
                name, "acme", resolution="TERMINATION", note="acme terminates"
            ),
        ),
        "/dpa.registry.v1.NotificationService/AcknowledgeNotification": Case(
            _notice,
            lambda h, _: h.client("controller", "acme").acknowledge_notification(
                next(h.client("controller", "acme").list_notifications()).id
            ),
        ),
    }
)


def _notice_only(h: Harness) -> Any:
    from datetime import timedelta

    from registry import clock

    return h.staff.propose_subprocessor_change(
        "ADDITION", "hostco", effective=clock.now() + timedelta(days=11)
    )


# -- Agreements and instructions (registry.agreements) ----------------------


def _requested(h: Harness) -> None:
    factories.controller(h.staff, "acme")
    h.client("controller", "acme").request_agreement("acme")


def _drafted(h: Harness) -> None:
    _requested(h)
    h.staff.draft_agreement("acme", 1)


def _signed(h: Harness) -> None:
    _drafted(h)
    h.staff.sign_agreement("acme", 1)


def _terminated(h: Harness) -> None:
    factories.active_dpa(h, "acme")
    h.staff.terminate_agreement("acme", 1, disposition="DELETE")


def _instructed(h: Harness) -> None:
    factories.active_dpa(h, "acme")
    factories.instruction(h, "acme")


CASES.update(
    {
        "/dpa.registry.v1.AgreementService/RequestAgreement": Case(
            lambda h: factories.controller(h.staff, "acme"),
            lambda h, _: h.client("controller", "acme").request_agreement("acme"),
        ),
        "/dpa.registry.v1.AgreementService/DraftAgreement": Case(
            _requested, lambda h, _: h.staff.draft_agreement("acme", 1)
        ),
        "/dpa.registry.v1.AgreementService/SignAgreement": Case(
            _drafted, lambda h, _: h.staff.sign_agreement("acme", 1)
        ),
        "/dpa.registry.v1.AgreementService/CountersignAgreement": Case(
            _signed,
            lambda h, _: h.client("controller", "acme").countersign_agreement("acme", 1),
        ),
        # The termination, the end-of-contract task and its notification.
        "/dpa.registry.v1.AgreementService/TerminateAgreement": Case(
            lambda h: factories.active_dpa(h, "acme"),
            lambda h, _: h.client("controller", "acme").terminate_agreement(
                "acme", 1, disposition="RETURN"
            ),
            events=3,
        ),
        "/dpa.registry.v1.AgreementService/ConfirmDataDisposition": Case(
            _terminated,
            lambda h, _: h.staff.confirm_data_disposition("acme", 1, "deleted, certificate 42"),
        ),
        "/dpa.registry.v1.InstructionService/IssueInstruction": Case(
            lambda h: factories.active_dpa(h, "acme"),
            lambda h, _: factories.instruction(h, "acme"),
        ),
        "/dpa.registry.v1.InstructionService/FlagInstruction": Case(
            _instructed,
            lambda h, _: h.staff.flag_instruction("acme", 1, "transfer contrary to Art. 44"),
        ),
    }
)


# -- breaches: each case notifies one controller (acme), so one event for the
# step itself plus one "breach.notice.*" entry under acme's tenant.


def _breach_world(h: Harness) -> None:
    factories.controller(h.staff, "acme")
    factories.controller(h.staff, "globex")
    factories.active_dpa_direct("acme", breach_hours=24)
    factories.engaged_subprocessor_direct(h, "hostco", controllers=("acme",))


def _report(h: Harness, *, hold: bool = False) -> str:
    from registry import clock

    aware = clock.now()
    return h.staff.report_breach(
        factories.breach_details(("hostco",)),
        awareness_time=aware,
        detection_time=aware,
        hold_notices=hold,
    ).breach_id


def _reported(h: Harness) -> str:
    _breach_world(h)
    return _report(h)


def _held(h: Harness) -> str:
    _breach_world(h)
    return _report(h, hold=True)


CASES.update(
    {
        "/dpa.registry.v1.BreachService/ReportBreach": Case(
            _breach_world, lambda h, _: _report(h), events=2
        ),
        "/dpa.registry.v1.BreachService/AddBreachPhase": Case(
            _reported,
            lambda h, bid: h.staff.add_breach_phase(bid, status="CONTAINED"),
            events=2,
        ),
        "/dpa.registry.v1.BreachService/AdjustAffectedControllers": Case(
            _reported,
            lambda h, bid: h.staff.adjust_affected_controllers(
                bid, add=[("globex", "its data sits on the affected system")]
            ),
            events=2,
        ),
        "/dpa.registry.v1.BreachService/SendBreachNotices": Case(
            _held, lambda h, bid: h.staff.send_breach_notices(bid), events=2
        ),
        "/dpa.registry.v1.BreachService/AcknowledgeBreachNotice": Case(
            _reported,
            lambda h, bid: h.client("controller", "acme").acknowledge_breach_notice(bid),
            events=2,
        ),
    }
)


# -- transfers (issue 6) ---------------------------------------------------------


def _transfer_sp(h: Harness) -> None:
    factories.subprocessor(h.staff, "hostco", country="IN", locations=["IN"])


def _transfer_scc() -> Any:
    from dpa_client import safeguard

    return safeguard(
        "IN",
        "SCC",
        scc_decision="2021/914",
        scc_module=3,
        signed="2024-03-01",
        tia_reference="TIA-1",
        tia_date="2024-02-20",
        tia_review="2030-02-20",
    )


def _transfer_with_safeguard(h: Harness) -> Any:
    _transfer_sp(h)
    return h.staff.create_safeguard("hostco", "in-scc", _transfer_scc())


def _transfer_update(h: Harness, sg: Any) -> Any:
    edited = replace(sg, tia=replace(sg.tia, review_date="2031-01-01"))
    return h.staff.update_safeguard(edited, fields=["tia.review_date"])


CASES.update(
    {
        "/dpa.registry.v1.TransferService/CreateSafeguard": Case(
            _transfer_sp,
            lambda h, _: h.staff.create_safeguard("hostco", "in-scc", _transfer_scc()),
        ),
        "/dpa.registry.v1.TransferService/UpdateSafeguard": Case(
            _transfer_with_safeguard, _transfer_update
        ),
        "/dpa.registry.v1.TransferService/RecordAdequacyChange": Case(
            _none,
            lambda h, _: h.staff.record_adequacy_change(
                "JP", "SUSPENDED", effective="2027-01-01", source="OJ L 1, 1.1.2027"
            ),
        ),
    }
)


# -- audit-log witnesses -----------------------------------------------------------


def _witness_vkey(h: Harness) -> str:
    from dpa_client.transparency.cosignature import Cosigner

    return Cosigner.generate("acme.example/witness").vkey


CASES.update(
    {
        "/dpa.registry.v1.AuditLogService/RegisterWitness": Case(
            _witness_vkey, lambda h, vkey: h.staff.register_witness(vkey)
        ),
    }
)


# -- technical and organisational measures -------------------------------------------

_MEASURE = {
    "category": "PSEUDONYMISATION_ENCRYPTION",
    "title": "Encryption at rest",
    "description": "AES-256 on every volume",
}


def _measure(h: Harness) -> None:
    h.staff.create_measure("enc", **_MEASURE)


CASES.update(
    {
        "/dpa.registry.v1.MeasureService/CreateMeasure": Case(
            _none, lambda h, _: h.staff.create_measure("enc", **_MEASURE)
        ),
        "/dpa.registry.v1.MeasureService/UpdateMeasure": Case(
            _measure,
            lambda h, _: h.staff.update_measure(
                "enc", impact="EQUIVALENT", reason="Wording", **_MEASURE
            ),
        ),
        # No controller has an ACTIVE DPA here: the removal alone is recorded.
        "/dpa.registry.v1.MeasureService/RetireMeasure": Case(
            _measure, lambda h, _: h.staff.retire_measure("enc", reason="Replaced")
        ),
    }
)


# -- assistance tasks (registry.tasks): filing, starting and issuing also put
# one notification into the controller's inbox (a second event).


def _dsr_world(h: Harness) -> None:
    factories.controller(h.staff, "acme")
    factories.active_dpa_direct("acme")
    factories.engaged_subprocessor_direct(h, "hostco", controllers=("acme",))


def _file_dsr(h: Harness) -> Any:
    from datetime import timedelta

    from registry import clock

    return h.client("controller", "acme").file_data_subject_request(
        "acme",
        type="ERASURE",
        controller_request_id="dsr-1",
        received=clock.now() - timedelta(days=1),
        subject_references=["sha256:" + "cd" * 32],
    )


def _filed(h: Harness) -> Any:
    _dsr_world(h)
    return _file_dsr(h)


def _end_of_contract(h: Harness) -> Any:
    _terminated(h)
    return next(h.staff.list_tasks("acme"))


def _terminated_without_task(h: Harness) -> None:
    """A DPA terminated before terminations started their task."""
    from registry import db
    from registry.tasks.model import TaskRow

    _terminated(h)
    with db.database.connection_context(), db.transaction():
        TaskRow.delete().execute()


CASES.update(
    {
        "/dpa.registry.v1.TaskService/FileDataSubjectRequest": Case(
            _dsr_world, lambda h, _: _file_dsr(h), events=2
        ),
        "/dpa.registry.v1.TaskService/ExtendDataSubjectRequest": Case(
            _filed,
            lambda h, task: h.client("controller", "acme").extend_data_subject_request(
                task.name,
                due=task.data_subject_request.due_time + timedelta(days=30),
                reason="complex request",
            ),
        ),
        "/dpa.registry.v1.TaskService/UpdateTaskPart": Case(
            _filed,
            lambda h, task: h.staff.update_task_part(
                f"{task.name}/parts/subprocessor-hostco", "DONE", reference="hostco 1"
            ),
        ),
        "/dpa.registry.v1.TaskService/StartEndOfContract": Case(
            _terminated_without_task,
            lambda h, _: h.staff.start_end_of_contract("acme"),
            events=2,
        ),
        "/dpa.registry.v1.TaskService/AddLegalHold": Case(
            _end_of_contract,
            lambda h, task: h.staff.add_legal_hold(
                task.name,
                data_category="user.financial",
                legal_basis="Accounting Act § 12: 7 years",
                until=datetime(2033, 1, 1, tzinfo=UTC),
            ),
        ),
    }
)


# -- delivery ------------------------------------------------------------------------


def _email_subscription(h: Harness) -> str:
    factories.controller(h.staff, "acme")
    return str(h.client("controller", "acme").subscribe_email("acme", "dpo@acme.example").name)


def _dead_letter(h: Harness) -> str:
    """A dead-lettered delivery written straight into the tables, leased far
    ahead so that no worker sends it while the events are counted."""
    from datetime import timedelta

    from registry import clock, db
    from registry.delivery.model import DeliveryRow

    sub = _email_subscription(h).rsplit("/", 1)[1]
    now = clock.now()
    with db.database.connection_context():
        delivery_id = DeliveryRow.insert(
            notification=1,
            controller_id="acme",
            subscription_id=sub,
            channel="EMAIL",
            state="DEAD_LETTER",
            attempts=8,
            next_attempt_time=now,
            lease_owner="mutations-test",
            lease_until=now + timedelta(hours=1),
            create_time=now,
        ).execute()
    return f"controllers/acme/deliveries/{delivery_id}"


CASES.update(
    {
        "/dpa.registry.v1.DeliveryService/CreateSubscription": Case(
            lambda h: factories.controller(h.staff, "acme"),
            lambda h, _: h.client("controller", "acme").subscribe_email("acme", "dpo@acme.example"),
        ),
        "/dpa.registry.v1.DeliveryService/DeleteSubscription": Case(
            _email_subscription,
            lambda h, name: h.client("controller", "acme").unsubscribe(name),
        ),
        "/dpa.registry.v1.DeliveryService/RedeliverDelivery": Case(
            _dead_letter, lambda h, name: h.staff.redeliver(name)
        ),
    }
)
