"""gRPC servicer for TransferService: protobuf in, domain calls, protobuf out.

CheckTransfer is the hot path: a freshness proof (the shared revision map, or
one revision query), a dictionary lookup in the current snapshot and the pure
``decide`` (docs/adr/0005-transfer-snapshot.md, 0014).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import grpc

from dpa_decisions.common import iso_day
from dpa_decisions.transfer_types import subprocessor_request
from dpa_registry_api.v1 import transfers_pb2 as pb
from dpa_registry_api.v1 import transfers_pb2_grpc as pb_grpc
from registry import auth, clock, consistency, names, paging, rpc, taxonomy, wire
from registry.errors import InvalidArgument, NotFound, Violations
from registry.transfers import adequacy, store, timing
from registry.transfers.cache import SnapshotCache, shared_cache
from registry.transfers.decide import validate_request
from registry.transfers.model import (
    Art49Ground,
    Clause9Option,
    Decision,
    Mechanism,
    ReasonCode,
    RecipientSector,
    Safeguard,
    SccDecision,
    SccModule,
    TransferRequest,
)
from registry.transfers.overrides import AdequacyChange, ChangeKind
from registry.transfers.reference import (
    AdequacyDecision,
    AdequacyScope,
    AdequacyStatus,
    DestinationKind,
)
from registry.transfers.snapshot import Snapshot

_DENIAL = {
    code: pb.TransferDenialCode.Value(f"TRANSFER_DENIAL_CODE_{code.value}") for code in ReasonCode
}
_MECHANISM_TO_PB = {
    m: pb.TransferMechanism.Value(f"TRANSFER_MECHANISM_{m.name}") for m in Mechanism
}
_MECHANISM_FROM_PB = {v: k for k, v in _MECHANISM_TO_PB.items()}
_SCC_TO_PB = {d: pb.SccDecision.Value(f"SCC_DECISION_{d.name}") for d in SccDecision}
_SCC_FROM_PB = {v: k for k, v in _SCC_TO_PB.items()}
_GROUND_FROM_PB = {pb.Art49Ground.Value(f"ART49_GROUND_{g.name}"): g for g in Art49Ground}
_SECTOR_FROM_PB = {
    pb.RecipientSector.Value(f"RECIPIENT_SECTOR_{s.name}"): s for s in RecipientSector
}
_KIND_TO_PB = {k: pb.DestinationKind.Value(f"DESTINATION_KIND_{k.name}") for k in DestinationKind}
_KIND_FROM_PB = {v: k for k, v in _KIND_TO_PB.items()}
_SCOPE_TO_PB = {s: pb.AdequacyScope.Value(f"ADEQUACY_SCOPE_{s.name}") for s in AdequacyScope}
_SCOPE_FROM_PB = {v: k for k, v in _SCOPE_TO_PB.items()}
_STATUS_TO_PB = {s: pb.AdequacyStatus.Value(f"ADEQUACY_STATUS_{s.name}") for s in AdequacyStatus}
_CHANGE_FROM_PB = {
    pb.AdequacyChangeKind.Value(f"ADEQUACY_CHANGE_KIND_{k.name}"): k for k in ChangeKind
}

# Update-mask paths -> the Safeguard fields they set.
_MASK = {
    "destination_country": {"destination_country"},
    "mechanism": {"mechanism"},
    "scc_decision": {"scc_decision"},
    "scc_module": {"scc_module"},
    "clause9_option": {"clause9_option"},
    "signed_date": {"signed_on"},
    "tia": {"tia_reference", "tia_date", "tia_review_due"},
    "tia.reference": {"tia_reference"},
    "tia.date": {"tia_date"},
    "tia.review_date": {"tia_review_due"},
    "supplementary_measures": {"supplementary_measures"},
    "review_date": {"review_date"},
    "instrument_reference": {"instrument_reference"},
}


_ts = wire.timestamp_of


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _wire_day(text: str) -> date | None:
    """A day on the wire (YYYY-MM-DD); None: not one."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_day(field: str, text: str, errors: Violations) -> date | None:
    if not text:
        return None
    day = _wire_day(text)
    if day is None:
        errors.add(field, f"{text!r} is not a date (YYYY-MM-DD)")
    return day


def safeguard_from_proto(
    msg: pb.Safeguard, prefix: str, errors: Violations, *, require_mechanism: bool = True
) -> Safeguard:
    mechanism = _MECHANISM_FROM_PB.get(msg.mechanism)
    if mechanism is None:
        if require_mechanism:
            errors.add(f"{prefix}.mechanism", "required")
        mechanism = Mechanism.SCC  # placeholder: reported above, or not updated
    return Safeguard(
        mechanism=mechanism,
        destination_country=msg.destination_country,
        scc_decision=_SCC_FROM_PB.get(msg.scc_decision),
        scc_module=SccModule(wire.enum_value(f"{prefix}.scc_module", msg.scc_module, pb.SccModule))
        if msg.scc_module
        else None,
        clause9_option=Clause9Option(
            wire.enum_value(f"{prefix}.clause9_option", msg.clause9_option, pb.Clause9Option)
        )
        if msg.clause9_option
        else None,
        signed_on=_parse_day(f"{prefix}.signed_date", msg.signed_date, errors),
        tia_reference=msg.tia.reference or None,
        tia_date=_parse_day(f"{prefix}.tia.date", msg.tia.date, errors),
        tia_review_due=_parse_day(f"{prefix}.tia.review_date", msg.tia.review_date, errors),
        supplementary_measures=tuple(msg.supplementary_measures),
        review_date=_parse_day(f"{prefix}.review_date", msg.review_date, errors),
        instrument_reference=msg.instrument_reference or None,
    )


def safeguard_message(sg: Safeguard) -> pb.Safeguard:
    """The safeguard's content (no name, times or etag)."""
    return pb.Safeguard(
        destination_country=sg.destination_country,
        mechanism=_MECHANISM_TO_PB[sg.mechanism],
        scc_decision=_SCC_TO_PB[sg.scc_decision]
        if sg.scc_decision
        else pb.SCC_DECISION_UNSPECIFIED,
        scc_module=pb.SccModule.ValueType(int(sg.scc_module or 0)),
        clause9_option=pb.Clause9Option.ValueType(int(sg.clause9_option or 0)),
        signed_date=_day(sg.signed_on),
        tia=pb.TransferImpactAssessment(
            reference=sg.tia_reference or "",
            date=_day(sg.tia_date),
            review_date=_day(sg.tia_review_due),
        ),
        supplementary_measures=list(sg.supplementary_measures),
        review_date=_day(sg.review_date),
        instrument_reference=sg.instrument_reference or "",
    )


def safeguard_to_proto(stored: store.StoredSafeguard) -> pb.Safeguard:
    msg = safeguard_message(stored.safeguard)
    msg.name = stored.name
    msg.create_time.CopyFrom(_ts(stored.create_time))
    msg.update_time.CopyFrom(_ts(stored.update_time))
    msg.etag = stored.etag
    return msg


def adequacy_to_proto(entry: AdequacyDecision, changed: bool) -> pb.AdequacyDecision:
    return pb.AdequacyDecision(
        name=names.make(adequacy.ADEQUACY, entry.code),
        code=entry.code,
        kind=_KIND_TO_PB[entry.kind],
        destination_name=entry.name,
        decision=entry.decision,
        adopted_date=entry.adopted.isoformat(),
        valid_until_date=_day(entry.valid_until),
        scope=_SCOPE_TO_PB[entry.scope],
        status=_STATUS_TO_PB[entry.status],
        status_since_date=_day(entry.status_since),
        source=entry.source,
        notes=entry.notes,
        changed_by_staff=changed,
    )


def _one_off(msg: pb.CheckTransferRequest) -> bool:
    """A field only a request to another recipient than a registered
    sub-processor, or with its own safeguards or derogation, sets."""
    return bool(
        msg.recipient
        or msg.destination_country
        or msg.safeguards
        or msg.derogation
        or msg.recipient_sector
        or msg.recipient_dpf_certified
        or msg.recipient_dpf_checked_date
    )


def _usual(
    msg: pb.CheckTransferRequest, snapshot: Snapshot, today: date
) -> pb.TransferDecision | None:
    """The answer to the usual request (:meth:`Snapshot.usual`), read
    straight from the message; None: not the usual request, build it
    (:func:`transfer_request`), validate it and decide."""
    if not msg.subprocessor_id or _one_off(msg):
        return None
    on = _wire_day(msg.transfer_date) if msg.transfer_date else today
    if on is None:
        return None  # reported by transfer_request
    decision = snapshot.usual(
        msg.controller_id,
        msg.subprocessor_id,
        # ``[:]`` first: a list is read out of the repeated field in one
        # step, about twice as fast as iterating it.
        tuple(msg.data_categories[:]),
        msg.purpose,
        on,
        taxonomy.vocabulary(),
    )
    return None if decision is None else decision_to_proto(decision, on)


def transfer_request(
    msg: pb.CheckTransferRequest, today: date
) -> tuple[TransferRequest, Violations]:
    errors = Violations()
    on = _parse_day("transfer_date", msg.transfer_date, errors) or today
    if msg.subprocessor_id and not _one_off(msg):
        # A sub-processor's request, the hot path: what the general build
        # below gives when these fields are absent.
        request = subprocessor_request(
            # ``[:]`` first: a list is read out of the repeated field in
            # one step, about twice as fast as iterating it.
            msg.controller_id,
            tuple(msg.data_categories[:]),
            msg.purpose,
            on,
            msg.subprocessor_id,
        )
        return request, errors
    safeguards = tuple(
        safeguard_from_proto(sg, f"safeguards[{i}]", errors) for i, sg in enumerate(msg.safeguards)
    )
    request = TransferRequest(
        controller_id=msg.controller_id,
        data_categories=tuple(msg.data_categories),
        purpose=msg.purpose,
        on=on,
        subprocessor_id=msg.subprocessor_id or None,
        recipient=msg.recipient or None,
        destination_country=msg.destination_country or None,
        safeguards=safeguards,
        derogation=_GROUND_FROM_PB.get(msg.derogation),
        recipient_sector=_SECTOR_FROM_PB.get(msg.recipient_sector, RecipientSector.COMMERCIAL),
        recipient_dpf_certified=msg.recipient_dpf_certified,
        recipient_dpf_checked_on=_parse_day(
            "recipient_dpf_checked_date", msg.recipient_dpf_checked_date, errors
        ),
    )
    return request, errors


def decision_to_proto(decision: Decision, on: date) -> pb.TransferDecision:
    """The answer on the wire, built once per distinct decision and day (many
    requests share one: the message is only ever read, by gRPC and by the
    per-revision memo that hands it out again)."""
    key = (decision, on)
    built = _BUILT.get(key)
    if built is None:
        built = pb.TransferDecision(
            verdict=pb.TRANSFER_VERDICT_ALLOWED if decision.allowed else pb.TRANSFER_VERDICT_DENIED,
            legal_bases=decision.legal_bases,
            reasons=[
                pb.DenialReason(code=_DENIAL[r.code], message=r.message) for r in decision.reasons
            ],
            revision=decision.revision,
            transfer_date=iso_day(on),
        )
        if len(_BUILT) >= _BUILT_BOUND:
            _BUILT.clear()
        _BUILT[key] = built
    return built


_BUILT: dict[tuple[Decision, date], pb.TransferDecision] = {}
_BUILT_BOUND = 4096


def _subprocessor_parent(parent: str, *, allow_all: bool) -> str | None:
    if allow_all and parent == f"{store.SUBPROCESSORS}/-":
        return None
    return names.parse(parent, store.SUBPROCESSORS, "parent")


def _require_known(snapshot: Snapshot, transfer: TransferRequest) -> None:
    """A calling service with a typo hears it loudly: an unknown controller or
    sub-processor is NOT_FOUND, as in every other RPC (CheckProcessing too)."""
    if transfer.controller_id not in snapshot.controllers:
        raise NotFound(f"controllers/{transfer.controller_id} not found")
    sp = transfer.subprocessor_id
    if sp is not None and sp not in snapshot.subprocessors:
        raise NotFound(f"subprocessors/{sp} not found")


MEMO_LIMIT = 200_000
"""Answers kept per revision and day (the same state gives the same answer)."""


@dataclass(frozen=True, slots=True)
class _Asked:
    """What a request asked: its consistency requirement, controller and
    sub-processor, enough to find the state that must answer it again."""

    requirement: consistency.Requirement
    controller_id: str
    subprocessor_id: str | None


@dataclass(frozen=True, slots=True)
class _Answered:
    """What a request asked, and its answer as sent (serialized once)."""

    asked: _Asked
    answer: bytes


@dataclass(frozen=True)
class _Memo:
    """Answers already given at one revision on one day, by the request's
    bytes: a request without a date is decided for today, so the day is part
    of it. Swapped whole: a reader holding the old one keeps a consistent map."""

    revision: int
    day: date
    answers: dict[bytes, _Answered] = field(default_factory=dict)


class TransferService(pb_grpc.TransferServiceServicer):
    def __init__(self, cache: SnapshotCache | None = None) -> None:
        self.cache = cache or shared_cache()
        self._memo = _Memo(-1, date.min)
        # Built in the background from the start; until it is in place each
        # check reads only its own slice (docs/adr/0005). The taxonomy every
        # check validates against loads now, not in the first check.
        self.cache.warm()
        taxonomy.preload()

    def known_answer(self, method: str) -> rpc.KnownAnswer | None:
        """CheckTransfer answers a request it has answered before at the
        state the request calls for from its bytes (``rpc.KnownAnswer``)."""
        return self._known_transfer if method == "CheckTransfer" else None

    def _known_transfer(self, raw: bytes) -> bytes | None:
        """The answer to request bytes answered before, at the revision their
        consistency requirement calls for, today; None: never answered here,
        decide it (``CheckTransfer``). The requirement is met, or refused,
        exactly as there, and freshness is proved once: when the state has
        moved on, the request is decided again right here from the snapshot
        just proved (its bytes passed every wire check before, and those do
        not depend on the state)."""
        memo = self._memo
        answered = memo.answers.get(raw)
        if answered is None:
            return None
        known = answered.asked
        snapshot = self.cache.for_check(
            known.requirement, known.controller_id, known.subprocessor_id
        )
        started = timing.start()
        today = clock.today()
        if snapshot.revision == memo.revision and memo.day == today:
            response = answered.answer
        else:
            request = pb.CheckTransferRequest.FromString(raw)
            # Decided again at the state just proved (once per request and
            # revision): serialized for the memo and again here.
            response = self._decide(request, raw, known, snapshot, today).SerializeToString()
        if started is not None:  # one call in SAMPLE_EVERY
            timing.record(started)
        return response

    def CheckTransfer(
        self, request: pb.CheckTransferRequest, context: grpc.ServicerContext
    ) -> pb.TransferDecision:
        requirement = consistency.FULLY_CONSISTENT
        if request.HasField("consistency"):
            wanted = request.consistency
            requirement = consistency.from_wire(wanted.mode, wanted.at_least_revision)
        asked = _Asked(requirement, request.controller_id, request.subprocessor_id or None)
        snapshot = self.cache.for_check(requirement, asked.controller_id, asked.subprocessor_id)
        started = timing.start()
        response = self._decide(
            request, request.SerializeToString(), asked, snapshot, clock.today()
        )
        timing.record(started)
        return response

    def _decide(
        self,
        request: pb.CheckTransferRequest,
        key: bytes,
        asked: _Asked,
        snapshot: Snapshot,
        today: date,
    ) -> pb.TransferDecision:
        """Decide ``request`` from a snapshot that meets its requirement, and
        remember the answer under the request's bytes."""
        response = _usual(request, snapshot, today)
        if response is None:
            transfer, errors = transfer_request(request, today)
            validate_request(transfer, snapshot.reference, errors)
            errors.raise_if_any()
            _require_known(snapshot, transfer)
            response = decision_to_proto(snapshot.decide(transfer), transfer.on)
        self._remember(
            key, _Answered(asked, response.SerializeToString()), snapshot.revision, today
        )
        return response

    def _remember(self, key: bytes, answered: _Answered, revision: int, today: date) -> None:
        memo = self._memo
        if memo.revision != revision or memo.day != today:
            if revision < memo.revision and memo.day == today:
                return  # decided at a state already superseded here
            memo = self._memo = _Memo(revision, today)
        if len(memo.answers) < MEMO_LIMIT:
            memo.answers[key] = answered

    def CreateSafeguard(
        self, request: pb.CreateSafeguardRequest, context: grpc.ServicerContext
    ) -> pb.Safeguard:
        subprocessor_id = _subprocessor_parent(request.parent, allow_all=False) or ""
        errors = Violations()
        safeguard = safeguard_from_proto(request.safeguard, "safeguard", errors)
        errors.raise_if_any()
        return rpc.mutate(
            context,
            auth.current_caller(),
            "CreateSafeguard",
            request.request_id,
            request,
            pb.Safeguard,
            lambda m: safeguard_to_proto(
                store.create_safeguard(m, subprocessor_id, request.safeguard_id, safeguard)
            ),
        )

    def GetSafeguard(
        self, request: pb.GetSafeguardRequest, context: grpc.ServicerContext
    ) -> pb.Safeguard:
        sp, sg = store.parse_safeguard_name(request.name)
        return safeguard_to_proto(store.get_safeguard(sp, sg))

    def ListSafeguards(
        self, request: pb.ListSafeguardsRequest, context: grpc.ServicerContext
    ) -> pb.ListSafeguardsResponse:
        subprocessor_id = _subprocessor_parent(request.parent, allow_all=True)
        scope = f"safeguards:{request.parent}"
        page = paging.page(request.page_size, request.page_token, scope)
        items = store.list_safeguards(subprocessor_id, page)
        return pb.ListSafeguardsResponse(
            safeguards=[safeguard_to_proto(s) for s in items],
            next_page_token=page.next_token(
                [f"{s.subprocessor_id}/{s.safeguard_id}" for s in items], scope
            ),
        )

    def UpdateSafeguard(
        self, request: pb.UpdateSafeguardRequest, context: grpc.ServicerContext
    ) -> pb.Safeguard:
        sp, sg = store.parse_safeguard_name(request.safeguard.name, "safeguard.name")
        fields: set[str] = set()
        for i, path in enumerate(request.update_mask.paths):
            if path not in _MASK:
                raise InvalidArgument.one(f"update_mask.paths[{i}]", f"unknown field {path!r}")
            fields |= _MASK[path]
        if not fields:
            fields = set(store.UPDATABLE)
        errors = Violations()
        proposed = safeguard_from_proto(
            request.safeguard, "safeguard", errors, require_mechanism="mechanism" in fields
        )
        errors.raise_if_any()
        return rpc.mutate(
            context,
            auth.current_caller(),
            "UpdateSafeguard",
            request.request_id,
            request,
            pb.Safeguard,
            lambda m: safeguard_to_proto(
                store.update_safeguard(
                    m, sp, sg, request.safeguard.etag, proposed, frozenset(fields)
                )
            ),
        )

    def ListAdequacyDecisions(
        self, request: pb.ListAdequacyDecisionsRequest, context: grpc.ServicerContext
    ) -> pb.ListAdequacyDecisionsResponse:
        reference = self.cache.for_check(consistency.FULLY_CONSISTENT, None, None).reference
        base = self.cache.base
        page = paging.page(request.page_size, request.page_token, "adequacyDecisions")
        codes = sorted(c for c in reference.adequacy if page.after is None or c > page.after)
        codes = codes[: page.size]
        return pb.ListAdequacyDecisionsResponse(
            adequacy_decisions=[
                adequacy_to_proto(
                    reference.adequacy[c], base.adequacy.get(c) != reference.adequacy[c]
                )
                for c in codes
            ],
            next_page_token=page.next_token(codes, "adequacyDecisions"),
            eea_countries=sorted(reference.eea),
            reviewed_date=reference.reviewed.isoformat(),
        )

    def RecordAdequacyChange(
        self, request: pb.RecordAdequacyChangeRequest, context: grpc.ServicerContext
    ) -> pb.AdequacyDecision:
        msg = request.change
        errors = Violations()
        kind = _CHANGE_FROM_PB.get(msg.kind)
        if kind is None:
            errors.add("change.kind", "required")
        effective = _parse_day("change.effective_date", msg.effective_date, errors)
        if effective is None and not msg.effective_date:
            errors.add("change.effective_date", "required")
        valid_until = _parse_day("change.valid_until_date", msg.valid_until_date, errors)
        errors.raise_if_any()
        assert kind is not None and effective is not None
        change = AdequacyChange(
            code=msg.code,
            kind=kind,
            effective=effective,
            source=msg.source,
            notes=msg.notes,
            decision=msg.decision,
            destination_name=msg.destination_name,
            destination_kind=_KIND_FROM_PB.get(msg.destination_kind, DestinationKind.COUNTRY),
            scope=_SCOPE_FROM_PB.get(msg.scope, AdequacyScope.FULL),
            valid_until=valid_until,
        )
        return rpc.mutate(
            context,
            auth.current_caller(),
            "RecordAdequacyChange",
            request.request_id,
            request,
            pb.AdequacyDecision,
            lambda m: adequacy_to_proto(adequacy.record_adequacy_change(m, change), True),
        )
