"""Never stale across processes: a change committed through server process A
is seen by the very next CheckTransfer served by process B on the same
database, SQLite or PostgreSQL, on a quiet machine and with every core busy
(GDPR Art. 28(2) objections, safeguards, adequacy, DPA end)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from dpa_registry_api.v1 import transfers_pb2 as tpb
from registry import clock, pki
from tests import harness
from tests.test_transfers_api import EMAIL, USE, build_world, codes


@contextmanager
def _shared_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """One database two server processes share: a SQLite file or a PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/shared.db"
        return
    if not harness.postgres_url():
        pytest.skip(f"{harness.PG_ENV} not set")
    with harness.postgres_schema() as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("load", ["quiet", "busy"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_change_through_one_process_is_seen_by_the_next_check_in_another(
    dev_pki: pki.DevPki, backend: str, load: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if load == "busy":
        request.getfixturevalue("busy_cores")
    with _shared_database(backend, tmp_path) as url:
        a = harness.start(dev_pki, url)
        b = harness.ServerProcess(dev_pki, url)
        checker_b = b.client("service", "checker")
        try:
            world = build_world(a)

            def check_b(cid: str, sid: str) -> tpb.TransferDecision:
                return checker_b.check_transfer(
                    cid,
                    subprocessor_id=sid,
                    data_categories=EMAIL,
                    purpose=USE,
                    transfer_date=world.on,
                )

            # B builds its snapshot now; from here on it only moves forward.
            assert check_b("acme", "usscc").verdict == tpb.TRANSFER_VERDICT_ALLOWED
            assert codes(check_b("globex", "euhost")) == ["AUTHORIZATION_PENDING"]

            staff = world.staff
            for _ in range(3):
                sg = staff.get_safeguard("usscc", "us-scc")
                overdue = (world.on - timedelta(days=1)).isoformat()
                sg = staff.update_safeguard(
                    replace(sg, tia=replace(sg.tia, review_date=overdue)),
                    fields=["tia.review_date"],
                )
                assert "TIA_REVIEW_OVERDUE" in codes(check_b("acme", "usscc"))
                staff.update_safeguard(
                    replace(sg, tia=replace(sg.tia, review_date="2030-02-20")),
                    fields=["tia.review_date"],
                )
                assert check_b("acme", "usscc").verdict == tpb.TRANSFER_VERDICT_ALLOWED

            notice = next(
                n for n in staff.list_change_notices() if n.subprocessor == "subprocessors/euhost"
            )
            a.client("controller", "globex").approve_subprocessor_change(notice.name)
            approved = check_b("globex", "euhost")
            assert approved.verdict == tpb.TRANSFER_VERDICT_ALLOWED

            staff.record_adequacy_change("JP", "INVALIDATED", effective=world.on, source="CJEU")
            assert "ADEQUACY_NOT_IN_FORCE" in codes(check_b("acme", "jphost"))

            staff.terminate_agreement("globex", reason="ended")
            ended = check_b("globex", "euhost")
            assert codes(ended) == ["DPA_TERMINATED"]
            assert ended.revision > approved.revision
        finally:
            checker_b.close()
            stderr = b.stop()
            a.close()
            clock.reset()
        assert "Traceback" not in stderr, stderr
