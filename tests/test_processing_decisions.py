"""The CheckProcessing decision as a table: pure function, no server."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from registry.agreements.decision import (
    AgreementScope,
    InstructionScope,
    Outcome,
    ProcessingRequest,
    Rule,
    Situation,
    decide,
)
from registry.agreements.types import Operation as Op

ALLOWED, DENIED = Outcome.ALLOWED, Outcome.DENIED

DPA = AgreementScope(
    version=3,
    purposes=("essential", "analytics.reporting", "train_ai_system"),
    data_categories=("user.contact", "user.account", "user.health_and_medical"),
    data_subjects=("customer", "employee"),
    nature=frozenset({Op.STORE, Op.ANALYZE, Op.TRANSMIT, Op.DELETE, Op.TRAIN_MODEL}),
)
NARROW_DPA = DPA._replace(purposes=("essential",), nature=frozenset({Op.STORE}))
INSTR = InstructionScope(
    version=7,
    purposes=("essential.service", "analytics.reporting"),
    data_categories=("user.contact", "user.account.username"),
    data_subjects=("customer",),
    operations=frozenset({Op.STORE, Op.ANALYZE, Op.DELETE}),
    countries=frozenset({"EE", "FI", "DE"}),
)
AI_INSTR = INSTR._replace(
    version=8,
    purposes=(*INSTR.purposes, "train_ai_system"),
    operations=INSTR.operations | {Op.TRAIN_MODEL},
)
AI_PURPOSE_ONLY = INSTR._replace(version=9, purposes=(*INSTR.purposes, "train_ai_system"))
AI_OP_ONLY = INSTR._replace(version=10, operations=INSTR.operations | {Op.TRAIN_MODEL})
BROAD = INSTR._replace(version=11, data_categories=("user",))
HEALTH = INSTR._replace(version=12, data_categories=("user.health_and_medical",))

ACTIVE = Situation("acme", DPA, None, INSTR)


def req(
    purpose: str = "essential.service",
    categories: tuple[str, ...] = ("user.contact.email",),
    op: Op = Op.STORE,
    country: str | None = None,
    subjects: tuple[str, ...] = (),
) -> ProcessingRequest:
    return ProcessingRequest("acme", purpose, categories, op, country, subjects)


@dataclass(frozen=True)
class Row:
    id: str
    situation: Situation
    request: ProcessingRequest
    outcome: Outcome
    denials: tuple[tuple[Rule, str], ...] = ()
    """(rule, subject) of every unsatisfied reason, in order."""


TABLE = [
    Row("allowed: child category, instructed purpose", ACTIVE, req(), ALLOWED),
    Row("allowed: exact category key", ACTIVE, req(categories=("user.contact",)), ALLOWED),
    Row("allowed: in listed country", ACTIVE, req(country="FI"), ALLOWED),
    Row("allowed: named subject", ACTIVE, req(subjects=("customer",)), ALLOWED),
    Row(
        "allowed: analytics on username",
        ACTIVE,
        req("analytics.reporting", ("user.account.username",), Op.ANALYZE),
        ALLOWED,
    ),
    Row(
        "no DPA ever",
        Situation("acme", None),
        req(),
        DENIED,
        ((Rule.NO_AGREEMENT, ""),),
    ),
    Row(
        "terminated DPA",
        Situation("acme", None, ended_version=3),
        req(),
        DENIED,
        ((Rule.AGREEMENT_TERMINATED, ""),),
    ),
    Row(
        "no instruction yet",
        Situation("acme", DPA),
        req(),
        DENIED,
        ((Rule.INSTRUCTION_ISSUED, ""),),
    ),
    Row(
        "flagged instruction suspends processing",
        Situation("acme", DPA, None, INSTR._replace(flagged=True)),
        req(),
        DENIED,
        ((Rule.INSTRUCTION_NOT_FLAGGED, ""),),
    ),
    Row(
        "parent category not covered by child grant",
        ACTIVE,
        req(categories=("user.account",)),
        DENIED,
        ((Rule.CATEGORY_INSTRUCTED, "user.account"),),
    ),
    Row(
        "root category not covered",
        ACTIVE,
        req(categories=("user",)),
        DENIED,
        ((Rule.CATEGORY_IN_AGREEMENT, "user"), (Rule.CATEGORY_INSTRUCTED, "user")),
    ),
    Row(
        "category outside DPA and instruction",
        ACTIVE,
        req(categories=("user.financial",)),
        DENIED,
        (
            (Rule.CATEGORY_IN_AGREEMENT, "user.financial"),
            (Rule.CATEGORY_INSTRUCTED, "user.financial"),
        ),
    ),
    Row(
        "every bad category listed",
        ACTIVE,
        req(categories=("user.contact.email", "user.account.password", "user.financial")),
        DENIED,
        (
            (Rule.CATEGORY_IN_AGREEMENT, "user.financial"),
            (Rule.CATEGORY_INSTRUCTED, "user.account.password"),
            (Rule.CATEGORY_INSTRUCTED, "user.financial"),
        ),
    ),
    Row(
        "purpose parent not covered by child grant",
        ACTIVE,
        req(purpose="essential"),
        DENIED,
        ((Rule.PURPOSE_INSTRUCTED, "essential"),),
    ),
    Row(
        "purpose outside the DPA",
        ACTIVE,
        req(purpose="marketing.advertising"),
        DENIED,
        (
            (Rule.PURPOSE_IN_AGREEMENT, "marketing.advertising"),
            (Rule.PURPOSE_INSTRUCTED, "marketing.advertising"),
        ),
    ),
    Row(
        "operation not instructed",
        ACTIVE,
        req(op=Op.TRANSMIT),
        DENIED,
        ((Rule.OPERATION_INSTRUCTED, "TRANSMIT"),),
    ),
    Row(
        "operation outside the DPA's nature",
        ACTIVE,
        req(op=Op.DISCLOSE),
        DENIED,
        ((Rule.OPERATION_IN_AGREEMENT, "DISCLOSE"), (Rule.OPERATION_INSTRUCTED, "DISCLOSE")),
    ),
    Row(
        "country not instructed",
        ACTIVE,
        req(country="US"),
        DENIED,
        ((Rule.COUNTRY_INSTRUCTED, "US"),),
    ),
    Row(
        "subject not instructed",
        ACTIVE,
        req(subjects=("employee",)),
        DENIED,
        ((Rule.SUBJECT_INSTRUCTED, "employee"),),
    ),
    Row(
        "subject outside the DPA",
        ACTIVE,
        req(subjects=("patient",)),
        DENIED,
        ((Rule.SUBJECT_IN_AGREEMENT, "patient"), (Rule.SUBJECT_INSTRUCTED, "patient")),
    ),
    Row(
        "AI training denied by default",
        ACTIVE,
        req("train_ai_system", ("user.contact",), Op.TRAIN_MODEL),
        DENIED,
        (
            (Rule.PURPOSE_INSTRUCTED, "train_ai_system"),
            (Rule.OPERATION_INSTRUCTED, "TRAIN_MODEL"),
            (Rule.AI_TRAINING_EXPLICIT, ""),
        ),
    ),
    Row(
        "AI training explicitly instructed",
        Situation("acme", DPA, None, AI_INSTR),
        req("train_ai_system", ("user.contact",), Op.TRAIN_MODEL),
        ALLOWED,
    ),
    Row(
        "AI training purpose instructed, operation not",
        Situation("acme", DPA, None, AI_PURPOSE_ONLY),
        req("train_ai_system", ("user.contact",), Op.STORE),
        DENIED,
        ((Rule.AI_TRAINING_EXPLICIT, ""),),
    ),
    Row(
        "TRAIN_MODEL for another purpose without the AI purpose",
        Situation("acme", DPA, None, AI_OP_ONLY),
        req("analytics.reporting", ("user.contact",), Op.TRAIN_MODEL),
        DENIED,
        ((Rule.AI_TRAINING_EXPLICIT, ""),),
    ),
    Row(
        "AI training instructed but not in the DPA",
        Situation("acme", NARROW_DPA, None, AI_INSTR),
        req("train_ai_system", ("user.contact",), Op.TRAIN_MODEL),
        DENIED,
        (
            (Rule.PURPOSE_IN_AGREEMENT, "train_ai_system"),
            (Rule.OPERATION_IN_AGREEMENT, "TRAIN_MODEL"),
        ),
    ),
    Row(
        "special category via a broad grant is not explicit",
        Situation("acme", DPA, None, BROAD),
        req(categories=("user.health_and_medical",)),
        DENIED,
        ((Rule.SPECIAL_CATEGORY_EXPLICIT, "user.health_and_medical"),),
    ),
    Row(
        "special category named explicitly",
        Situation("acme", DPA, None, HEALTH),
        req(categories=("user.health_and_medical",)),
        ALLOWED,
    ),
    Row(
        "narrowed DPA after amendment wins over older instruction",
        Situation("acme", NARROW_DPA, None, INSTR),
        req("analytics.reporting", ("user.contact",), Op.ANALYZE),
        DENIED,
        (
            (Rule.PURPOSE_IN_AGREEMENT, "analytics.reporting"),
            (Rule.OPERATION_IN_AGREEMENT, "ANALYZE"),
        ),
    ),
    Row(
        "no instruction: DPA rules still reported",
        Situation("acme", DPA),
        req(purpose="marketing.advertising"),
        DENIED,
        ((Rule.INSTRUCTION_ISSUED, ""), (Rule.PURPOSE_IN_AGREEMENT, "marketing.advertising")),
    ),
    Row(
        "everything wrong at once",
        Situation("acme", DPA, None, INSTR._replace(flagged=True)),
        req("marketing", ("user.financial",), Op.DISCLOSE, "CN", ("patient",)),
        DENIED,
        (
            (Rule.INSTRUCTION_NOT_FLAGGED, ""),
            (Rule.PURPOSE_IN_AGREEMENT, "marketing"),
            (Rule.PURPOSE_INSTRUCTED, "marketing"),
            (Rule.CATEGORY_IN_AGREEMENT, "user.financial"),
            (Rule.CATEGORY_INSTRUCTED, "user.financial"),
            (Rule.SUBJECT_IN_AGREEMENT, "patient"),
            (Rule.SUBJECT_INSTRUCTED, "patient"),
            (Rule.OPERATION_IN_AGREEMENT, "DISCLOSE"),
            (Rule.OPERATION_INSTRUCTED, "DISCLOSE"),
            (Rule.COUNTRY_INSTRUCTED, "CN"),
        ),
    ),
]


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 25
    assert len({row.id for row in TABLE}) == len(TABLE)


@pytest.mark.parametrize("row", TABLE, ids=[row.id for row in TABLE])
def test_decision(row: Row) -> None:
    decision = decide(row.situation, row.request, revision=41)
    assert decision.outcome is row.outcome
    assert [(r.rule, r.subject) for r in decision.denials] == list(row.denials)
    assert decision.revision == 41
    for reason in decision.reasons:
        assert reason.message
        if reason.rule.value.endswith("INSTRUCTED") or reason.rule in (
            Rule.INSTRUCTION_ISSUED,
            Rule.INSTRUCTION_NOT_FLAGGED,
            Rule.AI_TRAINING_EXPLICIT,
            Rule.SPECIAL_CATEGORY_EXPLICIT,
        ):
            expected = row.situation.instruction.version if row.situation.instruction else None
            assert reason.instruction_version == expected, reason
        if row.situation.agreement is not None:
            assert reason.agreement_version == row.situation.agreement.version
    if row.outcome is ALLOWED:
        assert decision.reasons and all(r.satisfied for r in decision.reasons)


def test_decision_is_deterministic() -> None:
    a = decide(ACTIVE, req(country="US"), 1)
    b = decide(ACTIVE, req(country="US"), 1)
    assert a == b


def test_a_memo_answers_as_decide_for_any_controller_and_revision() -> None:
    """The memo is keyed by the terms and the request without the
    controller: every row answers as ``decide`` (from the memo the second
    time, at another revision), and another controller on the same terms
    gets the same reasons."""
    from dpa_decisions.processing import Memo

    memo = Memo()
    for revision in (41, 42):
        for row in TABLE:
            assert memo.decide(row.situation, row.request, revision) == decide(
                row.situation, row.request, revision
            ), row.id
    other = replace(ACTIVE, controller_id="globex")
    mine = memo.decide(ACTIVE, req(country="US"), 7)
    theirs = memo.decide(other, req(country="US")._replace(controller_id="globex"), 7)
    assert theirs == mine
    assert ACTIVE.instruction is not None
    narrowed = replace(ACTIVE, instruction=ACTIVE.instruction._replace(countries=frozenset()))
    assert memo.decide(narrowed, req(country="EE"), 7) == decide(narrowed, req(country="EE"), 7)
