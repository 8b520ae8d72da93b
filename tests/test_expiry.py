"""Expiry reaches those who must hear it, once: a measure's evidence
(certificate) entering its warning window and expiring reaches every
controller with an ACTIVE DPA; a transfer safeguard's review falling due and
passing reaches every controller whose data the sub-processor holds. Driven
by the server's own scheduler as the clock moves, on each backend."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from dpa_client import evidence
from registry import clock, expiry
from registry.subprocessors import scheduler
from tests import harness
from tests.harness import Harness
from tests.test_records import _scenario


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    return found


def _inbox(h: Harness, cid: str) -> list[Any]:
    return list(h.client("controller", cid).list_notifications(cid))


def _titled(h: Harness, cid: str, words: str) -> list[Any]:
    return [n for n in _inbox(h, cid) if words in n.title]


def test_expiry_is_told_once_to_those_who_must_hear_it(registry: Harness) -> None:
    _scenario(registry)  # acme and globex with ACTIVE DPAs; hostco engaged for both
    staff = registry.staff
    today = clock.now().date()
    staff.create_measure(
        "soc2",
        category="CERTIFICATION",
        title="SOC 2 Type II",
        description="Annual SOC 2 Type II audit of the platform",
        evidence=[
            evidence(
                "SOC 2 Type II report",
                "Audit Firm",
                "Platform",
                "SOC2-2026",
                "2025-01-01",
                (today + timedelta(days=45)).isoformat(),
            )
        ],
    )
    sg = staff.get_safeguard("hostco", "in-scc")
    sg = replace(sg, review_date=(today + timedelta(days=50)).isoformat())
    staff.update_safeguard(sg, fields=["review_date"])
    # Nothing due yet.
    caller = scheduler.system_caller(harness.TRUST_DOMAIN)
    assert expiry.run_due(caller) == 0

    clock.advance(timedelta(days=21))  # 24 days left on the report, 29 on the review
    for cid in ("acme", "globex"):
        [report] = _eventually(lambda cid=cid: _titled(registry, cid, "expires: SOC 2"))
        assert report.payload["measure"] == "measures/soc2"
        assert report.payload["status"] == "EXPIRING"
        assert "24 days left" in report.body
        [review] = _eventually(lambda cid=cid: _titled(registry, cid, "due for review"))
        assert review.resource == "subprocessors/hostco/safeguards/in-scc"
        assert review.payload["stage"] == "DUE_SOON"
    # Sent once: the scheduler's next looks, and another scheduler, find nothing.
    assert expiry.run_due(caller) == 0
    assert len(_titled(registry, "acme", "SOC 2")) == 1

    clock.advance(timedelta(days=30))  # both dates passed
    for cid in ("acme", "globex"):
        [expired] = _eventually(lambda cid=cid: _titled(registry, cid, "expired: SOC 2"))
        assert "processor's statement alone" in expired.body
        [overdue] = _eventually(lambda cid=cid: _titled(registry, cid, "review overdue"))
        assert "refused" in overdue.body
    assert expiry.run_due(caller) == 0
    assert len(_titled(registry, "acme", "SOC 2")) == 2
    # Staff read the warnings in the audit log (processor-wide entries).
    events = [json.loads(e.body) for e in staff.audit_entries()]
    actions = {e["action"] for e in events if e["resource"] == "measures/soc2"}
    assert {"measure.evidence.expiring", "measure.evidence.expired"} <= actions
