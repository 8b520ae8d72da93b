"""The pure decision behind ``CheckProcessing`` (GDPR Art. 28(3)(a), policy §6).

:func:`decide` answers "may the processor carry out this operation on these
categories of this controller's data for this purpose (in this country)?".
It does no I/O and reads no clock: plain values in, a :class:`Decision` out.
Every rule it evaluates appears as a :class:`Reason` (satisfied or not), in a
fixed order, each naming its rule and the agreement and instruction versions
it was judged against; the outcome is ALLOWED only if all are satisfied.

Rules, in the order their reasons appear:

1. ``AGREEMENT_ACTIVE`` (Art. 28(3)): an ACTIVE DPA. Without one nothing
   else is evaluated: ``NO_AGREEMENT`` (never had one, or none in force yet)
   or ``AGREEMENT_TERMINATED``.
2. ``INSTRUCTION_ISSUED`` (Art. 28(3)(a)): the controller has issued
   documented instructions under the DPA in force.
3. ``INSTRUCTION_NOT_FLAGGED`` (Art. 28(3)(h)): staff have not flagged the
   current instruction as possibly infringing the law; processing under a
   flagged instruction is suspended until the controller issues a new one.
4. ``PURPOSE_IN_AGREEMENT`` / ``PURPOSE_INSTRUCTED``: the purpose (a
   fideslang data use) is covered by the DPA's Annex II and by the
   instruction.
5. ``CATEGORY_IN_AGREEMENT`` / ``CATEGORY_INSTRUCTED``: each data category
   is covered (a grant on ``user.contact`` covers ``user.contact.email``, not
   the reverse); one reason per category not covered.
6. ``SPECIAL_CATEGORY_EXPLICIT`` (Art. 9): a special-category key must be
   covered by an instruction grant that is itself a special category; a
   broad grant such as ``user`` does not reach ``user.health_and_medical``.
7. ``SUBJECT_IN_AGREEMENT`` / ``SUBJECT_INSTRUCTED``: only when the request
   names data subjects.
8. ``OPERATION_IN_AGREEMENT`` / ``OPERATION_INSTRUCTED``: the operation is
   in the DPA's nature of processing and in the instruction.
9. ``COUNTRY_INSTRUCTED`` (Art. 28(3)(a), transfers included): only when
   the request names a country; it must be listed in the instruction.
10. ``AI_TRAINING_EXPLICIT`` (company policy §6): training AI models on the
    client's data (purpose ``train_ai_system`` or operation TRAIN_MODEL)
    needs an instruction that lists both that purpose and that operation
    explicitly; a DPA alone never allows it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from dpa_decisions import common, taxonomy
from dpa_decisions.common import Operation, Sink, no_active_dpa_reason

AI_TRAINING_USE = "train_ai_system"


class Outcome(enum.StrEnum):
    ALLOWED = "ALLOWED"
    DENIED = "DENIED"


class Rule(enum.StrEnum):
    """Stable rule codes; the values never change."""

    NO_AGREEMENT = "NO_AGREEMENT"
    AGREEMENT_TERMINATED = "AGREEMENT_TERMINATED"
    AGREEMENT_ACTIVE = "AGREEMENT_ACTIVE"
    INSTRUCTION_ISSUED = "INSTRUCTION_ISSUED"
    INSTRUCTION_NOT_FLAGGED = "INSTRUCTION_NOT_FLAGGED"
    PURPOSE_IN_AGREEMENT = "PURPOSE_IN_AGREEMENT"
    PURPOSE_INSTRUCTED = "PURPOSE_INSTRUCTED"
    CATEGORY_IN_AGREEMENT = "CATEGORY_IN_AGREEMENT"
    CATEGORY_INSTRUCTED = "CATEGORY_INSTRUCTED"
    SPECIAL_CATEGORY_EXPLICIT = "SPECIAL_CATEGORY_EXPLICIT"
    SUBJECT_IN_AGREEMENT = "SUBJECT_IN_AGREEMENT"
    SUBJECT_INSTRUCTED = "SUBJECT_INSTRUCTED"
    OPERATION_IN_AGREEMENT = "OPERATION_IN_AGREEMENT"
    OPERATION_INSTRUCTED = "OPERATION_INSTRUCTED"
    COUNTRY_INSTRUCTED = "COUNTRY_INSTRUCTED"
    AI_TRAINING_EXPLICIT = "AI_TRAINING_EXPLICIT"


class AgreementScope(NamedTuple):
    """What the ACTIVE DPA's Annex II allows. Named tuples, like the
    decision values: :class:`Memo` finds answers by the scopes' values, and
    a tuple is hashed and compared in C (a frozen dataclass in Python)."""

    version: int
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    nature: frozenset[Operation]


class InstructionScope(NamedTuple):
    """The controller's current documented instruction."""

    version: int
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    operations: frozenset[Operation]
    countries: frozenset[str]
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything the decision needs about one controller, read at one revision."""

    controller_id: str
    agreement: AgreementScope | None
    ended_version: int | None = None
    """The version terminated last, when no DPA is in force since."""
    instruction: InstructionScope | None = None


class ProcessingRequest(NamedTuple):
    controller_id: str
    purpose: str
    data_categories: tuple[str, ...]
    operation: Operation
    country: str | None = None
    data_subjects: tuple[str, ...] = ()


class Reason(NamedTuple):
    rule: Rule
    satisfied: bool
    message: str
    agreement_version: int | None = None
    instruction_version: int | None = None
    subject: str = ""
    """The key, operation or country the reason is about, if any."""


class Decision(NamedTuple):
    outcome: Outcome
    reasons: tuple[Reason, ...]
    revision: int
    agreement_version: int | None
    instruction_version: int | None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED

    @property
    def denials(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.satisfied)


def _uncovered(keys: Iterable[str], grants: tuple[str, ...]) -> list[str]:
    return [k for k in keys if not taxonomy.covered_by_any(k, grants)]


def _is_ai_training(request: ProcessingRequest) -> bool:
    return request.operation is Operation.TRAIN_MODEL or taxonomy.covers(
        AI_TRAINING_USE, request.purpose
    )


class Memo:
    """Remembers :func:`decide`'s answers by everything they depend on: the
    DPA's and the instruction's scopes (by value), the terminated version,
    and the request without the controller (no reason names it). Many
    controllers share terms, so a request first seen for one controller is
    answered from here for the next. Bounded; safe to share between threads.
    """

    __slots__ = ("_answers", "_bound")

    def __init__(self, bound: int = 100_000) -> None:
        self._answers: dict[tuple[object, ...], Decision] = {}
        self._bound = bound

    def decide(self, situation: Situation, request: ProcessingRequest, revision: int) -> Decision:
        key = (
            situation.agreement,
            situation.ended_version,
            situation.instruction,
            request.purpose,
            request.data_categories,
            request.operation,
            request.country,
            request.data_subjects,
        )
        found = self._answers.get(key)
        if found is None:
            found = decide(situation, request, revision)
            if len(self._answers) >= self._bound:
                self._answers.clear()
            self._answers[key] = found
        elif found.revision != revision:
            found = found._replace(revision=revision)
        return found


def decide(situation: Situation, request: ProcessingRequest, revision: int) -> Decision:
    """Applies the rules of the module docstring; pure."""
    agreement = situation.agreement
    if agreement is None:
        if situation.ended_version is not None:
            reason = Reason(
                Rule.AGREEMENT_TERMINATED,
                False,
                no_active_dpa_reason(situation.ended_version),
                agreement_version=situation.ended_version,
            )
        else:
            reason = Reason(Rule.NO_AGREEMENT, False, no_active_dpa_reason(None))
        return Decision(Outcome.DENIED, (reason,), revision, None, None)

    av = agreement.version
    instruction = situation.instruction
    iv = instruction.version if instruction is not None else None
    reasons: list[Reason] = []

    def add(
        rule: Rule, ok: bool, message: str, subject: str = "", *, with_instruction: bool = True
    ) -> None:
        reasons.append(Reason(rule, ok, message, av, iv if with_instruction else None, subject))

    add(Rule.AGREEMENT_ACTIVE, True, f"DPA version {av} is active", with_instruction=False)
    if instruction is None:
        add(
            Rule.INSTRUCTION_ISSUED,
            False,
            "the controller has issued no documented instruction under the DPA in force",
        )
    else:
        add(Rule.INSTRUCTION_ISSUED, True, f"instruction version {iv} is in force")
        add(
            Rule.INSTRUCTION_NOT_FLAGGED,
            not instruction.flagged,
            "the instruction is flagged as possibly infringing the law (Art. 28(3)(h)); "
            "processing under it is suspended"
            if instruction.flagged
            else "the instruction is not flagged",
        )

    # Purpose.
    in_dpa = taxonomy.covered_by_any(request.purpose, agreement.purposes)
    add(
        Rule.PURPOSE_IN_AGREEMENT,
        in_dpa,
        f"purpose {request.purpose!r} is {'' if in_dpa else 'not '}within the DPA's purposes",
        request.purpose,
        with_instruction=False,
    )
    if instruction is not None:
        ok = taxonomy.covered_by_any(request.purpose, instruction.purposes)
        add(
            Rule.PURPOSE_INSTRUCTED,
            ok,
            f"purpose {request.purpose!r} is {'' if ok else 'not '}instructed",
            request.purpose,
        )

    # Data categories.
    _scoped(
        add,
        Rule.CATEGORY_IN_AGREEMENT,
        request.data_categories,
        agreement.data_categories,
        "data category",
        "within the DPA",
        with_instruction=False,
    )
    if instruction is not None:
        _scoped(
            add,
            Rule.CATEGORY_INSTRUCTED,
            request.data_categories,
            instruction.data_categories,
            "data category",
            "instructed",
        )
        _special_categories(add, request.data_categories, instruction)

    # Data subjects, when named.
    if request.data_subjects:
        _scoped(
            add,
            Rule.SUBJECT_IN_AGREEMENT,
            request.data_subjects,
            agreement.data_subjects,
            "data subject category",
            "within the DPA",
            with_instruction=False,
        )
        if instruction is not None:
            _scoped(
                add,
                Rule.SUBJECT_INSTRUCTED,
                request.data_subjects,
                instruction.data_subjects,
                "data subject category",
                "instructed",
            )

    # Operation.
    op = request.operation
    name = op.value
    ok = op in agreement.nature
    add(
        Rule.OPERATION_IN_AGREEMENT,
        ok,
        f"operation {name} is {'' if ok else 'not '}in the DPA's nature of processing",
        name,
        with_instruction=False,
    )
    if instruction is not None:
        ok = op in instruction.operations
        add(
            Rule.OPERATION_INSTRUCTED,
            ok,
            f"operation {name} is {'' if ok else 'not '}instructed",
            name,
        )

    # Country, when named.
    if request.country is not None and instruction is not None:
        ok = request.country in instruction.countries
        add(
            Rule.COUNTRY_INSTRUCTED,
            ok,
            f"country {request.country} is {'' if ok else 'not '}instructed for storage "
            "or processing",
            request.country,
        )

    # Company policy §6: no AI training on customer data unless explicitly agreed.
    if _is_ai_training(request):
        _ai_training(add, instruction)

    outcome = Outcome.ALLOWED if all(r.satisfied for r in reasons) else Outcome.DENIED
    return Decision(outcome, tuple(reasons), revision, av, iv)


def _special_categories(
    add: _Add, categories: tuple[str, ...], instruction: InstructionScope
) -> None:
    special = [k for k in categories if taxonomy.is_special_category(k)]
    broad = False
    for key in special:
        grants = [g for g in instruction.data_categories if taxonomy.covers(g, key)]
        if grants and not any(taxonomy.is_special_category(g) for g in grants):
            broad = True
            add(
                Rule.SPECIAL_CATEGORY_EXPLICIT,
                False,
                f"special category {key!r} (Art. 9) is only covered by a broad grant; "
                "the instruction must name it",
                key,
            )
    if special and not broad:
        add(
            Rule.SPECIAL_CATEGORY_EXPLICIT,
            True,
            "special categories are named explicitly by the instruction",
        )


def _ai_training(add: _Add, instruction: InstructionScope | None) -> None:
    explicit = instruction is not None and (
        any(taxonomy.covers(AI_TRAINING_USE, p) for p in instruction.purposes)
        and Operation.TRAIN_MODEL in instruction.operations
    )
    add(
        Rule.AI_TRAINING_EXPLICIT,
        explicit,
        "the instruction explicitly allows training AI models on the client's data"
        if explicit
        else "training AI models on the client's data is denied unless an instruction "
        f"explicitly allows it (purpose {AI_TRAINING_USE!r} and operation TRAIN_MODEL)",
    )


def _scoped(
    add: _Add,
    rule: Rule,
    keys: tuple[str, ...],
    grants: tuple[str, ...],
    noun: str,
    where: str,
    *,
    with_instruction: bool = True,
) -> None:
    missing = _uncovered(keys, grants)
    for key in missing:
        add(rule, False, f"{noun} {key!r} is not {where}", key, with_instruction=with_instruction)
    if not missing:
        add(rule, True, f"every {noun} is {where}", with_instruction=with_instruction)


class _Add(Protocol):
    """Signature of the ``add`` closure in :func:`decide` (for typing)."""

    def __call__(
        self,
        rule: Rule,
        ok: bool,
        message: str,
        subject: str = "",
        *,
        with_instruction: bool = True,
    ) -> None: ...


def controller_of(name: str, errors: Sink) -> str:
    """The controller id a CheckProcessing request names in ``controller``
    (``controllers/{id}``, or a bare id); a violation of ``controller`` and
    "" when malformed. Checked before the rest of the request."""
    raw = name if name.startswith("controllers/") else f"controllers/{name}"
    return common.parse_name(raw, "controllers", "controller", errors)


def validate_request(
    purpose: str,
    data_categories: tuple[str, ...],
    operation: Operation | None,
    country: str | None,
    data_subjects: tuple[str, ...],
    vocabulary: taxonomy.Vocabulary,
    countries: frozenset[str],
    errors: Sink,
) -> None:
    """Field checks for the RPC layer (INVALID_ARGUMENT); adds to ``errors``.
    ``countries``: the ISO 3166-1 alpha-2 codes."""
    if (
        purpose
        and purpose in vocabulary.data_uses
        and data_categories
        and vocabulary.data_categories.issuperset(data_categories)
        and (not data_subjects or vocabulary.data_subjects.issuperset(data_subjects))
        and operation is not None
        and (country is None or country in countries)
    ):
        # The usual request passes every check below: said at once, as it
        # is asked before every decision.
        return
    if not purpose:
        errors.add("purpose", "is required")
    elif purpose not in vocabulary.data_uses:
        errors.add("purpose", f"unknown fideslang data_use key {purpose!r}")
    if not data_categories:
        errors.add("data_categories", "must name at least one category")
    taxonomy.validate(
        taxonomy.Kind.DATA_CATEGORY, "data_categories", data_categories, vocabulary, errors
    )
    taxonomy.validate(
        taxonomy.Kind.DATA_SUBJECT, "data_subjects", data_subjects, vocabulary, errors
    )
    if operation is None:
        errors.add("operation", "is required")
    if country is not None and country not in countries:
        errors.add("country", f"{country!r} is not an ISO 3166-1 alpha-2 country code")
