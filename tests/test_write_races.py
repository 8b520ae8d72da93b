"""Concurrent identical writes: eight callers send the same mutation at once
(each with its own request_id) through a barrier. Every caller gets a precise
answer (OK, ALREADY_EXISTS, FAILED_PRECONDITION or ABORTED, never INTERNAL)
and the audit log holds exactly the events of the calls that succeeded; on
SQLite and PostgreSQL, through one server process and through two."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest

from dpa_client import RegistryClient, errors
from registry import auth, clock, pki
from registry.audit import store
from tests import harness
from tests.harness import Harness
from tests.mutations import CASES, Case

RACERS = 8
ANSWERS = {"OK", "ALREADY_EXISTS", "FAILED_PRECONDITION", "ABORTED"}
IDENTITIES = (("staff", "admin"), ("controller", "acme"), ("controller", "globex"))


def _report_same_id(h: Harness, _: object) -> str:
    from tests import factories

    aware = clock.now()
    return h.staff.report_breach(
        factories.breach_details(("hostco",)),
        awareness_time=aware,
        detection_time=aware,
        breach_id="b-race",
    ).breach_id


RACE_CASES: dict[str, Case] = {
    **CASES,
    # Same caller-chosen id eight times: one breach, seven ALREADY_EXISTS.
    "/dpa.registry.v1.BreachService/ReportBreach": replace(
        CASES["/dpa.registry.v1.BreachService/ReportBreach"], act=_report_same_id
    ),
}

# Writes that can succeed once only: the other seven must be refused.
ONE_WINNER = {
    "/dpa.registry.v1.ControllerService/CreateController",
    "/dpa.registry.v1.SubprocessorService/CreateSubprocessor",
    "/dpa.registry.v1.SubprocessorService/ApproveSubprocessorChange",
    "/dpa.registry.v1.SubprocessorService/ObjectSubprocessorChange",
    "/dpa.registry.v1.SubprocessorService/ResolveObjection",
    "/dpa.registry.v1.AgreementService/RequestAgreement",
    "/dpa.registry.v1.AgreementService/DraftAgreement",
    "/dpa.registry.v1.AgreementService/SignAgreement",
    "/dpa.registry.v1.AgreementService/CountersignAgreement",
    "/dpa.registry.v1.AgreementService/TerminateAgreement",
    "/dpa.registry.v1.AgreementService/ConfirmDataDisposition",
    "/dpa.registry.v1.InstructionService/FlagInstruction",
    "/dpa.registry.v1.BreachService/ReportBreach",
    "/dpa.registry.v1.BreachService/SendBreachNotices",
    "/dpa.registry.v1.TransferService/CreateSafeguard",
    "/dpa.registry.v1.SubprocessorService/WithdrawSubprocessorAuthorization",
    "/dpa.registry.v1.AuditLogService/RegisterWitness",
    "/dpa.registry.v1.TaskService/FileDataSubjectRequest",
    "/dpa.registry.v1.TaskService/ExtendDataSubjectRequest",
    "/dpa.registry.v1.TaskService/StartEndOfContract",
    "/dpa.registry.v1.TaskService/UpdateTaskPart",
    "/dpa.registry.v1.TaskService/AddLegalHold",
    # Updates carry the etag they read: the first wins, the rest are ABORTED.
    "/dpa.registry.v1.SubprocessorService/UpdateSubprocessor",
    "/dpa.registry.v1.TransferService/UpdateSafeguard",
}
# Every call is a new, valid change: all eight succeed (versions stay unique).
ALL_WIN = {"/dpa.registry.v1.InstructionService/IssueInstruction"}
# Refusals the domain gives as INVALID_ARGUMENT even to calls made one after
# another (a repeated phase, nothing held, an adequacy status already set).
SERIAL_INVALID = {
    "/dpa.registry.v1.BreachService/AddBreachPhase",
    "/dpa.registry.v1.BreachService/SendBreachNotices",
    "/dpa.registry.v1.TransferService/RecordAdequacyChange",
}


class Racer(Harness):
    """One racing caller's view: pre-connected clients, one per identity,
    against ``target`` (the in-process server or another process)."""

    def __init__(self, base: Harness, target: str) -> None:
        self.pki = base.pki
        self.running = base.running
        self.database = base.database
        self.target = target
        self._clients: list[RegistryClient] = []
        self._cache: dict[tuple[str, str], RegistryClient] = {}

    def client(self, role: str, name: str, **kwargs: object) -> RegistryClient:
        key = (role, name)
        if key not in self._cache:
            # Generous deadline: the machine may be busy; no timing is asserted.
            self._cache[key] = super().client(role, name, timeout=120.0, retries=0, **kwargs)
        return self._cache[key]

    def warm(self) -> None:
        for role, name in IDENTITIES:
            grpc.channel_ready_future(self.client(role, name).channel).result(timeout=120)

    def receipts(self) -> list[range]:
        """The audit indices of every write this racer's clients made."""
        return [
            range(r.first_index, r.first_index + r.count)
            for c in self._cache.values()
            if (r := c.last_receipt) is not None
        ]


@dataclass(frozen=True)
class Answer:
    status: str
    receipts: list[range]

    @property
    def code(self) -> str:
        return self.status.split(":", 1)[0]


def race(base: Harness, targets: list[str], case: Case, state: Any) -> list[Answer]:
    """Runs ``case.act`` in RACERS threads released together; their answers."""
    racers = [Racer(base, targets[i % len(targets)]) for i in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    statuses = [""] * RACERS

    def run(i: int) -> None:
        try:
            racers[i].warm()
            barrier.wait(timeout=120)
            case.act(racers[i], state)
            statuses[i] = "OK"
        except errors.RpcError as err:
            statuses[i] = f"{err.code_name}: {err.message}"
        except BaseException as err:
            statuses[i] = f"{type(err).__name__}: {err}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers = [Answer(s, r.receipts()) for s, r in zip(statuses, racers, strict=True)]
    for r in racers:
        r.close()
    return answers


def check(path: str, answers: list[Answer], before: int, after: int) -> None:
    codes = [a.code for a in answers]
    allowed = ANSWERS | ({"INVALID_ARGUMENT"} if path in SERIAL_INVALID else set())
    assert set(codes) <= allowed, [a.status for a in answers]
    wins = codes.count("OK")
    assert wins >= 1, [a.status for a in answers]
    if path in ONE_WINNER:
        assert wins == 1, [a.status for a in answers]
    if path in ALL_WIN:
        assert wins == RACERS, [a.status for a in answers]
    # One audit receipt per success, none per refusal; together the receipts
    # cover exactly the new log entries, each once.
    for a in answers:
        assert len(a.receipts) == (1 if a.code == "OK" else 0), a
    covered = sorted(i for a in answers for r in a.receipts for i in r)
    assert covered == _written_by_callers(before, after), (answers, before, after)


BACKGROUND = frozenset({"subprocessor.change.delivered"})
"""Entries the scheduler writes on its own when a racer's write is delivery
evidence (an inbox acknowledgement starts an objection window): no caller
holds a receipt for them."""


def _written_by_callers(before: int, after: int) -> list[int]:
    rows = (
        store.AuditEvent.select(store.AuditEvent.seq, store.AuditEvent.action)
        .where((store.AuditEvent.seq >= before) & (store.AuditEvent.seq < after))
        .order_by(store.AuditEvent.seq)
        .tuples()
    )
    return [seq for seq, action in rows if action not in BACKGROUND]


@pytest.mark.parametrize("path", sorted(RACE_CASES))
def test_identical_writes_race_through_one_process(registry: Harness, path: str) -> None:
    case = RACE_CASES[path]
    state = case.setup(registry)
    before = store.size()
    answers = race(registry, [registry.target], case, state)
    check(path, answers, before, store.size())


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(RACE_CASES))
def test_identical_writes_race_through_two_processes(
    dev_pki: pki.DevPki, database_url: str, path: str
) -> None:
    case = RACE_CASES[path]
    a = harness.start(dev_pki, database_url)
    b = harness.ServerProcess(dev_pki, database_url)
    stderr = ""
    try:
        state = case.setup(a)
        before = store.size()
        answers = race(a, [a.target, b.target], case, state)
        after = store.size()
    finally:
        stderr = b.stop()
        a.close()
        clock.reset()
    check(path, answers, before, after)
    assert "Traceback" not in stderr, stderr


def _touch(attempts: list[int], fail_until: int) -> Any:
    """A mutation whose first ``fail_until`` attempts hit a real unique
    violation, as a writer racing outside the write lock would."""
    from registry import ledger

    def apply(m: ledger.Mutation) -> None:
        attempts.append(1)
        m.record("test.touch", "tests/touch", None, {"attempt": len(attempts)})
        if len(attempts) <= fail_until:
            store.LogHead.create(id=1, size=0)

    return apply


STAFF = auth.Caller(spiffe_id="spiffe://7plus.one/staff/admin", role=auth.Role.STAFF, name="admin")


def test_a_retryable_failure_reruns_the_whole_transaction(registry: Harness) -> None:
    from registry import ledger

    attempts: list[int] = []
    before = store.size()
    _, receipt = ledger.mutate(
        STAFF, "/test/Touch", "touch-1", "digest-1", ledger.NOTHING, _touch(attempts, 2)
    )
    assert len(attempts) == 3
    assert (receipt.first_seq, receipt.count) == (before, 1)
    assert store.size() == before + 1


def test_a_failure_that_persists_is_aborted_not_internal(registry: Harness) -> None:
    from registry import errors as registry_errors
    from registry import ledger

    attempts: list[int] = []
    before = store.size()
    with pytest.raises(registry_errors.Aborted):
        ledger.mutate(
            STAFF, "/test/Touch", "touch-2", "digest-2", ledger.NOTHING, _touch(attempts, 99)
        )
    assert len(attempts) == ledger.MAX_ATTEMPTS
    assert store.size() == before
