"""Sub-processors over real mTLS on each backend: the registry, change notices
with advance-notice and objection periods, both authorisation modes, the
scheduler across restarts, objections and the staff queue, tenant isolation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from dpa_client import (
    ControllerDecision,
    DpfStatus,
    Notification,
    NotificationKind,
    ObjectionResolution,
    RegistryClient,
    Subprocessor,
    SubprocessorAuthorizationState,
    SubprocessorStatus,
    errors,
)
from registry import clock, pki, server
from registry.audit import store
from registry.notifications import core as notifications
from registry.subprocessors import core
from tests import factories, harness
from tests.harness import Harness

DAY = timedelta(days=1)


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def controller_client(h: Harness, name: str) -> RegistryClient:
    cert, _ = h.pki.client("controller", name)
    if not cert.exists():
        pki.issue_client_cert(h.pki, "controller", name, harness.TRUST_DOMAIN)
    return h.client("controller", name)


def setup_controllers(h: Harness, terms: dict[str, tuple[str, int, int]]) -> None:
    for cid, (mode, notice, objection) in terms.items():
        factories.controller(h.staff, cid)
        factories.dpa_terms_direct(cid, mode=mode, notice_days=notice, objection_days=objection)


def us_subprocessor(staff: RegistryClient, sp_id: str = "llmcorp") -> Subprocessor:
    return factories.subprocessor(  # type: ignore[return-value]
        staff,
        sp_id,
        display_name="LLM Corp",
        legal_name="LLM Corp Inc.",
        address="1 Market St, San Francisco, CA",
        country="US",
        service_category="AI_MODEL_PROVIDER",
        locations=["US"],
        data_categories=["user.contact.email", "user.content"],
        purpose="Model inference for the assistant feature",
        dpf_status="CERTIFIED",
        dpf_checked="2026-01-10",
    )


def state_of(client: RegistryClient, cid: str, sp_id: str) -> int | None:
    for e in client.get_subprocessor_list(cid).entries:
        if e.subprocessor == f"subprocessors/{sp_id}":
            return e.state
    return None


def restart(h: Harness) -> None:
    """Stops the server and starts a new one on the same database and port."""
    config = h.running.config
    port = h.running.port
    h.running.stop(0)
    h.running = server.start(replace(config, listen=f"127.0.0.1:{port}"))


# -- the registry -----------------------------------------------------------------


def test_staff_registers_a_us_subprocessor(registry: Harness) -> None:
    staff = registry.staff
    created = us_subprocessor(staff)
    assert created.name == "subprocessors/llmcorp"
    assert created.status == SubprocessorStatus.PROPOSED
    assert created.dpf.status == DpfStatus.CERTIFIED
    assert created.dpf.checked_date == "2026-01-10"
    assert created.agreement.flow_down_confirmed
    assert list(created.locations) == ["US"]
    assert staff.get_subprocessor("llmcorp") == created
    factories.subprocessor(staff, "hostco")
    assert [s.subprocessor_id for s in staff.list_subprocessors(page_size=1)] == [
        "hostco",
        "llmcorp",
    ]
    edited = replace(created, purpose="Inference and evaluation")
    updated = staff.update_subprocessor(edited, fields=["purpose"])
    assert updated.purpose == "Inference and evaluation"
    assert updated.etag != created.etag
    with pytest.raises(errors.Conflict):
        staff.update_subprocessor(edited, fields=["purpose"])


@pytest.mark.parametrize(
    ("fields", "overrides"),
    [
        (["subprocessor.dpf.status", "subprocessor.dpf.checked_date"], {"country": "US"}),
        (["subprocessor.locations[1]"], {"locations": ["EE", "XX"]}),
        (["subprocessor.data_categories[0]"], {"data_categories": ["user.nonsense"]}),
        (["subprocessor.agreement.document_digest"], {"agreement_digest": "md5:1"}),
        (["subprocessor.dpf.status"], {"dpf_status": "CERTIFIED"}),
        (["subprocessor.contact_email"], {"contact_email": "nope"}),
    ],
)
def test_bad_subprocessor_names_the_field(
    registry: Harness, fields: list[str], overrides: dict[str, object]
) -> None:
    before = store.size()
    with pytest.raises(errors.InvalidArgument) as err:
        factories.subprocessor(registry.staff, "badco", **overrides)
    assert [v.field for v in err.value.violations] == fields
    assert store.size() == before


# -- the acceptance scenario ---------------------------------------------------------


def test_change_notice_end_to_end(registry: Harness) -> None:
    """Staff propose a US sub-processor; a GENERAL controller is notified live
    and objects in time; another becomes authorised when its window closes; a
    SPECIFIC controller stays PENDING until it approves."""
    setup_controllers(
        registry,
        {
            "acme": ("GENERAL", 30, 30),
            "globex": ("GENERAL", 30, 10),
            "initech": ("SPECIFIC", 30, 30),
        },
    )
    staff = registry.staff
    acme = controller_client(registry, "acme")
    globex = controller_client(registry, "globex")
    initech = controller_client(registry, "initech")
    us_subprocessor(staff)

    watch = acme.watch_notifications()
    live: list[Notification] = []
    threading.Thread(target=lambda: live.append(next(watch)), daemon=True).start()
    time.sleep(0.2)

    notice = staff.propose_subprocessor_change(
        "ADDITION", "llmcorp", effective=clock.now() + 31 * DAY, reason="assistant feature"
    )
    assert notice.recipient_count == 3
    eventually(lambda: bool(live))
    watch.cancel()
    n = live[0]
    assert n.kind == NotificationKind.SUBPROCESSOR_CHANGE
    assert n.resource == notice.name
    assert n.payload["subprocessor"] == "subprocessors/llmcorp"
    assert n.payload["objection_days"] == 30

    # globex reads its inbox: the notice reached it, its window begins.
    globex.acknowledge_notification(next(iter(globex.list_notifications())).id)
    # Every controller's list shows the pending change with its own deadline,
    # counted from the notice's first delivery to it.
    eventually(
        lambda: (
            globex.get_subprocessor_list("globex").pending_changes[0].objection_deadline is not None
        )
    )
    view = globex.get_subprocessor_list("globex")
    assert [e.state for e in view.entries] == [SubprocessorAuthorizationState.PENDING]
    (pending,) = view.pending_changes
    assert pending.change_notice == notice.name
    assert pending.objection_deadline and pending.first_delivery_time
    window = pending.objection_deadline - pending.first_delivery_time
    assert window == 10 * DAY

    objected = acme.object_to_subprocessor_change(notice.name, reason="no US transfers")
    assert objected.decision == ControllerDecision.OBJECTED
    assert state_of(acme, "acme", "llmcorp") == SubprocessorAuthorizationState.OBJECTED
    queue = list(staff.list_objections(unresolved_only=True))
    assert [(o.controller_id, o.reason) for o in queue] == [("acme", "no US transfers")]

    # globex's 10-day window closes without objection: authorised by the scheduler.
    clock.advance(10 * DAY + timedelta(seconds=1))
    eventually(
        lambda: state_of(globex, "globex", "llmcorp") == SubprocessorAuthorizationState.AUTHORIZED
    )
    assert state_of(acme, "acme", "llmcorp") == SubprocessorAuthorizationState.OBJECTED
    assert state_of(initech, "initech", "llmcorp") == SubprocessorAuthorizationState.PENDING
    with pytest.raises(errors.FailedPrecondition):
        globex.object_to_subprocessor_change(notice.name, reason="too late")

    # SPECIFIC: still PENDING after every window; the approval authorises.
    clock.advance(25 * DAY)
    time.sleep(1.5)
    assert state_of(initech, "initech", "llmcorp") == SubprocessorAuthorizationState.PENDING
    approved = initech.approve_subprocessor_change(notice.name)
    assert approved.decision == ControllerDecision.AUTHORIZED
    assert state_of(initech, "initech", "llmcorp") == SubprocessorAuthorizationState.AUTHORIZED

    # Effective date passed: ACTIVE, used for globex and initech, never for acme.
    eventually(lambda: staff.get_subprocessor("llmcorp").status == SubprocessorStatus.ACTIVE)
    assert core.may_use("globex", "llmcorp")
    assert core.may_use("initech", "llmcorp")
    assert not core.may_use("acme", "llmcorp")

    resolved = staff.resolve_objection(
        notice.name, "acme", resolution="ALTERNATIVE_ARRANGEMENT", note="EU model for acme"
    )
    assert resolved.resolution == ObjectionResolution.ALTERNATIVE_ARRANGEMENT
    assert not core.may_use("acme", "llmcorp")
    assert list(staff.list_objections(unresolved_only=True)) == []
    kinds = [x.kind for x in acme.list_notifications()]
    assert kinds[-1] == NotificationKind.OBJECTION_RESOLVED


@pytest.mark.parametrize("close_while_down", [False, True])
def test_window_closes_across_a_restart(registry: Harness, close_while_down: bool) -> None:
    setup_controllers(registry, {"globex": ("GENERAL", 30, 30)})
    us_subprocessor(registry.staff)
    notice = registry.staff.propose_subprocessor_change(
        "ADDITION", "llmcorp", effective=clock.now() + 31 * DAY
    )
    globex = controller_client(registry, "globex")
    globex.acknowledge_notification(next(iter(globex.list_notifications())).id)
    clock.advance(15 * DAY)
    time.sleep(1.2)
    if close_while_down:
        config, port = registry.running.config, registry.running.port
        registry.running.stop(0)
        clock.advance(15 * DAY + timedelta(seconds=1))
        registry.running = server.start(replace(config, listen=f"127.0.0.1:{port}"))
    else:
        restart(registry)
        clock.advance(15 * DAY + timedelta(seconds=1))
    globex = controller_client(registry, "globex")
    eventually(
        lambda: state_of(globex, "globex", "llmcorp") == SubprocessorAuthorizationState.AUTHORIZED
    )
    time.sleep(1.2)
    authorised = store.AuditEvent.select().where(
        (store.AuditEvent.action == "subprocessor.change.authorize")
        & (store.AuditEvent.tenant == "globex")
    )
    assert authorised.count() == 1, "a window closing is applied exactly once"
    (change,) = list(globex.get_subprocessor_list("globex").pending_changes)
    assert change.change_notice == notice.name
    assert change.decision == ControllerDecision.AUTHORIZED


def test_notice_period_violation_names_the_controllers(registry: Harness) -> None:
    setup_controllers(
        registry,
        {
            "acme": ("GENERAL", 30, 30),
            "globex": ("GENERAL", 15, 15),
            "initech": ("SPECIFIC", 45, 5),
        },
    )
    us_subprocessor(registry.staff)
    before = store.size()
    with pytest.raises(errors.InvalidArgument) as err:
        registry.staff.propose_subprocessor_change(
            "ADDITION", "llmcorp", effective=clock.now() + 20 * DAY
        )
    fields = {v.field for v in err.value.violations}
    assert fields == {"change_notice.effective_time"}
    text = " ".join(v.description for v in err.value.violations)
    assert "acme" in text
    assert "initech" in text
    assert "globex" not in text
    assert store.size() == before
    assert notifications.max_id() == 0
    with pytest.raises(errors.InvalidArgument):
        registry.staff.propose_subprocessor_change("ADDITION", "llmcorp", effective=clock.now())


def test_replacement_and_removal(registry: Harness) -> None:
    setup_controllers(registry, {"acme": ("GENERAL", 9, 5), "globex": ("GENERAL", 9, 5)})
    staff = registry.staff
    factories.subprocessor(staff, "oldhost")
    factories.subprocessor(staff, "newhost")
    staff.propose_subprocessor_change("ADDITION", "oldhost", effective=clock.now() + 10 * DAY)
    factories.read_inbox(registry, "acme", "globex")
    clock.advance(10 * DAY + timedelta(seconds=1))
    eventually(lambda: core.may_use("acme", "oldhost"))
    swap = staff.propose_subprocessor_change(
        "REPLACEMENT", "newhost", replaces="oldhost", effective=clock.now() + 10 * DAY
    )
    factories.read_inbox(registry, "acme")
    assert swap.recipient_count == 2
    globex = controller_client(registry, "globex")
    globex.object_to_subprocessor_change(swap.name, reason="prefer the old host")
    clock.advance(10 * DAY + timedelta(seconds=1))
    eventually(lambda: core.may_use("acme", "newhost"))
    assert not core.may_use("acme", "oldhost")
    assert not core.may_use("globex", "newhost")
    acme = controller_client(registry, "acme")
    names_listed = {e.subprocessor for e in acme.get_subprocessor_list("acme").entries}
    assert names_listed == {"subprocessors/newhost"}
    removal = staff.propose_subprocessor_change("REMOVAL", "newhost", effective=clock.now() + DAY)
    # Only acme: globex objected, so newhost never served it (one engagement rule).
    assert removal.recipient_count == 1
    with pytest.raises(errors.FailedPrecondition):
        acme.object_to_subprocessor_change(removal.name, reason="no")
    clock.advance(DAY + timedelta(seconds=1))
    eventually(lambda: staff.get_subprocessor("newhost").status == SubprocessorStatus.RETIRED)
    assert not core.may_use("acme", "newhost")


def test_named_controllers_scope(registry: Harness) -> None:
    setup_controllers(registry, {"acme": ("GENERAL", 5, 5), "globex": ("GENERAL", 5, 5)})
    staff = registry.staff
    factories.subprocessor(
        staff, "paybox", service_category="PAYMENT_PROCESSING", named_controllers_only=True
    )
    with pytest.raises(errors.InvalidArgument) as err:
        staff.propose_subprocessor_change("ADDITION", "paybox", effective=clock.now() + 6 * DAY)
    assert [v.field for v in err.value.violations] == ["controller_ids"]
    with pytest.raises(errors.InvalidArgument) as err:
        staff.propose_subprocessor_change(
            "ADDITION", "paybox", effective=clock.now() + 6 * DAY, controller_ids=["nobody"]
        )
    assert [v.field for v in err.value.violations] == ["controller_ids[0]"]
    notice = staff.propose_subprocessor_change(
        "ADDITION", "paybox", effective=clock.now() + 6 * DAY, controller_ids=["acme"]
    )
    assert notice.recipient_count == 1
    globex = controller_client(registry, "globex")
    assert list(globex.list_notifications()) == []
    assert globex.get_subprocessor_list("globex").entries == ()


def test_tenant_isolation(registry: Harness) -> None:
    setup_controllers(registry, {"acme": ("GENERAL", 5, 5)})
    factories.controller(registry.staff, "globex")  # no DPA: not notified
    us_subprocessor(registry.staff)
    notice = registry.staff.propose_subprocessor_change(
        "ADDITION", "llmcorp", effective=clock.now() + 6 * DAY
    )
    assert notice.recipient_count == 1
    globex = controller_client(registry, "globex")
    with pytest.raises(errors.NotFound):
        globex.get_subprocessor_list("acme")
    with pytest.raises(errors.NotFound):
        globex.object_to_subprocessor_change(notice.name, reason="not mine")
    with pytest.raises(errors.NotFound):
        globex.get_subprocessor("llmcorp")
    acme = controller_client(registry, "acme")
    assert acme.get_subprocessor("llmcorp").legal_name == "LLM Corp Inc."
    events = store.AuditEvent.select().where(store.AuditEvent.action == "notification.create")
    assert [e.tenant for e in events] == ["acme"]
