"""Consistency tokens (a write's receipt names the registry revision; the
check RPCs accept fully consistent / at least R / minimize latency) and the
shared revision map that proves freshness without a query
(docs/adr/0014-consistency-and-revision-map.md)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from dpa_client import errors
from dpa_client._base import translate
from dpa_registry_api.v1 import agreements_pb2 as apb
from dpa_registry_api.v1 import agreements_pb2_grpc as apb_grpc
from dpa_registry_api.v1 import consistency_pb2 as cpb
from dpa_registry_api.v1 import transfers_pb2 as tpb
from dpa_registry_api.v1 import transfers_pb2_grpc as tpb_grpc
from registry import clock, consistency, db, pki, revision
from registry.errors import FailedPrecondition, InvalidArgument
from registry.transfers.cache import SnapshotCache
from registry.transfers.snapshot import read_revision
from tests import harness
from tests.harness import Harness
from tests.test_transfers_api import EMAIL, USE, World, audit_store_size, build_world, codes

# -- the requirement, pure -------------------------------------------------------


def test_requirement_from_the_wire() -> None:
    assert consistency.from_wire(0, 0) is consistency.FULLY_CONSISTENT
    assert consistency.from_wire(1, 0) is consistency.FULLY_CONSISTENT
    assert consistency.from_wire(2, 7) == consistency.Requirement(consistency.Mode.AT_LEAST, 7)
    assert consistency.from_wire(3, 0).mode is consistency.Mode.MINIMIZE_LATENCY
    for mode, at_least in ((2, 0), (2, -1), (1, 5), (3, 5), (0, 5)):
        with pytest.raises(InvalidArgument) as err:
            consistency.from_wire(mode, at_least)
        assert [v.field for v in err.value.violations] == ["consistency.at_least_revision"]


def test_requirement_met_and_reached() -> None:
    assert not consistency.FULLY_CONSISTENT.met_by(10**9)
    assert consistency.Requirement(consistency.Mode.MINIMIZE_LATENCY).met_by(0)
    at_5 = consistency.Requirement(consistency.Mode.AT_LEAST, 5)
    assert at_5.met_by(5)
    assert not at_5.met_by(4)
    consistency.require_reached(at_5, 5)
    with pytest.raises(FailedPrecondition, match="beyond the end"):
        consistency.require_reached(at_5, 4)


# -- the revision map, on a file ---------------------------------------------------


def test_revision_map_is_shared_monotone_and_detects_torn_reads(tmp_path: Path) -> None:
    path = revision.map_path(str(tmp_path / "r.db"))
    first = revision.RevisionMap(path)
    second = revision.RevisionMap(path)  # another process, as far as locks go
    try:
        first.raise_to(7)
        assert second.read() == 7
        second.raise_to(5)  # a rolled-back writer's lower revision never lowers M
        assert first.read() == 7
        # Half a write: value and check word disagree, so nothing is proved.
        first._map[0:8] = (9).to_bytes(8, "little", signed=True)
        assert second.read() is None
        second.raise_to(9)
        assert first.read() == 9
    finally:
        first.close()
        second.close()


def test_revision_map_proves_nothing_until_written_and_never_goes_down(tmp_path: Path) -> None:
    path = revision.map_path(str(tmp_path / "r.db"))
    first = revision.RevisionMap(path)
    assert first.read() is None  # a new map: every check queries
    first.raise_to(40)
    first.close()
    again = revision.RevisionMap(path)  # reopened later: kept, never reset
    assert again.read() == 40
    again.raise_to(3)
    assert again.read() == 40
    again.close()


def test_a_new_map_beside_a_filled_database_is_primed_with_its_revision(tmp_path: Path) -> None:
    """A database loaded in bulk or restored beside a new map: the server
    writes the committed revision into the map at start (``revision.prime``),
    so checks are proved by the map from the first one, not after a write."""
    bound = db.database.obj
    database = db.open_database(f"sqlite:///{tmp_path}/primed.db")
    revision.reset()
    try:
        db.migrate(database)
        database.execute_sql("UPDATE log_head SET size = 12 WHERE id = 1")
        signal = revision.shared()
        assert signal is not None
        assert signal.read() is None  # never written: every check would query
        revision.prime()
        assert signal.read() == 12
        signal.raise_to(20)  # a map ahead of the log (a write in flight) stays ahead
        revision.prime()
        assert signal.read() == 20
    finally:
        revision.reset()
        database.close()
        db.database.initialize(bound)


def test_priming_waits_for_the_write_lock_only_so_long_and_start_goes_on(
    tmp_path: Path,
) -> None:
    """Another process holding SQLite's write lock past the busy timeout:
    the map stays unwritten (checks query) and priming does not fail."""
    bound = db.database.obj
    path = tmp_path / "locked.db"
    database = db.open_database(f"sqlite:///{path}")
    revision.reset()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        db.migrate(database)
        database.execute_sql("PRAGMA busy_timeout = 50")
        other.execute("BEGIN IMMEDIATE")
        revision.prime()
        signal = revision.shared()
        assert signal is not None
        assert signal.read() is None
        other.execute("ROLLBACK")
        revision.prime()
        assert signal.read() == 0
    finally:
        other.close()
        revision.reset()
        database.close()
        db.database.initialize(bound)


# -- through the RPCs, both backends ---------------------------------------------


@pytest.fixture
def world(registry: Harness) -> World:
    return build_world(registry)


def _transfer(world: World, **consistency_fields: int) -> tpb.CheckTransferRequest:
    return tpb.CheckTransferRequest(
        controller_id="acme",
        subprocessor_id="euhost",
        data_categories=EMAIL,
        purpose=USE,
        transfer_date=world.on.isoformat(),
        consistency=cpb.Consistency(**consistency_fields),  # type: ignore[arg-type]
    )


def _resource_at(revision: int) -> str:
    """The resource of the last audit entry a revision covers."""
    from registry.audit import store as audit_store

    with db.database.connection_context():
        ((_, resource),) = audit_store.events_between(revision - 1, revision)
    return resource


def test_a_write_receipt_names_the_revision_and_a_check_honours_it(world: World) -> None:
    staff = world.staff
    sg = staff.get_safeguard("usscc", "us-scc")
    sg = replace(sg, tia=replace(sg.tia, review_date=(world.on - timedelta(days=1)).isoformat()))
    before = audit_store_size(world)
    staff.update_safeguard(sg, fields=["tia.review_date"])
    receipt = staff.last_receipt
    assert receipt is not None
    # The write's own revision (the scheduler may have written since): the
    # log's last entry at that revision is this write.
    assert before < receipt.revision <= audit_store_size(world)
    assert "us-scc" in _resource_at(receipt.revision)
    decision = world.check("acme", "usscc", at_least_revision=receipt.revision)
    assert decision.revision >= receipt.revision
    assert "TIA_REVIEW_OVERDUE" in codes(decision)
    # The freshest snapshot already held: here the same one.
    assert world.check("acme", "usscc", minimize_latency=True).revision == decision.revision
    processing = world.checker.check_processing(
        "acme",
        purpose=USE,
        data_categories=EMAIL,
        operation="STORE",
        at_least_revision=receipt.revision,
    )
    assert processing.revision >= receipt.revision


def test_a_token_beyond_the_log_is_failed_precondition(world: World) -> None:
    beyond = audit_store_size(world) + 1000
    with pytest.raises(errors.FailedPrecondition, match=r"consistency\.at_least_revision"):
        world.check("acme", "euhost", at_least_revision=beyond)
    with pytest.raises(errors.FailedPrecondition, match=r"consistency\.at_least_revision"):
        world.checker.check_processing(
            "acme", purpose=USE, data_categories=EMAIL, operation="STORE", at_least_revision=beyond
        )


@pytest.mark.parametrize(
    ("mode", "at_least", "field"),
    [
        (cpb.CONSISTENCY_MODE_AT_LEAST_REVISION, 0, "consistency.at_least_revision"),
        (cpb.CONSISTENCY_MODE_MINIMIZE_LATENCY, 5, "consistency.at_least_revision"),
        (cpb.CONSISTENCY_MODE_FULLY_CONSISTENT, -3, "consistency.at_least_revision"),
        (77, 0, "consistency.mode"),
    ],
)
def test_a_malformed_requirement_names_the_field(
    world: World, mode: int, at_least: int, field: str
) -> None:
    transfers = tpb_grpc.TransferServiceStub(world.checker.channel)
    instructions = apb_grpc.InstructionServiceStub(world.checker.channel)
    wanted = cpb.Consistency(mode=mode, at_least_revision=at_least)  # type: ignore[arg-type]
    processing = apb.CheckProcessingRequest(
        controller="controllers/acme",
        purpose=USE,
        data_categories=EMAIL,
        operation=apb.PROCESSING_OPERATION_STORE,
        consistency=wanted,
    )
    for call in (
        lambda: transfers.CheckTransfer(_transfer(world, mode=mode, at_least_revision=at_least)),
        lambda: instructions.CheckProcessing(processing),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in translate(err.value).violations] == [field]


# -- the map proves freshness without a query (SQLite) ----------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_checks_with_nothing_committed_ask_no_query_and_a_commit_is_seen(world: World) -> None:
    queries: list[int] = []

    def counted() -> int:
        queries.append(1)
        return read_revision()

    cache = SnapshotCache(revision=counted)
    with db.database.connection_context():
        first = cache.current()
        asked = len(queries)
        for _ in range(200):
            assert cache.current() is first
        assert len(queries) == asked
        world.staff.record_adequacy_change("JP", "INVALIDATED", effective=world.on, source="CJEU")
        after = cache.current()
        assert first.revision < after.revision <= audit_store_size(world)
        assert len(queries) == asked + 1


def test_sqlite_a_change_through_one_process_is_seen_by_the_next_check_in_another(
    dev_pki: pki.DevPki, tmp_path: Path
) -> None:
    """The never-stale test of tests/test_transfers_multiprocess.py on SQLite,
    where process B proves freshness from the revision map."""
    url = f"sqlite:///{tmp_path}/registry.db"
    a = harness.start(dev_pki, url)
    b = harness.ServerProcess(dev_pki, url)
    checker_b = b.client("service", "checker")
    try:
        world = build_world(a)

        def check_b(sid: str) -> tpb.TransferDecision:
            return checker_b.check_transfer(
                "acme",
                subprocessor_id=sid,
                data_categories=EMAIL,
                purpose=USE,
                transfer_date=world.on,
            )

        assert check_b("usscc").verdict == tpb.TRANSFER_VERDICT_ALLOWED
        staff = world.staff
        for _ in range(5):
            sg = staff.get_safeguard("usscc", "us-scc")
            overdue = (world.on - timedelta(days=1)).isoformat()
            sg = staff.update_safeguard(
                replace(sg, tia=replace(sg.tia, review_date=overdue)), fields=["tia.review_date"]
            )
            assert "TIA_REVIEW_OVERDUE" in codes(check_b("usscc"))
            staff.update_safeguard(
                replace(sg, tia=replace(sg.tia, review_date="2030-02-20")),
                fields=["tia.review_date"],
            )
            assert check_b("usscc").verdict == tpb.TRANSFER_VERDICT_ALLOWED
        staff.record_adequacy_change("JP", "INVALIDATED", effective=world.on, source="CJEU")
        assert "ADEQUACY_NOT_IN_FORCE" in codes(check_b("jphost"))
    finally:
        checker_b.close()
        stderr = b.stop()
        a.close()
        clock.reset()
    assert "Traceback" not in stderr, stderr
