"""The bounded reads behind a controller's sub-processor calls answer exactly
what the whole-registry reads answer (issue: flat at scale).

A random registry (platform-wide and named sub-processors in every status,
explicit states of every kind, DPAs active, ended and absent, notices open
and effective) is written straight into the tables on both backends; each
bounded read is compared with the reference it replaces: a page walk of
``page_of_controller`` with ``of_controller``, ``engaged``/``state`` with
``of_controller``, ``holdings_of`` with ``holders``, ``pending_changes`` and
``visible_to_controller`` with the rule computed from the seed in Python.
Through the API: GetSubprocessorList pages, and its tokens are bound.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dpa_client import errors
from dpa_registry_api.v1 import subprocessors_pb2 as pb
from registry import db
from registry.subprocessors import core, engagement, notices
from registry.subprocessors.types import AuthorizationState, Decision, NoticeState
from tests import factories
from tests.harness import Harness

CONTROLLERS = [f"c{i:02d}" for i in range(12)]


@pytest.fixture
def seeded(database_url: str) -> Iterator[dict[str, Any]]:
    """A random registry in the tables; yields what was written."""
    from registry.agreements.model import AgreementLine, AgreementRow
    from registry.subprocessors.model import (
        AuthorizationRow,
        NoticeRow,
        RecipientRow,
        SubprocessorRow,
    )

    database = db.open_database(database_url)
    db.migrate(database)
    rng = random.Random(12)
    now = datetime.now(UTC).replace(microsecond=0)
    sps: dict[str, tuple[str, str]] = {}
    explicit: dict[tuple[str, str], str] = {}
    recipients: list[dict[str, Any]] = []
    notice_rows: list[dict[str, Any]] = []
    for i in range(90):
        sid = f"sp{i:03d}"
        sps[sid] = (
            rng.choice(["PLATFORM", "PLATFORM", "NAMED_CONTROLLERS"]),
            rng.choice(["ACTIVE", "ACTIVE", "PROPOSED", "RETIRED"]),
        )
        for cid in CONTROLLERS:
            if rng.random() < 0.25:
                explicit[(cid, sid)] = rng.choice([s.value for s in AuthorizationState])
        if rng.random() < 0.4:
            nid = f"n{i:03d}"
            notice_rows.append(
                {
                    "notice_id": nid,
                    "kind": "REPLACEMENT" if i % 7 == 0 else "ADDITION",
                    "subprocessor_id": sid,
                    "replaced_id": f"sp{i + 1:03d}" if i % 7 == 0 else None,
                    "effective_time": now + timedelta(days=rng.randrange(-30, 30)),
                    "state": rng.choice([s.value for s in NoticeState]),
                    "create_time": now,
                }
            )
            for cid in rng.sample(CONTROLLERS, 4):
                recipients.append(
                    {
                        "notice_id": nid,
                        "controller_id": cid,
                        "mode": "GENERAL",
                        "notice_days": 30,
                        "objection_days": 14,
                        "notified_time": now - timedelta(minutes=rng.randrange(1000)),
                        "window_end": now,
                        "decision": rng.choice([d.value for d in Decision]),
                    }
                )
    lines = []
    agreements = []
    standing: dict[str, str] = {}
    for cid in CONTROLLERS:
        kind = rng.choice(["active", "ended", "none"])
        standing[cid] = kind
        if kind == "none":
            continue
        lines.append(
            {
                "controller_id": cid,
                "latest_version": 1,
                "active_version": 1 if kind == "active" else None,
                "ended_version": 1 if kind == "ended" else None,
            }
        )
        agreements.append(
            {
                "controller_id": cid,
                "version": 1,
                "state": "ACTIVE" if kind == "active" else "TERMINATED",
                "requested_by": "spiffe://7plus.one/staff/t",
                "proposal": "{}",
                "authorization_mode": "general",
                "notice_days": 30,
                "objection_days": 30,
                "breach_hours": 48,
                "end_of_contract": "DELETE",
                "create_time": now,
                "update_time": now,
            }
        )
    with db.transaction():
        db.insert_rows(
            SubprocessorRow,
            [
                {
                    "subprocessor_id": sid,
                    "display_name": sid,
                    "legal_name": f"{sid} Ltd",
                    "address": "1 Example Street",
                    "country": "EE",
                    "contact_email": f"p@{sid}.example",
                    "service_category": "HOSTING",
                    "locations": "EE",
                    "data_categories": "user",
                    "purpose": "hosting",
                    "dpf_status": "NOT_APPLICABLE",
                    "status": status,
                    "scope": scope,
                    "create_time": now,
                    "update_time": now,
                }
                for sid, (scope, status) in sps.items()
            ],
        )
        db.insert_rows(
            AuthorizationRow,
            [
                {"controller_id": c, "subprocessor_id": s, "state": st, "update_time": now}
                for (c, s), st in explicit.items()
            ],
        )
        db.insert_rows(NoticeRow, notice_rows)
        db.insert_rows(RecipientRow, recipients)
        db.insert_rows(AgreementRow, agreements)
        db.insert_rows(AgreementLine, lines)
    try:
        yield {
            "sps": sps,
            "explicit": explicit,
            "notices": notice_rows,
            "recipients": recipients,
        }
    finally:
        database.close()


def test_pages_of_a_controllers_list_are_its_whole_list_in_order(seeded: dict[str, Any]) -> None:
    for cid in CONTROLLERS:
        whole = [(sp.subprocessor_id, st) for sp, st in engagement.of_controller(cid).values()]
        assert whole == sorted(whole)
        for size in (1, 3, 7, 1000):
            walked: list[tuple[str, AuthorizationState]] = []
            after: str | None = None
            while True:
                page = engagement.page_of_controller(cid, after, size)
                assert len(page) <= size
                walked.extend((sp.subprocessor_id, st) for sp, st in page)
                if len(page) < size:
                    break
                after = page[-1][0].subprocessor_id
            assert walked == whole, (cid, size)


def test_one_engagement_and_state_agree_with_the_whole_list(seeded: dict[str, Any]) -> None:
    for cid in CONTROLLERS:
        whole = engagement.of_controller(cid)
        for sid in [*seeded["sps"], "nobody"]:
            one = engagement.engaged(cid, sid)
            expected = whole.get(sid)
            assert (one is None) == (expected is None), (cid, sid)
            if one is not None and expected is not None:
                assert one[0] == expected[0] and one[1] is expected[1]
            assert engagement.state(cid, sid) is (expected[1] if expected else None)


def test_holdings_of_one_controller_are_its_share_of_holders(seeded: dict[str, Any]) -> None:
    everyone = engagement.holders(list(seeded["sps"]))
    for cid in CONTROLLERS:
        assert engagement.holdings_of(cid) == [h for h in everyone if h.controller_id == cid]


def test_pending_changes_are_open_notices_and_undecided_copies(seeded: dict[str, Any]) -> None:
    state = {n["notice_id"]: n["state"] for n in seeded["notices"]}
    for cid in CONTROLLERS:
        expected = sorted(
            (r["notified_time"], r["notice_id"])
            for r in seeded["recipients"]
            if r["controller_id"] == cid
            and (state[r["notice_id"]] == "OPEN" or r["decision"] == "PENDING")
        )
        got = [(c.notified_time, c.notice.notice_id) for c in notices.pending_changes(cid)]
        assert got == expected, cid


def test_visibility_is_engagement_or_a_notice_received(seeded: dict[str, Any]) -> None:
    about: dict[str, set[str]] = {}
    for n in seeded["notices"]:
        about.setdefault(n["notice_id"], set()).add(n["subprocessor_id"])
        if n["replaced_id"]:
            about[n["notice_id"]].add(n["replaced_id"])
    for cid in CONTROLLERS:
        engaged = set(engagement.of_controller(cid))
        noticed = {
            sid
            for r in seeded["recipients"]
            if r["controller_id"] == cid
            for sid in about[r["notice_id"]]
        }
        for sid in seeded["sps"]:
            assert core.visible_to_controller(cid, sid) == (sid in engaged or sid in noticed)


def test_the_list_pages_through_the_api(registry: Harness) -> None:
    factories.active_dpa(registry, "acme")
    factories.active_dpa(registry, "globex")
    for sid in ("hostco", "mailco", "payco", "zetaco"):
        factories.engaged_subprocessor_direct(registry, sid)
    factories.engaged_subprocessor_direct(registry, "betaco", controllers=("acme",))
    factories.engaged_subprocessor_direct(registry, "gammaco", controllers=("globex",))
    acme = factories._controller_client(registry, "acme")
    whole = acme.get_subprocessor_list("acme")
    names = [e.subprocessor for e in whole.entries]
    assert names == [
        f"subprocessors/{s}" for s in ("betaco", "hostco", "mailco", "payco", "zetaco")
    ]
    request = pb.GetSubprocessorListRequest(parent="controllers/acme", page_size=2)
    walked: list[str] = []
    tokens: list[str] = []
    while True:
        page = acme._subprocessors.GetSubprocessorList(request)
        walked.extend(e.subprocessor for e in page.entries)
        if not page.next_page_token:
            break
        tokens.append(page.next_page_token)
        request.page_token = page.next_page_token
    assert walked == names and len(tokens) == 2
    # Another controller's list, or another caller, does not take this token.
    staff = registry.staff
    assert staff.get_subprocessor_list("acme", page_size=2) == whole
    with pytest.raises(errors.InvalidArgument):
        staff._call(
            staff._subprocessors.GetSubprocessorList,
            pb.GetSubprocessorListRequest(parent="controllers/acme", page_token=tokens[0]),
            idempotent=True,
        )
    globex = factories._controller_client(registry, "globex")
    with pytest.raises(errors.InvalidArgument):
        globex._call(
            globex._subprocessors.GetSubprocessorList,
            pb.GetSubprocessorListRequest(parent="controllers/globex", page_token=tokens[0]),
            idempotent=True,
        )
