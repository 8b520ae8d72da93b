"""The pure decision behind ``CheckTransfer`` (GDPR Art. 28 and Art. 44-49).

:func:`decide` answers "may the processor move this controller's data to this
sub-processor (or one-off recipient), and on which Chapter V basis?". It does
no I/O and reads no clock: the same inputs give the same :class:`Decision`,
with reasons in a fixed order. When denied, *every* reason is listed.

Checks, in the order their reasons appear:

1. Art. 28(3): a registered controller with an active DPA.
2. The request names data categories and either a sub-processor or a
   one-off recipient with a destination.
3. Art. 28(2): the sub-processor is known and ACTIVE, and this controller
   has AUTHORIZED it (PENDING, OBJECTED, WITHDRAWN or absent each deny).
4. Art. 28(3)(a): the controller's documented instructions allow every
   destination and every data category (fideslang hierarchy: a grant on
   ``user.contact`` covers ``user.contact.email``).
5. Art. 28(4): each category is within the sub-processor's permitted ones.
6. Chapter V, for each destination in sorted order (every processing
   location of the sub-processor, plus ``US`` for a US-established entity,
   EDPB Guidelines 05/2021):

   * EEA member: no transfer safeguard needed (basis ``EEA``);
   * Art. 45 adequacy decision in force on the transfer date, within its
     scope: Canada (Decision 2002/2/EC) only for commercial organisations
     under PIPEDA, Japan (Decision (EU) 2019/419) only the private sector,
     the United States (Decision (EU) 2023/1795) only for recipients
     certified under the EU-US Data Privacy Framework whose certification
     was checked within the reference's freshness window;
   * otherwise a valid Art. 46 safeguard for that country: SCCs under
     Decision (EU) 2021/914 (module fitting a processor exporter, signed,
     with a Clause 14 transfer impact assessment that is not past its
     review date, EDPB Recommendations 01/2020); SCCs under the repealed
     Decisions 2001/497/EC, 2004/915/EC, 2010/87/EU only if signed before
     27 September 2021 and used before 27 December 2022 (Decision 2021/914
     Art. 4); binding corporate rules (Art. 47); another Art. 46 instrument;
   * an Art. 49 derogation is never a standing basis for a sub-processor.
     Documented choice: a **one-off** transfer to a recipient that is not a
     sub-processor may rest on an Art. 49(1)(a)-(g) ground, and only when
     the controller's documented instructions allow that ground (Art.
     28(3)(a): transfers only on documented instructions; assessing a
     derogation is the controller's call, EDPB Guidelines 2/2018).

Legal-basis strings (stable, for logs and exports): ``EEA``;
``adequacy: Japan, (EU) 2019/419``; ``adequacy: United States,
(EU) 2023/1795; DPF certified, checked 2026-01-10``; ``SCC 2021/914 module 3
signed 2024-03-01, TIA 2024-02-20``; ``BCR (Art. 47): <reference>``;
``Art. 46 instrument: <reference>``; ``derogation: Art. 49(1)(b), one-off
transfer``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date

from dpa_decisions import common, taxonomy
from dpa_decisions.chapter_v import CODE_HINTS, Importer, assess, turning_days
from dpa_decisions.common import Sink, no_active_dpa_reason
from dpa_decisions.reference import Reference
from dpa_decisions.transfer_types import (
    AuthorizationState,
    ControllerView,
    Decision,
    Reason,
    Subprocessor,
    SubprocessorStatus,
    TransferRequest,
)
from dpa_decisions.transfer_types import ReasonCode as C

_AUTHORIZATION_REASONS = {
    AuthorizationState.PENDING: (
        C.AUTHORIZATION_PENDING,
        "the controller has not yet authorised sub-processor {sp} (Art. 28(2); "
        "notice or objection period still running)",
    ),
    AuthorizationState.OBJECTED: (
        C.AUTHORIZATION_OBJECTED,
        "the controller objected to sub-processor {sp} (Art. 28(2))",
    ),
    AuthorizationState.WITHDRAWN: (
        C.AUTHORIZATION_WITHDRAWN,
        "the controller withdrew its authorisation of sub-processor {sp} (Art. 28(2))",
    ),
}

_RESOURCE_ID = common.RESOURCE_ID.fullmatch

_MEMO_BOUND = 4096
"""Entries per sub-processor and kind in a :class:`Memo` (dates, category sets)."""


def decide(
    request: TransferRequest,
    controller: ControllerView | None,
    subprocessor: Subprocessor | None,
    reference: Reference,
    revision: int,
) -> Decision:
    """Decides one transfer; pure and deterministic. See the module docstring.

    ``controller`` and ``subprocessor`` are what the registry holds for the
    ids in ``request`` (``None`` if unknown); the controller's view carries
    its authorisations. Passing a record whose id does not match the request
    is a programming error (ValueError).
    """
    state = None
    if controller is not None and subprocessor is not None:
        state = controller.authorizations.get(subprocessor.id)
    return decide_with(request, controller, state, subprocessor, reference, revision)


def decide_with(
    request: TransferRequest,
    controller: ControllerView | None,
    authorization: AuthorizationState | None,
    subprocessor: Subprocessor | None,
    reference: Reference,
    revision: int,
    memo: Memo | None = None,
) -> Decision:
    """:func:`decide` with the controller's ``authorization`` of the
    sub-processor given apart (its view's ``authorizations`` are not read).

    ``memo`` remembers the work that depends only on the sub-processor's
    record, the reference, the transfer date and the data categories, so that
    what is left per request is the controller's part: the same answer,
    several times cheaper.
    """
    requested = request.data_categories
    # Sorted and distinct, always a tuple (the memo's key; ``tuple()`` of a
    # tuple is the tuple itself).
    categories = tuple(requested) if len(requested) == 1 else tuple(sorted(set(requested)))
    if (
        memo is not None
        and controller is not None
        and subprocessor is not None
        and categories
        and request.derogation is None
        and not request.destination_country
        and controller.controller_id == request.controller_id
        and subprocessor.id == request.subprocessor_id
    ):
        recipient = memo.work(subprocessor, reference)
        if adds_nothing(controller, authorization, categories, recipient):
            return recipient.outcome(categories, request.on, revision)

    reasons: list[Reason] = []
    # 1. Controller and DPA (Art. 28(3)); 2. the request itself.
    _check_controller(request, controller, reasons)
    if not categories:
        reasons.append(Reason(C.NO_DATA_CATEGORIES, "the request names no data categories"))

    # 3. Sub-processor, status, authorisation (Art. 28(2)); the destinations.
    work = _work(request, subprocessor, reference, memo, reasons)
    extra = request.destination_country
    if work is None:
        ordered: tuple[str, ...] = (extra,) if extra else ()
    else:
        reasons.extend(work.target.reasons)
        ordered = work.target.destinations
        if extra and extra not in ordered:
            ordered = tuple(sorted((*ordered, extra)))
        if controller is not None and work.record is not None:
            reasons.extend(work.authorization_reasons(authorization))

    # 4. Documented instructions (Art. 28(3)(a)).
    if controller is not None:
        reasons.extend(_instruction_reasons(controller, ordered, categories))

    # 5. Categories the sub-processor may receive (Art. 28(4)).
    if work is not None and work.record is not None:
        reasons.extend(work.not_permitted(categories))

    # 6. Chapter V, destination by destination.
    bases: tuple[str, ...] = ()
    if work is not None:
        allowed = controller.allowed_derogations if controller is not None else frozenset()
        if request.derogation is None and ordered is work.target.destinations:
            bases, missing = work.chapter_v(request.on)
        else:
            bases, missing = assess(
                ordered, work.target.importer, request.on, request.derogation, allowed, reference
            )
        reasons.extend(missing)

    if reasons:
        return Decision(False, (), tuple(reasons), revision)
    return Decision(True, bases, (), revision)


def adds_nothing(
    controller: ControllerView,
    authorization: AuthorizationState | None,
    categories: tuple[str, ...],
    recipient: Work,
) -> bool:
    """True when the controller's side of the decision gives no reason for
    this sub-processor: an active DPA (check 1), its authorisation (check 3)
    and documented instructions that allow every destination and category
    (check 4). :func:`decide_with` then answers ``recipient.outcome(...)``,
    the recipient's part alone, the same for every such controller."""
    return (
        authorization is AuthorizationState.AUTHORIZED
        and controller.dpa_active
        and (
            (controller.allowed_countries is None and controller.allowed_categories is None)
            or not _instruction_reasons(controller, recipient.target.destinations, categories)
        )
    )


def _known_keys(categories: tuple[str, ...], purpose: str, vocabulary: taxonomy.Vocabulary) -> bool:
    """Known, non-empty keys: with well-formed ids (a registered controller's
    and sub-processor's always are: both were checked when registered), a
    sub-processor's request passes every check of :func:`validate_request`."""
    return bool(
        purpose
        and purpose in vocabulary.data_uses
        and categories
        and vocabulary.data_categories.issuperset(categories)
    )


def usual(
    controller: ControllerView,
    authorization: AuthorizationState | None,
    categories: tuple[str, ...],
    purpose: str,
    on: date,
    recipient: Work,
    vocabulary: taxonomy.Vocabulary,
    revision: int,
) -> Decision | None:
    """The usual request answered at once: a sub-processor's, with no
    one-off fields (as ``transfer_types.subprocessor_request`` builds it; ``recipient``
    is the one registered under the requested id), with known keys, from the
    ``controller`` registered under the requested id, which adds nothing
    (:func:`adds_nothing`). Such a request passes :func:`validate_request`
    and :func:`decide_with` answers it with ``recipient.outcome``; this says
    so in one step. None: the request is not that, ask them."""
    record = recipient.record
    if (
        record is not None
        and _known_keys(categories, purpose, vocabulary)
        and adds_nothing(controller, authorization, categories, recipient)
    ):
        if len(categories) > 1:
            categories = tuple(sorted(set(categories)))  # as decide_with reads them
        return recipient.outcome(categories, on, revision)
    return None


class Memo:
    """What :func:`decide_with` may remember between requests: per
    sub-processor, the work that is a pure function of its (frozen) record,
    the reference, the transfer date and the data categories.

    Entries are found by sub-processor id and used only while the record and
    the reference are the very objects they were computed from (each entry
    holds both), so a changed record or reference is never answered from
    the memo, even while snapshots on two references decide side by side.
    Safe to share between threads (at worst two threads compute the same
    entry).
    """

    __slots__ = ("_work",)

    def __init__(self) -> None:
        self._work: dict[str, Work] = {}

    def work(self, subprocessor: Subprocessor, reference: Reference) -> Work:
        found = self._work.get(subprocessor.id)
        if found is None or found.record is not subprocessor or found.reference is not reference:
            target = _subprocessor_target(subprocessor)
            found = self._work[subprocessor.id] = Work(subprocessor, reference, target)
        return found


@dataclass(frozen=True, slots=True)
class _Target:
    """Who receives the data, where it goes (sorted), and the reasons the
    recipient's own record gives (the sub-processor's status, locations)."""

    importer: Importer
    destinations: tuple[str, ...]
    reasons: tuple[Reason, ...]


@dataclass(slots=True)
class Work:
    """One recipient's part of the decision, computed once per input
    (:meth:`Memo.work`).

    Chapter V is remembered per span between two of the recipient's turning
    days (:func:`dpa_decisions.chapter_v.turning_days`) when it finds a basis
    for every destination (the answer is the same on each day of the span),
    and per day when it gives reasons (they may name the day)."""

    record: Subprocessor | None
    reference: Reference
    target: _Target
    _authorizations: dict[AuthorizationState | None, tuple[Reason, ...]] = field(
        default_factory=dict
    )
    _categories: dict[tuple[str, ...], tuple[Reason, ...]] = field(default_factory=dict)
    _days: dict[date | int, tuple[tuple[str, ...], tuple[Reason, ...]]] = field(
        default_factory=dict
    )
    _turning: tuple[date, ...] | None = None
    _outcomes: dict[tuple[tuple[str, ...], date | int], Decision] = field(default_factory=dict)

    def authorization_reasons(self, state: AuthorizationState | None) -> tuple[Reason, ...]:
        found = self._authorizations.get(state)
        if found is None:
            assert self.record is not None
            found = self._authorizations[state] = _authorization_reasons(self.record.id, state)
        return found

    def not_permitted(self, categories: tuple[str, ...]) -> tuple[Reason, ...]:
        found = self._categories.get(categories)
        if found is None:
            assert self.record is not None
            found = _not_permitted(self.record, categories)
            if len(self._categories) >= _MEMO_BOUND:
                self._categories.clear()
            self._categories[categories] = found
        return found

    def span(self, on: date) -> int:
        """Which span between turning days ``on`` falls in."""
        turning = self._turning
        if turning is None:
            target = self.target
            turning = self._turning = turning_days(
                target.destinations, target.importer, self.reference
            )
        return bisect_right(turning, on)

    def chapter_v(self, on: date) -> tuple[tuple[str, ...], tuple[Reason, ...]]:
        """Chapter V for the recipient's own destinations without a derogation."""
        days = self._days
        found = days.get(on)
        if found is None:
            span = self.span(on)
            found = days.get(span)
            if found is None:
                target = self.target
                found = assess(target.destinations, target.importer, on, None, (), self.reference)
                if len(days) >= _MEMO_BOUND:
                    days.clear()
                days[on if found[1] else span] = found
        return found

    def outcome(self, categories: tuple[str, ...], on: date, revision: int) -> Decision:
        """The decision when the controller's side gives no reason: the
        recipient's own reasons (status, locations, categories, Chapter V) or
        its bases. One value per span while it is allowed."""
        turning = self._turning
        key = (categories, bisect_right(turning, on) if turning is not None else self.span(on))
        found = self._outcomes.get(key)
        if found is None or found.revision != revision:
            bases, missing = self.chapter_v(on)
            reasons = (*self.target.reasons, *self.not_permitted(categories), *missing)
            if reasons:
                return Decision(False, (), reasons, revision)
            found = Decision(True, bases, (), revision)
            if len(self._outcomes) >= _MEMO_BOUND:
                self._outcomes.clear()
            self._outcomes[key] = found
        return found


def _check_controller(
    request: TransferRequest, controller: ControllerView | None, reasons: list[Reason]
) -> None:
    if controller is None:
        reasons.append(
            Reason(
                C.CONTROLLER_UNKNOWN,
                f"controller {request.controller_id!r} is not registered: no DPA on record "
                "(Art. 28(3))",
            )
        )
        return
    if controller.controller_id != request.controller_id:
        raise ValueError("controller record does not match request.controller_id")
    if not controller.dpa_active:
        ended = controller.dpa_ended_version
        reasons.append(
            Reason(
                C.DPA_TERMINATED if ended is not None else C.DPA_NOT_ACTIVE,
                no_active_dpa_reason(ended),
            )
        )


def _work(
    request: TransferRequest,
    subprocessor: Subprocessor | None,
    reference: Reference,
    memo: Memo | None,
    reasons: list[Reason],
) -> Work | None:
    """The recipient's part: the sub-processor's (remembered in ``memo``) or
    the one-off recipient's; None after appending why there is no recipient."""
    sp_id = request.subprocessor_id
    if sp_id is not None:
        if subprocessor is None:
            reasons.append(
                Reason(C.SUBPROCESSOR_UNKNOWN, f"sub-processor {sp_id!r} is not in the registry")
            )
            return None
        if subprocessor.id != sp_id:
            raise ValueError("subprocessor record does not match request.subprocessor_id")
        if memo is not None:
            return memo.work(subprocessor, reference)
        return Work(subprocessor, reference, _subprocessor_target(subprocessor))
    if subprocessor is not None:
        raise ValueError("subprocessor given for a request without subprocessor_id")
    if not request.recipient or not request.destination_country:
        reasons.append(
            Reason(
                C.REQUEST_INCOMPLETE,
                "the request names neither a sub-processor nor a recipient with a "
                "destination country",
            )
        )
        return None
    importer = Importer(
        is_subprocessor=False,
        sector=request.recipient_sector,
        dpf_certified=request.recipient_dpf_certified,
        dpf_checked_on=request.recipient_dpf_checked_on,
        safeguards=request.safeguards,
    )
    return Work(None, reference, _Target(importer, (request.destination_country,), ()))


def _subprocessor_target(subprocessor: Subprocessor) -> _Target:
    destinations = set(subprocessor.locations)
    if subprocessor.is_us_entity:
        destinations.add("US")
    reasons: list[Reason] = []
    sp = subprocessor.id
    if subprocessor.status is SubprocessorStatus.PROPOSED:
        reasons.append(
            Reason(
                C.SUBPROCESSOR_PROPOSED,
                f"sub-processor {sp!r} is only proposed, not yet engaged (Art. 28(2))",
            )
        )
    elif subprocessor.status is SubprocessorStatus.RETIRED:
        reasons.append(Reason(C.SUBPROCESSOR_RETIRED, f"sub-processor {sp!r} is retired"))
    if not subprocessor.locations:
        reasons.append(
            Reason(
                C.SUBPROCESSOR_NO_LOCATIONS,
                f"sub-processor {sp!r} has no recorded processing location: transfers "
                "cannot be assessed",
            )
        )
    importer = Importer(
        is_subprocessor=True,
        sector=subprocessor.sector,
        dpf_certified=subprocessor.dpf_certified,
        dpf_checked_on=subprocessor.dpf_checked_on,
        safeguards=subprocessor.safeguards,
    )
    return _Target(importer, tuple(sorted(destinations)), tuple(reasons))


def _authorization_reasons(sp: str, state: AuthorizationState | None) -> tuple[Reason, ...]:
    if state is None:
        return (
            Reason(
                C.NOT_AUTHORIZED,
                f"the controller has given no authorisation for sub-processor {sp!r} (Art. 28(2))",
            ),
        )
    if state is AuthorizationState.AUTHORIZED:
        return ()
    code, message = _AUTHORIZATION_REASONS[state]
    return (Reason(code, message.format(sp=repr(sp))),)


def _instruction_reasons(
    controller: ControllerView,
    destinations: tuple[str, ...],
    categories: tuple[str, ...],
) -> list[Reason]:
    reasons: list[Reason] = []
    allowed_countries = controller.allowed_countries
    if allowed_countries is not None:
        for country in destinations:
            if country not in allowed_countries:
                reasons.append(
                    Reason(
                        C.INSTRUCTION_COUNTRY_EXCLUDED,
                        f"the controller's documented instructions do not allow "
                        f"processing in {country} (Art. 28(3)(a))",
                    )
                )
    allowed_categories = controller.allowed_categories
    if allowed_categories is not None:
        for category in categories:
            if not taxonomy.covered_by_any(category, allowed_categories):
                reasons.append(
                    Reason(
                        C.INSTRUCTION_CATEGORY_EXCLUDED,
                        f"the controller's documented instructions do not cover data "
                        f"category {category} (Art. 28(3)(a))",
                    )
                )
    return reasons


def _not_permitted(subprocessor: Subprocessor, categories: tuple[str, ...]) -> tuple[Reason, ...]:
    return tuple(
        Reason(
            C.CATEGORY_NOT_PERMITTED,
            f"sub-processor {subprocessor.id!r} is not engaged for data "
            f"category {category} (Art. 28(4))",
        )
        for category in categories
        if not taxonomy.covered_by_any(category, subprocessor.data_categories)
    )


def validate_request(
    request: TransferRequest, reference: Reference, vocabulary: taxonomy.Vocabulary, errors: Sink
) -> None:
    """Field checks for the RPC layer (INVALID_ARGUMENT); adds to ``errors``.

    Malformed requests (no target, both targets, unknown country code, unknown
    fideslang keys) are rejected before :func:`decide` is asked.
    """
    sp = request.subprocessor_id
    if (
        sp
        and not request.recipient
        and not request.destination_country
        and not request.safeguards
        and _known_keys(request.data_categories, request.purpose, vocabulary)
        and _RESOURCE_ID(request.controller_id)
        and _RESOURCE_ID(sp)
    ):
        # The usual request, a sub-processor's with known keys, passes every
        # check below: said at once, as it is asked before every decision.
        return
    if not request.controller_id:
        errors.add("controller_id", "required")
    else:
        common.resource_id("controller_id", request.controller_id, errors)
    if request.subprocessor_id:
        common.resource_id("subprocessor_id", request.subprocessor_id, errors)
    has_sp = bool(request.subprocessor_id)
    has_recipient = bool(request.recipient) or bool(request.destination_country)
    if has_sp and has_recipient:
        errors.add("recipient", "give either subprocessor_id or recipient/destination_country")
    elif not has_sp:
        if not request.recipient:
            errors.add("recipient", "required when no subprocessor_id is given")
        if not request.destination_country:
            errors.add("destination_country", "required when no subprocessor_id is given")
    country = request.destination_country
    if country and not reference.is_known_destination(country):
        hint = CODE_HINTS.get(country)
        extra = f" (use {hint})" if hint else ""
        errors.add(
            "destination_country",
            f"{country!r} is not an ISO 3166-1 alpha-2 code or listed organisation{extra}",
        )
    if not request.data_categories:
        errors.add("data_categories", "at least one data category is required")
    taxonomy.validate(
        taxonomy.Kind.DATA_CATEGORY, "data_categories", request.data_categories, vocabulary, errors
    )
    if not request.purpose:
        errors.add("purpose", "required")
    else:
        taxonomy.validate(taxonomy.Kind.DATA_USE, "purpose", (request.purpose,), vocabulary, errors)
    for i, sg in enumerate(request.safeguards):
        if has_sp:
            errors.add(f"safeguards[{i}]", "one-off safeguards are not taken with a sub-processor")
        elif not reference.is_known_destination(sg.destination_country):
            errors.add(f"safeguards[{i}].destination_country", "unknown code")
