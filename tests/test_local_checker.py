"""LocalChecker (the client library deciding in process) against the server:
the same answers on a corpus of varied requests, right after every kind of
write that changes a decision, on each backend; never silently stale
(docs/local-checker.md)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from dpa_client import LocalChecker, RegistryClient, errors, safeguard, verify_receipt
from dpa_client._base import translate
from dpa_client.transparency import merkle
from dpa_registry_api.v1 import decisions_pb2 as pb
from dpa_registry_api.v1 import decisions_pb2_grpc as pb_grpc
from registry import clock, db, keys
from registry.audit import store as audit_store
from tests import factories
from tests.harness import Harness
from tests.test_transfers_api import CONTROLLERS, SUBPROCESSORS, World, build_world, eventually, scc

DAY = timedelta(days=1)
CATEGORIES = [
    "user.contact.email",
    "user.contact",
    "user",
    "user.health_and_medical",
    "user.financial",
    "user.device.cookie_id",
    "user.contact.phone_number",
]
PURPOSES = [
    "essential.service",
    "marketing.advertising",
    "train_ai_system",
    "essential.service.payment_processing",
    "analytics.reporting",
]
COUNTRIES = ["US", "IN", "JP", "BR", "CN", "GB", "CH", "DE", "EE", "CA", "XO-EPO"]
OPERATIONS = ["COLLECT", "STORE", "ANALYZE", "TRANSMIT", "DISCLOSE", "DELETE", "TRAIN_MODEL"]
SUBJECTS = ["customer", "employee", "prospect"]
GROUNDS = ["49(1)(a)", "49(1)(b)", "49(1)(c)"]
GROUND_NAMES = ["EXPLICIT_CONSENT", "CONTRACT_WITH_DATA_SUBJECT", "LEGAL_CLAIMS"]
BAD_IDS = ["", "Acme", "acme corp", "controllers/acme", "acme/x", "1acme", "a" * 64, "acme!"]
"""Malformed controller and sub-processor ids: INVALID_ARGUMENT, locally as remotely."""


class Corpus:
    """A seeded generator of varied CheckTransfer and CheckProcessing requests."""

    def __init__(self, seed: int, on: date) -> None:
        self.rng = random.Random(seed)
        self.on = on
        self.controllers = [*CONTROLLERS, "newco", "nosuch"]
        self.subprocessors = [*SUBPROCESSORS, "newsp", "nosuchsp"]

    def _some(self, items: list[str], most: int = 3) -> list[str]:
        return self.rng.sample(items, self.rng.randint(1, most))

    def _day(self) -> date:
        return self.rng.choice(
            [self.on, self.on, self.on - 400 * DAY, self.on + 30 * DAY, date(2022, 12, 30)]
        )

    def transfer(self) -> dict[str, Any]:
        rng = self.rng
        kw: dict[str, Any] = {
            "data_categories": self._some(CATEGORIES),
            "purpose": rng.choice(PURPOSES),
            "transfer_date": self._day(),
        }
        if rng.random() < 0.01:
            kw["data_categories"] = [*kw["data_categories"], "not.a.key"]
        self._spoil(kw)
        if rng.random() < 0.8:
            kw["subprocessor_id"] = rng.choice(
                BAD_IDS[1:] if rng.random() < 0.03 else self.subprocessors
            )
        else:
            country = rng.choice(COUNTRIES)
            kw["recipient"] = "One-off Recipient Ltd"
            kw["destination_country"] = country
            kw["recipient_sector"] = rng.choice([None, "COMMERCIAL", "PUBLIC_BODY"])
            kw["recipient_dpf_certified"] = rng.random() < 0.3
            if rng.random() < 0.3:
                kw["recipient_dpf_checked"] = self.on - rng.choice([1, 200, 500]) * DAY
            pick = rng.random()
            if pick < 0.3:
                kw["safeguards"] = [scc(country, scc_module=rng.choice([2, 3, 4]))]
            elif pick < 0.4:
                kw["safeguards"] = [safeguard(country, "BCR", instrument_reference="BCR-1")]
            elif pick < 0.5:
                kw["derogation"] = rng.choice(GROUND_NAMES)
            if rng.random() < 0.03:
                kw["destination_country"] = rng.choice(["usa", "ZZ", "uk", "eu"])
        return {"controller_id": self._controller(), **kw}

    def _controller(self) -> str:
        if self.rng.random() < 0.03:
            return self.rng.choice(BAD_IDS)
        return self.rng.choice(self.controllers)

    def _spoil(self, kw: dict[str, Any]) -> None:
        """Now and then one more invalid field (INVALID_ARGUMENT, both sides)."""
        rng = self.rng
        if rng.random() >= 0.03:
            return
        pick = rng.randrange(4)
        if pick == 0:
            kw["purpose"] = rng.choice(["", "not.a.use"])
        elif pick == 1:
            kw["data_categories"] = []
        elif pick == 2 and "transfer_date" in kw:
            kw["transfer_date"] = rng.choice(["2024-13-01", "yesterday", "2024-02-30"])
        else:
            kw["data_categories"] = [*kw["data_categories"], "user.nope"]

    def processing(self) -> dict[str, Any]:
        rng = self.rng
        kw: dict[str, Any] = {
            "controller_id": self._controller(),
            "purpose": rng.choice(PURPOSES),
            "data_categories": self._some(CATEGORIES),
            "operation": rng.choice(OPERATIONS),
        }
        if rng.random() < 0.5:
            kw["country"] = rng.choice(["EE", "FI", "US", "DE", "IN"])
            if rng.random() < 0.05:
                kw["country"] = rng.choice(["usa", "ZZ", "uk", "XO-EPO"])
        if rng.random() < 0.5:
            kw["data_subjects"] = self._some(SUBJECTS, 2)
            if rng.random() < 0.05:
                kw["data_subjects"] = [*kw["data_subjects"], "martian"]
        self._spoil(kw)
        return kw


def _outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("ok", call())
    except errors.RpcError as err:
        return ("error", type(err).__name__, err.violations)


class Differ:
    """Asks the checker and the server the same questions and compares."""

    def __init__(self, checker: LocalChecker, remote: RegistryClient, corpus: Corpus) -> None:
        self.checker = checker
        self.remote = remote
        self.corpus = corpus
        self.compared = 0
        self.kinds: dict[str, int] = {}

    def agree(self, kind: str, request: dict[str, Any]) -> None:
        args = dict(request)
        cid = args.pop("controller_id")
        local_fn = getattr(self.checker, f"check_{kind}")
        remote_fn = getattr(self.remote, f"check_{kind}")
        for _ in range(5):
            remote = _outcome(lambda: remote_fn(cid, **args))
            local = _outcome(lambda: local_fn(cid, **args))
            if remote[0] == local[0] == "ok" and remote[1].revision != local[1].revision:
                # A write landed between the two calls (the scheduler): catch up.
                self.checker.wait_for(remote[1].revision, 10)
                continue
            break
        assert local == remote, (kind, request)
        if local[0] == "ok":
            assert local[1].local
        self.compared += 1
        label = f"{kind}:{local[0]}:" + (
            str(local[1].allowed) if local[0] == "ok" else str(local[1])
        )
        self.kinds[label] = self.kinds.get(label, 0) + 1
        if local[0] == "error" and local[1] == "InvalidArgument":
            for field in {v.field for v in local[2]}:
                key = f"{kind}:error:InvalidArgument:{field}"
                self.kinds[key] = self.kinds.get(key, 0) + 1

    def batch(self, n: int) -> None:
        for _ in range(n):
            if self.corpus.rng.random() < 0.6:
                self.agree("transfer", self.corpus.transfer())
            else:
                self.agree("processing", self.corpus.processing())

    def after_write(self, n: int) -> None:
        """Right after a write: once the checker holds it, ask again."""
        with db.database.connection_context():
            head = audit_store.size()
        assert self.checker.wait_for(head, 15)
        self.batch(n)


@pytest.fixture
def world(registry: Harness) -> World:
    return build_world(registry)


@pytest.fixture
def checker(world: World) -> Iterator[LocalChecker]:
    with LocalChecker(world.checker, heartbeat=0.2, max_staleness=30) as c:
        yield c


def test_agrees_with_the_server_on_10000_requests_and_after_every_write(
    world: World, checker: LocalChecker
) -> None:
    h, staff = world.h, world.staff
    differ = Differ(checker, world.checker, Corpus(18, world.on))
    differ.batch(3000)

    # A DPA signed through the real life cycle, then its first instruction.
    factories.active_dpa(h, "newco")
    differ.after_write(600)
    factories.instruction(h, "newco", countries=["EE", "US"], operations=["STORE"])
    differ.after_write(600)
    # An instruction replaced, then flagged (Art. 28(3)(h)).
    acme = factories._controller_client(h, "acme")
    issued = factories.instruction(
        h,
        "acme",
        operations=["STORE", "TRANSMIT"],
        countries=["EE", "JP", "US", "IN"],
        data_categories=["user.contact.email"],
    )
    differ.after_write(600)
    staff.flag_instruction("acme", issued.version, "possibly unlawful")
    differ.after_write(600)
    # A DPA terminated.
    staff.terminate_agreement("globex", reason="contract ended")
    differ.after_write(600)
    # A sub-processor change announced (PENDING for everyone), one objection.
    factories.subprocessor(
        staff,
        "newsp",
        country="US",
        locations=["US"],
        data_categories=["user"],
        dpf_status="CERTIFIED",
        dpf_checked=world.on,
    )
    notice = staff.propose_subprocessor_change(
        "ADDITION", "newsp", effective=clock.now() + 31 * DAY, reason="new model provider"
    )
    differ.after_write(600)
    acme.object_to_subprocessor_change(notice.name, reason="not for us")
    differ.after_write(600)
    # An authorisation withdrawn.
    initech = factories._controller_client(h, "initech")
    initech.withdraw_subprocessor_authorization("initech", "euhost", reason="moved away")
    differ.after_write(600)
    # A sub-processor's locations changed.
    record = staff.get_subprocessor("jphost")
    record = replace(record, locations=(*record.locations, "IN"))
    staff.update_subprocessor(record, fields=["locations"])
    differ.after_write(600)
    # Safeguards: one recorded, one changed.
    staff.create_safeguard("jphost", "in-scc", scc("IN"))
    differ.after_write(600)
    sg = staff.get_safeguard("usscc", "us-scc")
    changed = replace(sg, tia=replace(sg.tia, review_date=(world.on - DAY).isoformat()))
    staff.update_safeguard(changed, fields=["tia.review_date"])
    differ.after_write(600)
    # The adequacy reference: a decision suspended.
    staff.record_adequacy_change(
        "JP", "SUSPENDED", effective=world.on - 10 * DAY, source="OJ L 1/1 (test)"
    )
    differ.after_write(600)

    assert differ.compared >= 10_000
    # The corpus is varied: allowed and denied answers and errors of each check.
    for label in (
        "transfer:ok:True",
        "transfer:ok:False",
        "processing:ok:True",
        "processing:ok:False",
        "transfer:error:NotFound",
        "processing:error:NotFound",
        "transfer:error:InvalidArgument",
        "processing:error:InvalidArgument",
    ):
        assert differ.kinds.get(label, 0) > 0, (label, differ.kinds)
    # Malformed ids among them, each named by its field on both sides.
    for label in (
        "transfer:error:InvalidArgument:controller_id",
        "transfer:error:InvalidArgument:subprocessor_id",
        "processing:error:InvalidArgument:controller",
    ):
        assert differ.kinds.get(label, 0) > 0, (label, differ.kinds)


def test_a_transfer_date_with_a_time_of_day_is_refused_as_the_server_refuses_it(
    world: World, checker: LocalChecker
) -> None:
    asked = {
        "subprocessor_id": "euhost",
        "data_categories": [CATEGORIES[0]],
        "purpose": PURPOSES[0],
        "transfer_date": datetime(2026, 1, 1, 12, 0),
    }
    remote = _outcome(lambda: world.checker.check_transfer("acme", **asked))
    local = _outcome(lambda: checker.check_transfer("acme", **asked))
    assert remote[:2] == ("error", "InvalidArgument"), remote
    assert local == remote


def test_remembers_a_request_from_its_second_sighting(world: World, checker: LocalChecker) -> None:
    """The memo's doorkeeper: a one-off request leaves no entry; a repeated
    one is remembered and answered the same (the very answer, at once)."""
    once = {"subprocessor_id": "euhost", "data_categories": [CATEGORIES[1]], "purpose": PURPOSES[0]}
    twice = {"operation": "STORE", "data_categories": [CATEGORIES[0]], "purpose": PURPOSES[0]}
    checker.check_transfer("acme", **once)
    first = checker.check_processing("acme", **twice)
    assert len(checker._memo) == 0
    second = checker.check_processing("acme", **twice)
    assert len(checker._memo) == 1
    third = checker.check_processing("acme", **twice)
    assert first == second and third is second
    assert third == world.checker.check_processing("acme", **twice)


def test_min_revision_waits_or_asks_the_server(world: World, checker: LocalChecker) -> None:
    staff = world.staff
    staff.create_safeguard("inold", "in-bcr", safeguard("IN", "BCR", instrument_reference="B-7"))
    token = staff.last_receipt
    assert token is not None
    answer = checker.check_transfer(
        "acme",
        subprocessor_id="inold",
        data_categories=["user.contact.email"],
        purpose="essential.service",
        transfer_date=world.on,
        min_revision=token.revision,
    )
    assert answer.revision >= token.revision
    assert answer.allowed
    # A token beyond the log: the checker cannot reach it, asks the server,
    # which refuses it (not from this registry).
    with pytest.raises(errors.FailedPrecondition):
        checker.check_transfer(
            "acme",
            subprocessor_id="inold",
            data_categories=["user.contact.email"],
            purpose="essential.service",
            min_revision=token.revision + 1000,
        )


def test_resumes_after_the_stream_is_cut(world: World, checker: LocalChecker) -> None:
    eventually(lambda: checker.status().connected)
    start = checker.reconnects
    call = checker._call
    assert call is not None
    call.cancel()
    acme = factories._controller_client(world.h, "acme")
    acme.withdraw_subprocessor_authorization("acme", "jphost", reason="cut test")
    receipt = acme.last_receipt
    assert receipt is not None
    assert checker.wait_for(receipt.revision, 15)
    assert checker.reconnects > start
    answer = checker.check_transfer(
        "acme",
        subprocessor_id="jphost",
        data_categories=["user.contact.email"],
        purpose="essential.service",
        transfer_date=world.on,
    )
    assert [r.code_name for r in answer.reasons] == ["AUTHORIZATION_WITHDRAWN"]
    assert answer == world.checker.check_transfer(
        "acme",
        subprocessor_id="jphost",
        data_categories=["user.contact.email"],
        purpose="essential.service",
        transfer_date=world.on,
    )


def test_refuses_when_cut_off_past_its_bound(registry: Harness) -> None:
    staff = registry.staff
    factories.controller(staff, "acme")
    service = registry.client("service", "checker")
    refusing = LocalChecker(service, heartbeat=0.1, max_staleness=0.5)
    falling_back = LocalChecker(service, heartbeat=0.1, max_staleness=0.5, on_stale="rpc")
    try:
        ask = {"purpose": "essential.service", "data_categories": ["user"], "operation": "STORE"}
        assert refusing.check_processing("acme", **ask).local
        registry.running.stop(0)  # the registry goes away

        def refused() -> bool:
            try:
                refusing.check_processing("acme", **ask)
            except errors.StaleSnapshot as err:
                assert "no word from the registry" in err.message
                assert err.revision == refusing.revision
                return True
            return False

        eventually(refused)

        # The caller's other choice: once past its own bound, ask the server,
        # which is not there either (until then it still answers locally).
        def fell_back() -> bool:
            try:
                assert falling_back.check_processing("acme", **ask).local
            except errors.Unavailable:
                return True
            return False

        eventually(fell_back)
    finally:
        refusing.close()
        falling_back.close()


def test_a_controller_loads_only_itself(world: World) -> None:
    acme = factories._controller_client(world.h, "acme")
    stub = pb_grpc.DecisionSnapshotServiceStub(acme.channel)
    with pytest.raises(errors.NotFound):
        acme._call(
            stub.LoadDecisionSnapshot,
            pb.LoadDecisionSnapshotRequest(controller_ids=["globex"]),
            idempotent=True,
        )
    with LocalChecker(acme, max_staleness=30) as mine:
        ask = {"purpose": "essential.service", "data_categories": ["user"], "operation": "STORE"}
        assert mine.check_processing("acme", **ask).local
        with pytest.raises(errors.NotFound):
            mine.check_processing("globex", **ask)
        # Only its own states travel: no other controller's authorisations.
        assert all(set(e.authorizations) <= {"acme"} for e in mine._state.subprocessors.values())


def test_snapshot_pages_are_one_revision(world: World) -> None:
    stub = pb_grpc.DecisionSnapshotServiceStub(world.checker.channel)
    first = world.checker._call(
        stub.LoadDecisionSnapshot, pb.LoadDecisionSnapshotRequest(page_size=2), idempotent=True
    )
    world.staff.terminate_agreement("acme", reason="between pages")
    pages = [first]
    while pages[-1].next_page_token:
        pages.append(
            world.checker._call(
                stub.LoadDecisionSnapshot,
                pb.LoadDecisionSnapshotRequest(page_size=2, page_token=pages[-1].next_page_token),
                idempotent=True,
            )
        )
    assert {p.revision for p in pages} == {first.revision}
    ids = [c.controller_id for p in pages for c in p.controllers]
    assert ids == sorted(CONTROLLERS)
    acme = next(c for p in pages for c in p.controllers if c.controller_id == "acme")
    assert acme.dpa_active  # as of the first page's revision


def test_receipt_binds_a_decision_to_the_signed_log(
    world: World, checker: LocalChecker, registry: Harness
) -> None:
    answer = checker.check_transfer(
        "acme",
        subprocessor_id="euhost",
        data_categories=["user.contact.email"],
        purpose="essential.service",
        transfer_date=world.on,
        receipt=True,
    )
    assert answer.receipt is not None and answer.receipt.revision == answer.revision
    world.staff.terminate_agreement("initech", reason="the log moves on")
    vkey = keys.load(registry.pki.signing_key, "7plus.one/dpa-registry").vkey
    with db.database.connection_context():  # the auditor's own copy of the log
        bodies = audit_store.bodies(list(range(answer.revision)))
    root = merkle.root_from_leaves([bodies[i] for i in range(answer.revision)])
    checkpoint = verify_receipt(answer.receipt, vkeys=[vkey], root_at_revision=root)
    assert checkpoint.size >= answer.revision
    with pytest.raises(errors.VerificationError):
        verify_receipt(answer.receipt, vkeys=[vkey], root_at_revision=b"\x00" * 32)


def test_the_change_stream_is_a_plain_generator(world: World) -> None:
    """The handler is a generator driven by one wait primitive: any stream
    host can run it (here: no gRPC at all)."""
    from registry.decisions import feed
    from registry.decisions.servicer import SharedChanges, changes
    from registry.revision_wait import RevisionWatch
    from registry.transfers.cache import SnapshotCache
    from registry.transfers.snapshot import Snapshot, read_revision

    cache = SnapshotCache()

    def current() -> Snapshot:
        with db.database.connection_context():
            return cache.current()

    start = current().revision
    running = [True]
    shared = SharedChanges()
    stream = changes(
        start,
        0.05,
        current,
        RevisionWatch(read_revision),
        lambda: running[0],
        lambda after, snapshot: shared.get(after, snapshot, feed.Selection(None)),
    )
    beat = next(stream)
    assert beat.heartbeat and beat.revision == start
    acme = factories._controller_client(world.h, "acme")
    acme.withdraw_subprocessor_authorization("acme", "jphost", reason="generator test")
    with db.database.connection_context():
        head = audit_store.size()
    change = next(m for m in stream if not m.heartbeat)
    assert change.revision == head and not change.resync
    touched = [c.controller_id for c in change.controllers]
    touched_sps = [s.subprocessor_id for s in change.subprocessors]
    assert "acme" in touched or "jphost" in touched_sps
    running[0] = False
    assert list(stream) in ([], [pb.DecisionChange(revision=head, heartbeat=True)])


def test_a_chosen_set_of_controllers(world: World) -> None:
    with LocalChecker(world.checker, controller_ids=["acme", "umbrella"], max_staleness=30) as few:
        assert set(few._state.controllers) == {"acme", "umbrella"}
        assert all(
            set(e.authorizations) <= {"acme", "umbrella"} for e in few._state.subprocessors.values()
        )
        differ = Differ(few, world.checker, Corpus(5, world.on))
        differ.corpus.controllers = ["acme", "umbrella"]
        differ.batch(200)
        # A change to a chosen controller arrives; one to another does not matter.
        umbrella = factories._controller_client(world.h, "umbrella")
        umbrella.withdraw_subprocessor_authorization("umbrella", "jphost", reason="chosen set")
        world.staff.terminate_agreement("initech", reason="outside the set")
        differ.after_write(200)
        with pytest.raises(errors.NotFound, match="selection"):
            few.check_processing(
                "initech", purpose="essential.service", data_categories=["user"], operation="STORE"
            )


def _rpc_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("rpc"))


def test_the_change_stream_is_on_the_stream_host(world: World, registry: Harness) -> None:
    """Checkers find the stream port through the main port and hold no server
    thread there; a checker that keeps streams on the main port still follows."""
    from registry.decisions import hub

    the_hub = hub.current()
    assert the_hub is not None and the_hub.streams is not None
    before = _rpc_threads()
    checkers = [LocalChecker(world.checker, heartbeat=0.2, max_staleness=30) for _ in range(20)]
    old = registry.client("service", "checker", stream_target="")
    on_main = LocalChecker(old, heartbeat=0.2, max_staleness=30)
    try:
        eventually(lambda: all(c.status().connected for c in [*checkers, on_main]))
        assert the_hub.streams.count == 20
        assert the_hub.main_count == 1
        target = f"localhost:{registry.running.stream_port}"
        assert target in world.checker._stream_channels
        assert old._stream_channels == {}
        assert _rpc_threads() - before < 10  # discovery and the one main-port stream
        acme = factories._controller_client(world.h, "acme")
        acme.withdraw_subprocessor_authorization("acme", "jphost", reason="host test")
        receipt = acme.last_receipt
        assert receipt is not None
        assert all(c.wait_for(receipt.revision, 15) for c in [*checkers, on_main])
        ask = {
            "subprocessor_id": "jphost",
            "data_categories": ["user.contact.email"],
            "purpose": "essential.service",
            "transfer_date": world.on,
        }
        expected = world.checker.check_transfer("acme", **ask)
        assert all(c.check_transfer("acme", **ask) == expected for c in [*checkers, on_main])
        # Heartbeats come from the stream host too: no reconnects meanwhile.
        reconnects = [c.reconnects for c in checkers]
        time.sleep(0.5)  # not a timed assertion: several heartbeat intervals pass
        assert [c.reconnects for c in checkers] == reconnects
        assert all(c.status().seconds_since_contact < 30 for c in checkers)
    finally:
        for c in [*checkers, on_main]:
            c.close()
    eventually(lambda: the_hub.streams is not None and the_hub.streams.count == 0)
    eventually(lambda: the_hub.main_count == 0)


def test_decision_streams_per_process_are_bounded(dev_pki: Any, database_url: str) -> None:
    """Past ``--max-decision-streams`` on the stream host, or 32 (here: that
    limit) on the main port, a new stream is RESOURCE_EXHAUSTED and says why."""
    import grpc

    from tests import harness as harness_module

    h = harness_module.start(dev_pki, database_url, max_decision_streams=2)
    calls: list[Any] = []
    try:
        factories.controller(h.staff, "acme")
        service = h.client("service", "checker")
        request = pb.WatchDecisionChangesRequest(heartbeat_millis=100)
        for target in (f"localhost:{h.running.stream_port}", ""):
            channel = service._connect(target) if target else service.channel
            stub = pb_grpc.DecisionSnapshotServiceStub(channel)
            for _ in range(2):
                call = stub.WatchDecisionChanges(request, metadata=service._metadata)
                next(call)  # the stream is live
                calls.append(call)
            with pytest.raises(grpc.RpcError) as err:
                next(stub.WatchDecisionChanges(request, metadata=service._metadata))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "decision-change streams" in (err.value.details() or "")
            assert "limit 2" in (err.value.details() or "")
            assert isinstance(translate(err.value), errors.ResourceExhausted)  # the library's name
    finally:
        for call in calls:
            call.cancel()
        h.close()
