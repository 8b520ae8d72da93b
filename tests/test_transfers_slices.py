"""A check answered before the full transfer snapshot is in place reads only
its slice (registry.transfers.snapshot.build_slice); it decides exactly as
the full snapshot at the same revision does. On both backends, over a
random registry written straight into the tables."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from registry import consistency, db
from registry.transfers import cache as snapshot_cache
from registry.transfers import snapshot as snap
from registry.transfers.model import TransferRequest
from registry.transfers.reference import default_reference

COUNTRIES = ["EE", "FI", "US", "JP", "IN", "GB", "BR"]
CATEGORIES = ["user.contact.email", "user.financial", "user.location"]


@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[list[str], list[str]]]:
    from registry.agreements.model import AgreementLine, AgreementRow, InstructionRow
    from registry.controllers.model import ControllerRow
    from registry.subprocessors.model import AuthorizationRow, SubprocessorRow
    from registry.transfers.store import SafeguardRow

    database = db.open_database(database_url)
    db.migrate(database)
    rng = random.Random(5)
    now = datetime.now(UTC)
    cids = [f"c{i:02d}" for i in range(30)]
    sids = [f"sp{i:02d}" for i in range(25)]
    controllers, agreements, lines, instructions = [], [], [], []
    for cid in cids:
        controllers.append(
            {
                "controller_id": cid,
                "legal_name": cid,
                "country": "EE",
                "contact_email": f"p@{cid}.example",
                "dpo_email": f"d@{cid}.example",
                "create_time": now,
                "update_time": now,
            }
        )
        kind = rng.choice(["active", "active", "ended", "none"])
        if kind == "none":
            continue
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
        instructed = rng.random() < 0.7
        lines.append(
            {
                "controller_id": cid,
                "latest_version": 1,
                "active_version": 1 if kind == "active" else None,
                "ended_version": 1 if kind == "ended" else None,
                "instruction_version": 1 if instructed else None,
                "latest_instruction": 1 if instructed else 0,
            }
        )
        if instructed:
            body = {
                "countries": rng.sample(COUNTRIES, 4),
                "data_categories": rng.sample(["user.contact", "user.financial", "user"], 1),
            }
            instructions.append(
                {
                    "controller_id": cid,
                    "version": 1,
                    "agreement_version": 1,
                    "issued_by": "spiffe://7plus.one/controller/" + cid,
                    "issue_time": now,
                    "body": json.dumps(body),
                }
            )
    sps, safeguards, states = [], [], []
    for sid in sids:
        country = rng.choice(COUNTRIES)
        sps.append(
            {
                "subprocessor_id": sid,
                "display_name": sid,
                "legal_name": sid,
                "address": "1 Street",
                "country": country,
                "contact_email": f"p@{sid}.example",
                "service_category": "HOSTING",
                "locations": ",".join(rng.sample(COUNTRIES, 2)),
                "data_categories": "user",
                "purpose": "hosting",
                "dpf_status": rng.choice(["CERTIFIED", "NOT_CERTIFIED"])
                if country == "US"
                else "NOT_APPLICABLE",
                "dpf_checked_date": now.date() if country == "US" else None,
                "status": rng.choice(["ACTIVE", "ACTIVE", "PROPOSED", "RETIRED"]),
                "scope": rng.choice(["PLATFORM", "NAMED_CONTROLLERS"]),
                "create_time": now,
                "update_time": now,
            }
        )
        if rng.random() < 0.5:
            safeguards.append(
                {
                    "subprocessor_id": sid,
                    "safeguard_id": "scc",
                    "destination_country": rng.choice(["US", "IN", "BR"]),
                    "mechanism": "SCC",
                    "scc_decision": "EU_2021_914",
                    "scc_module": 3,
                    "clause9_option": 2,
                    "signed_on": date(2024, 3, 1),
                    "tia_reference": "TIA-1",
                    "tia_date": date(2024, 2, 20),
                    "tia_review_due": date(2030, 2, 20),
                    "create_time": now,
                    "update_time": now,
                }
            )
        for cid in rng.sample(cids, 8):
            states.append(
                {
                    "controller_id": cid,
                    "subprocessor_id": sid,
                    "state": rng.choice(["AUTHORIZED", "PENDING", "OBJECTED", "WITHDRAWN"]),
                    "update_time": now,
                }
            )
    with db.transaction():
        db.insert_rows(ControllerRow, controllers)
        db.insert_rows(AgreementRow, agreements)
        db.insert_rows(AgreementLine, lines)
        db.insert_rows(InstructionRow, instructions)
        db.insert_rows(SubprocessorRow, sps)
        db.insert_rows(SafeguardRow, safeguards)
        db.insert_rows(AuthorizationRow, states)
    try:
        yield cids, sids
    finally:
        database.close()


def test_a_slice_decides_as_the_full_snapshot(seeded: tuple[list[str], list[str]]) -> None:
    cids, sids = seeded
    base = default_reference()
    full = snap.build(base)
    rng = random.Random(9)
    on = datetime.now(UTC).date()
    allowed = 0
    for i in range(400):
        cid = rng.choice([*cids, "nobody"])
        sid = rng.choice([*sids, "nothing", None])
        request = TransferRequest(
            controller_id=cid,
            data_categories=tuple(rng.sample(CATEGORIES, rng.randrange(1, 3))),
            purpose="essential.service",
            on=on + timedelta(days=i % 3),
            subprocessor_id=sid,
            recipient=None if sid else "one-off importer",
            destination_country=None if sid else rng.choice(COUNTRIES),
        )
        part = snap.build_slice(base, cid, sid)
        assert part.revision == full.revision
        assert (cid in part.controllers) == (cid in full.controllers)
        assert (sid in part.subprocessors) == (sid in full.subprocessors)
        if cid in full.controllers and (sid is None or sid in full.subprocessors):
            expected = full.decide(request)
            assert part.decide(request) == expected, request
            allowed += expected.allowed
    assert allowed  # the registry is not all refusals


def test_checks_before_the_first_build_read_slices_then_the_snapshot(
    seeded: tuple[list[str], list[str]],
) -> None:
    cids, sids = seeded
    cache = snapshot_cache.SnapshotCache()
    part = cache.for_check(consistency.FULLY_CONSISTENT, cids[0], sids[0])
    assert cache.slices == 1
    assert cids[0] in part.controllers
    cache.warm()
    builder = cache._builder
    if builder is not None:
        builder.join()
    held = cache.peek()
    assert held is not None and held.revision == part.revision
    assert cache.for_check(consistency.FULLY_CONSISTENT, cids[1], sids[1]) is held
