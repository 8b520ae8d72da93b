"""Breach notification obligations end to end, over real mTLS, on each backend:
reporting, who is affected, live notices with each controller's deadline,
phases, acknowledgement, overdue detection, tenant isolation and the audit
trail each controller can verify."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest

from dpa_client import (
    BreachObligation,
    BreachStatus,
    NotificationKind,
    ObligationState,
    RegistryClient,
    errors,
)
from dpa_client.audit import LogVerifier
from registry import clock, keys
from registry.config import Config
from tests import factories
from tests.harness import Harness

ORIGIN = Config().log_origin


def _now() -> Any:
    return clock.now()


def _collect(watch: Any, count: int, timeout: float = 15.0) -> list[Any]:
    got: list[Any] = []
    done = threading.Event()

    def run() -> None:
        for n in watch:
            got.append(n)
            if len(got) >= count:
                break
        done.set()

    threading.Thread(target=run, daemon=True).start()
    done.wait(timeout)
    watch.cancel()
    return got


def _audit(client: RegistryClient) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in client.audit_entries()]


def _world(h: Harness) -> tuple[RegistryClient, RegistryClient, RegistryClient]:
    """acme (24 h, Tallinn) and globex (72 h, New York) use the hosting
    sub-processor; initech (48 h) has a DPA but not that sub-processor."""
    staff = h.staff
    factories.controller(staff, "acme", time_zone="Europe/Tallinn")
    factories.controller(staff, "globex", time_zone="America/New_York")
    factories.controller(staff, "initech")
    factories.active_dpa_direct("acme", breach_hours=24)
    factories.active_dpa_direct("globex", breach_hours=72)
    factories.active_dpa_direct("initech", breach_hours=48)
    factories.engaged_subprocessor_direct(h, "hostco", controllers=("acme", "globex"))
    factories.engaged_subprocessor_direct(h, "payco", controllers=("initech",))
    return staff, h.client("controller", "acme"), h.client("controller", "globex")


def _states(staff: RegistryClient, breach_id: str) -> dict[str, BreachObligation]:
    return {o.controller.split("/")[1]: o for o in staff.breach_obligations(breach_id)}


def test_done_when_scenario(registry: Harness) -> None:
    """Staff report a breach at a hosting sub-processor; exactly its users get a
    notice live with the right deadline; one acknowledges; the other becomes
    overdue once its deadline passes; every step verifies in the audit log."""
    staff, acme, globex = _world(registry)
    acme_watch = acme.watch_breach_notices()
    globex_watch = globex.watch_breach_notices()
    aware = _now() - timedelta(hours=1)

    breach = staff.report_breach(
        factories.breach_details(("hostco",)),
        awareness_time=aware,
        detection_time=aware - timedelta(hours=2),
    )
    bid = breach.breach_id
    assert breach.counts.affected == 2 and breach.counts.sent == 2

    (acme_n,) = _collect(acme_watch, 1)
    (globex_n,) = _collect(globex_watch, 1)
    assert acme_n.kind == NotificationKind.BREACH
    assert acme_n.payload["breach"] == f"breaches/{bid}"
    assert acme_n.payload["notification_hours"] == 24
    assert globex_n.payload["notification_hours"] == 72
    acme_deadline = aware + timedelta(hours=24)
    assert acme_n.payload["deadline"] == clock.rfc3339(acme_deadline)
    assert acme_n.payload["deadline_local"].endswith(("+02:00", "+03:00"))
    assert globex_n.payload["deadline_local"].endswith(("-05:00", "-04:00"))
    # initech has a DPA but does not use hostco: nothing in its inbox.
    initech = factories._controller_client(registry, "initech")
    assert list(initech.list_breach_notices()) == []
    assert [n for n in initech.list_notifications() if n.kind == NotificationKind.BREACH] == []

    acked = acme.acknowledge_breach_notice(bid)
    assert acked.state == ObligationState.ACKNOWLEDGED
    states = _states(staff, bid)
    assert set(states) == {"acme", "globex"}
    assert states["acme"].state == ObligationState.ACKNOWLEDGED
    assert states["globex"].state == ObligationState.SENT
    assert not states["globex"].overdue

    clock.advance(timedelta(hours=72))  # globex's 72 h from awareness have passed
    states = _states(staff, bid)
    assert states["globex"].overdue
    assert timedelta(minutes=59) < states["globex"].overdue_by < timedelta(hours=2)
    assert not states["acme"].overdue
    overdue = list(staff.breach_obligations(bid, overdue_only=True))
    assert [o.controller for o in overdue] == ["controllers/globex"]
    assert staff.get_breach(bid).counts.overdue == 1

    # Audit: staff see the report; each controller verifies its own steps and
    # sees nothing of the report itself (which would name no one, but is
    # processor-wide) nor of the other controller.
    staff_actions = [(e["action"], e["tenant"]) for e in _audit(staff)]
    assert ("breach.report", None) in staff_actions
    acme_entries = [e for e in _audit(acme) if e["resource"].endswith(f"breachNotices/{bid}")]
    assert [e["action"] for e in acme_entries] == [
        "breach.notice.send",
        "breach.notice.acknowledge",
    ]
    globex_entries = [e for e in _audit(globex) if "breach" in e["action"]]
    assert [e["action"] for e in globex_entries] == ["breach.notice.send"]
    assert all(e["tenant"] == "globex" for e in globex_entries)
    assert not any(e["action"].startswith("breach.report") for e in _audit(acme))
    # ... and proves those entries are in the signed log (inclusion proofs).
    for client in (acme, globex):
        report = client.verify_log(
            LogVerifier([keys.load(registry.pki.signing_key, ORIGIN).vkey], ORIGIN)
        )
        assert report.entries_verified >= 1


def test_controller_sees_only_its_own_notice(registry: Harness) -> None:
    staff, acme, _ = _world(registry)
    aware = _now() - timedelta(minutes=10)
    bid = staff.report_breach(
        factories.breach_details(("hostco", "payco")),
        awareness_time=aware,
        detection_time=aware,
    ).breach_id
    notice = acme.get_breach_notice(bid)
    assert notice.controller == "controllers/acme"
    # Its own sub-processors only: not payco (initech's), and no controller list.
    assert list(notice.current.subprocessors) == ["hostco"]
    assert "globex" not in str(notice) and "initech" not in str(notice)
    with pytest.raises(errors.NotFound):
        acme.get_breach_notice(bid, "globex")
    with pytest.raises(errors.NotFound):
        acme.acknowledge_breach_notice("no-such-breach")
    with pytest.raises(errors.PermissionDenied):
        acme.get_breach(bid)
    with pytest.raises(errors.PermissionDenied):
        list(acme.breach_obligations(bid))
    assert [n.controller for n in acme.list_breach_notices()] == ["controllers/acme"]
    with pytest.raises(errors.NotFound):
        list(acme.list_breach_notices("globex"))
    inbox = list(acme.list_notifications())
    assert all("globex" not in n.body and "initech" not in str(n.payload) for n in inbox)
    # The supervisory clock runs from acme's own notification.
    left = notice.supervisory_time_left
    assert left is not None
    assert timedelta(hours=71) < left <= timedelta(hours=72)


def test_phases_reach_notified_controllers_and_nothing_is_overwritten(registry: Harness) -> None:
    staff, acme, _ = _world(registry)
    aware = _now()
    b = staff.report_breach(
        factories.breach_details(("hostco",)), awareness_time=aware, detection_time=aware
    )
    watch = acme.watch_breach_notices()
    assert len(_collect(watch, 1)) == 1
    watch = acme.watch_breach_notices(after=watch.cursor)
    from dpa_client import BreachDetails

    b2 = staff.add_breach_phase(
        b.breach_id,
        BreachDetails(
            data_categories=["user.contact.phone_number"],
            approx_data_subjects=3000,
            measures="All tenants' keys rotated",
        ),
        status="CONTAINED",
        etag=b.etag,
    )
    assert [p.number for p in b2.phases] == [1, 2]
    assert b2.phases[0].info.approx_data_subjects == 1200  # phase 1 unchanged
    assert b2.current.approx_data_subjects == 3000
    assert b2.status == BreachStatus.CONTAINED
    (update,) = _collect(watch, 1)
    assert update.payload["phases"] == [2.0]
    assert "Update 2" in update.title
    notice = acme.get_breach_notice(b.breach_id)
    assert [p.number for p in notice.phases] == [1, 2]
    assert list(notice.notifications) == sorted(notice.notifications)
    assert len(notice.notifications) == 2
    # Stale etag, illegal transitions, empty phases.
    with pytest.raises(errors.Conflict):
        staff.add_breach_phase(b.breach_id, BreachDetails(measures="x"), etag=b.etag)
    with pytest.raises(errors.InvalidArgument):
        staff.add_breach_phase(b.breach_id)
    staff.add_breach_phase(b.breach_id, status="CLOSED")
    with pytest.raises(errors.FailedPrecondition):
        staff.add_breach_phase(b.breach_id, status="OPEN")
    with pytest.raises(errors.FailedPrecondition):
        staff.adjust_affected_controllers(b.breach_id, add=[("initech", "late find")])


def test_staff_adjustments_with_reasons_and_withdrawal(registry: Harness) -> None:
    staff, acme, globex = _world(registry)
    initech = factories._controller_client(registry, "initech")
    aware = _now()
    b = staff.report_breach(
        factories.breach_details(("hostco",), systems=["log-cluster-2"]),
        awareness_time=aware,
        detection_time=aware,
        add=[("initech", "its logs are on log-cluster-2")],
        remove=[("globex", "its tenant runs on the unaffected region")],
    )
    assert _states(staff, b.breach_id).keys() == {"acme", "globex", "initech"} - {"globex"}
    ob = _states(staff, b.breach_id)["initech"]
    assert ob.notification_hours == 48
    assert list(ob.reasons) == ["added by staff: its logs are on log-cluster-2"]
    assert list(globex.list_breach_notices()) == []
    assert initech.get_breach_notice(b.breach_id).current.systems == ("log-cluster-2",)
    # Removing a notified controller withdraws its obligation and tells it.
    after = staff.adjust_affected_controllers(
        b.breach_id, remove=[("initech", "logs were encrypted with a key not exposed")]
    )
    assert [(a.controller, a.added) for a in after.adjustments] == [
        ("controllers/initech", True),
        ("controllers/globex", False),
        ("controllers/initech", False),
    ]
    states = _states(staff, b.breach_id)
    assert states["initech"].state == ObligationState.WITHDRAWN
    assert states["initech"].withdraw_reason == "logs were encrypted with a key not exposed"
    inbox = [n for n in initech.list_notifications() if n.resource == f"breaches/{b.breach_id}"]
    assert inbox[-1].payload["withdrawn"] is True
    assert after.counts.affected == 1
    with pytest.raises(errors.InvalidArgument) as err:
        staff.adjust_affected_controllers(b.breach_id, add=[("nobody", "x")])
    assert err.value.violations[0].field == "add[0].controller_id"
    del acme


def test_platform_wide_subprocessor_and_held_notices(registry: Harness) -> None:
    staff = registry.staff
    for cid, hours in (("acme", 24), ("globex", 48), ("initech", 72)):
        factories.controller(staff, cid)
        factories.active_dpa_direct(cid, breach_hours=hours)
    factories.controller(staff, "nodpa")  # no DPA: not a platform user
    factories.engaged_subprocessor_direct(registry, "cloudco")  # platform-wide
    aware = _now() - timedelta(hours=30)
    b = staff.report_breach(
        factories.breach_details(("cloudco",)),
        awareness_time=aware,
        detection_time=aware,
        hold_notices=True,
    )
    assert (b.counts.affected, b.counts.pending, b.counts.sent) == (3, 3, 0)
    # Held notices are invisible to the controllers, and already overdue for acme.
    acme = registry.client("controller", "acme")
    with pytest.raises(errors.NotFound):
        acme.get_breach_notice(b.breach_id)
    states = _states(staff, b.breach_id)
    assert states["acme"].state == ObligationState.PENDING
    assert states["acme"].overdue and not states["globex"].overdue
    sent = staff.send_breach_notices(b.breach_id)
    assert (sent.counts.pending, sent.counts.sent, sent.counts.overdue) == (0, 3, 1)
    assert acme.get_breach_notice(b.breach_id).state == ObligationState.SENT
    with pytest.raises(errors.InvalidArgument):
        staff.send_breach_notices(b.breach_id)


def test_report_validation_and_idempotency(registry: Harness) -> None:
    staff, _, _ = _world(registry)
    now = _now()
    with pytest.raises(errors.InvalidArgument) as err:
        staff.report_breach(
            factories.breach_details(("nope",), data_categories=["user.bogus"]),
            awareness_time=now + timedelta(hours=2),
            detection_time=now,
        )
    fields = {v.field for v in err.value.violations}
    assert {"awareness_time", "info.data_categories[0]"} <= fields
    with pytest.raises(errors.InvalidArgument) as err:
        staff.report_breach(
            factories.breach_details(("nope",)), awareness_time=now, detection_time=now
        )
    assert err.value.violations[0].field == "info.subprocessors[0]"
    details = factories.breach_details(("hostco",))
    first = staff.report_breach(details, awareness_time=now, detection_time=now, request_id="r-1")
    again = staff.report_breach(details, awareness_time=now, detection_time=now, request_id="r-1")
    assert first.breach_id == again.breach_id
    assert len(list(staff.list_breaches())) == 1
    assert staff.get_breach(first.breach_id).counts.sent == 2
