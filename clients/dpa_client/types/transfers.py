"""Transfer safeguards (Chapter V) and adequacy decisions as the client returns them.

Frozen values built from the wire messages of ``transfers.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dpa_client.types._convert import enum_of, set_time, time_of, wire
from dpa_registry_api.v1 import transfers_pb2 as pb


class TransferMechanism(StrEnum):
    """The Chapter V tool a transfer rests on."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    ADEQUACY = "ADEQUACY"
    """Art. 45: comes from the reference data, never recorded as a safeguard."""
    SCC = "SCC"
    """Art. 46(2)(c): standard contractual clauses."""
    BCR = "BCR"
    """Art. 46(2)(b), Art. 47: binding corporate rules."""
    OTHER_ART46 = "OTHER_ART46"
    """Another Art. 46(2) or 46(3) instrument."""
    DEROGATION_ART49 = "DEROGATION_ART49"
    """Art. 49(1): never a standing basis for a sub-processor; a one-off
    CheckTransfer names its ground in `derogation` instead.
    """


class SccDecision(StrEnum):
    """The Commission decision a set of standard contractual clauses rests on."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    EU_2021_914 = "EU_2021_914"
    """Implementing Decision (EU) 2021/914."""
    EC_2001_497 = "EC_2001_497"
    """Repealed from 27 Sep 2021; no such clauses valid from 27 Dec 2022."""
    EC_2004_915 = "EC_2004_915"
    EU_2010_87 = "EU_2010_87"


class SccModule(StrEnum):
    """Modules of Decision (EU) 2021/914."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    CONTROLLER_TO_CONTROLLER = "CONTROLLER_TO_CONTROLLER"
    CONTROLLER_TO_PROCESSOR = "CONTROLLER_TO_PROCESSOR"
    PROCESSOR_TO_PROCESSOR = "PROCESSOR_TO_PROCESSOR"
    PROCESSOR_TO_CONTROLLER = "PROCESSOR_TO_CONTROLLER"


class Clause9Option(StrEnum):
    """Clause 9(a) of modules 2 and 3."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    SPECIFIC_PRIOR_AUTHORISATION = "SPECIFIC_PRIOR_AUTHORISATION"
    GENERAL_WRITTEN_AUTHORISATION = "GENERAL_WRITTEN_AUTHORISATION"


class Art49Ground(StrEnum):
    """Art. 49(1) first subparagraph, (a) to (g)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    EXPLICIT_CONSENT = "EXPLICIT_CONSENT"
    CONTRACT_WITH_DATA_SUBJECT = "CONTRACT_WITH_DATA_SUBJECT"
    CONTRACT_IN_INTEREST_OF_DATA_SUBJECT = "CONTRACT_IN_INTEREST_OF_DATA_SUBJECT"
    PUBLIC_INTEREST = "PUBLIC_INTEREST"
    LEGAL_CLAIMS = "LEGAL_CLAIMS"
    VITAL_INTERESTS = "VITAL_INTERESTS"
    PUBLIC_REGISTER = "PUBLIC_REGISTER"


class RecipientSector(StrEnum):
    """What kind of body a one-off recipient is (partial adequacy decisions)."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    COMMERCIAL = "COMMERCIAL"
    """The default when unspecified."""
    PRIVATE_NON_COMMERCIAL = "PRIVATE_NON_COMMERCIAL"
    PUBLIC_BODY = "PUBLIC_BODY"


class DestinationKind(StrEnum):
    """Destination kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    COUNTRY = "COUNTRY"
    TERRITORY = "TERRITORY"
    INTERNATIONAL_ORGANISATION = "INTERNATIONAL_ORGANISATION"


class AdequacyScope(StrEnum):
    """Adequacy scope."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    FULL = "FULL"
    COMMERCIAL_ORGANISATIONS = "COMMERCIAL_ORGANISATIONS"
    """Canada, Decision 2002/2/EC: organisations subject to PIPEDA."""
    PRIVATE_SECTOR = "PRIVATE_SECTOR"
    """Japan, Decision (EU) 2019/419."""
    DPF_CERTIFIED_ONLY = "DPF_CERTIFIED_ONLY"
    """United States, Decision (EU) 2023/1795: DPF-certified recipients only."""


class AdequacyStatus(StrEnum):
    """Adequacy status."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    IN_FORCE = "IN_FORCE"
    SUSPENDED = "SUSPENDED"
    REPEALED = "REPEALED"
    EXPIRED = "EXPIRED"
    INVALIDATED = "INVALIDATED"
    """Annulled by the Court of Justice (as were Safe Harbour and Privacy Shield)."""


class AdequacyChangeKind(StrEnum):
    """Adequacy change kind."""

    UNSPECIFIED = "UNSPECIFIED"
    """Not set, or a value this client version does not know."""
    ADOPTED = "ADOPTED"
    """A new (or renewed) decision: decision, destination_name, scope required."""
    SUSPENDED = "SUSPENDED"
    INVALIDATED = "INVALIDATED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferImpactAssessment:
    """Clause 14 transfer impact assessment (EDPB Recommendations 01/2020)."""

    reference: str
    date: str
    """ISO 8601 date "YYYY-MM-DD" of the assessment."""
    review_date: str
    """Re-assessment due; past it the safeguard is not relied on."""

    @classmethod
    def from_proto(cls, msg: pb.TransferImpactAssessment) -> TransferImpactAssessment:
        """The value of a ``dpa.registry.v1.TransferImpactAssessment`` message."""
        return cls(
            reference=msg.reference,
            date=msg.date,
            review_date=msg.review_date,
        )

    def to_proto(self) -> pb.TransferImpactAssessment:
        """The ``dpa.registry.v1.TransferImpactAssessment`` message of this value."""
        return pb.TransferImpactAssessment(
            reference=self.reference,
            date=self.date,
            review_date=self.review_date,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Safeguard:
    """A transfer safeguard (Art. 46) for one sub-processor and destination."""

    name: str
    """"subprocessors/{subprocessor_id}/safeguards/{safeguard_id}"."""
    destination_country: str
    """ISO 3166-1 alpha-2 destination (or a listed organisation's code)."""
    mechanism: TransferMechanism
    scc_decision: SccDecision
    """SCC only."""
    scc_module: SccModule
    clause9_option: Clause9Option
    signed_date: str
    """"YYYY-MM-DD" the clauses or instrument were signed."""
    tia: TransferImpactAssessment
    supplementary_measures: tuple[str, ...]
    review_date: str
    """"YYYY-MM-DD" the safeguard itself is due for review; empty for none."""
    instrument_reference: str
    """BCR approval or other Art. 46 instrument."""
    create_time: datetime | None
    update_time: datetime | None
    etag: str

    @classmethod
    def from_proto(cls, msg: pb.Safeguard) -> Safeguard:
        """The value of a ``dpa.registry.v1.Safeguard`` message."""
        return cls(
            name=msg.name,
            destination_country=msg.destination_country,
            mechanism=enum_of(TransferMechanism, pb.TransferMechanism, msg.mechanism),
            scc_decision=enum_of(SccDecision, pb.SccDecision, msg.scc_decision),
            scc_module=enum_of(SccModule, pb.SccModule, msg.scc_module),
            clause9_option=enum_of(Clause9Option, pb.Clause9Option, msg.clause9_option),
            signed_date=msg.signed_date,
            tia=TransferImpactAssessment.from_proto(msg.tia),
            supplementary_measures=tuple(msg.supplementary_measures),
            review_date=msg.review_date,
            instrument_reference=msg.instrument_reference,
            create_time=time_of(msg, "create_time"),
            update_time=time_of(msg, "update_time"),
            etag=msg.etag,
        )

    def to_proto(self) -> pb.Safeguard:
        """The ``dpa.registry.v1.Safeguard`` message of this value."""
        msg = pb.Safeguard(
            name=self.name,
            destination_country=self.destination_country,
            mechanism=wire(pb.TransferMechanism, self.mechanism),
            scc_decision=wire(pb.SccDecision, self.scc_decision),
            scc_module=wire(pb.SccModule, self.scc_module),
            clause9_option=wire(pb.Clause9Option, self.clause9_option),
            signed_date=self.signed_date,
            tia=self.tia.to_proto(),
            supplementary_measures=list(self.supplementary_measures),
            review_date=self.review_date,
            instrument_reference=self.instrument_reference,
            etag=self.etag,
        )
        set_time(msg, "create_time", self.create_time)
        set_time(msg, "update_time", self.update_time)
        return msg


@dataclass(frozen=True, slots=True, kw_only=True)
class AdequacyDecision:
    """An adequacy decision (Art. 45) as the registry relies on it."""

    name: str
    """"adequacyDecisions/{code}"."""
    code: str
    """ISO 3166-1 alpha-2, or an X?- pseudo-code for an international
    organisation (XO-EPO: the European Patent Organisation).
    """
    kind: DestinationKind
    destination_name: str
    decision: str
    """The decision's reference, e.g. "(EU) 2019/419"."""
    adopted_date: str
    """"YYYY-MM-DD" from which it is relied on."""
    valid_until_date: str
    """"YYYY-MM-DD" (exclusive) it ends; empty for open-ended."""
    scope: AdequacyScope
    status: AdequacyStatus
    status_since_date: str
    """"YYYY-MM-DD" from which a non-IN_FORCE status applies; empty: always."""
    source: str
    """Official Journal citation or other source."""
    notes: str
    changed_by_staff: bool
    """True when a staff-recorded change overrides the shipped file."""

    @classmethod
    def from_proto(cls, msg: pb.AdequacyDecision) -> AdequacyDecision:
        """The value of a ``dpa.registry.v1.AdequacyDecision`` message."""
        return cls(
            name=msg.name,
            code=msg.code,
            kind=enum_of(DestinationKind, pb.DestinationKind, msg.kind),
            destination_name=msg.destination_name,
            decision=msg.decision,
            adopted_date=msg.adopted_date,
            valid_until_date=msg.valid_until_date,
            scope=enum_of(AdequacyScope, pb.AdequacyScope, msg.scope),
            status=enum_of(AdequacyStatus, pb.AdequacyStatus, msg.status),
            status_since_date=msg.status_since_date,
            source=msg.source,
            notes=msg.notes,
            changed_by_staff=msg.changed_by_staff,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AdequacyChange:
    """A recorded change to an adequacy decision (adopted, suspended, ...)."""

    code: str
    """Destination code, as in AdequacyDecision.code."""
    kind: AdequacyChangeKind
    effective_date: str
    """"YYYY-MM-DD" the change takes effect."""
    decision: str
    """ADOPTED: the decision's reference, destination name, kind and scope;
    valid_until_date optional.
    """
    destination_name: str
    destination_kind: DestinationKind
    scope: AdequacyScope
    valid_until_date: str
    source: str
    """Required: the Official Journal reference, judgment or other source."""
    notes: str

    @classmethod
    def from_proto(cls, msg: pb.AdequacyChange) -> AdequacyChange:
        """The value of a ``dpa.registry.v1.AdequacyChange`` message."""
        return cls(
            code=msg.code,
            kind=enum_of(AdequacyChangeKind, pb.AdequacyChangeKind, msg.kind),
            effective_date=msg.effective_date,
            decision=msg.decision,
            destination_name=msg.destination_name,
            destination_kind=enum_of(DestinationKind, pb.DestinationKind, msg.destination_kind),
            scope=enum_of(AdequacyScope, pb.AdequacyScope, msg.scope),
            valid_until_date=msg.valid_until_date,
            source=msg.source,
            notes=msg.notes,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AdequacyReference:
    """Every adequacy decision the registry knows and the EEA members: the
    reference data transfer decisions rest on (all pages of
    ``ListAdequacyDecisions`` in one value)."""

    adequacy_decisions: tuple[AdequacyDecision, ...]
    eea_countries: tuple[str, ...]
    """The EEA members (no safeguard needed among them), ISO 3166-1 alpha-2."""
    reviewed_date: str
    """"YYYY-MM-DD" the shipped reference file was last reviewed."""

    @classmethod
    def from_proto(cls, msg: pb.ListAdequacyDecisionsResponse) -> AdequacyReference:
        """The value of a ``ListAdequacyDecisionsResponse`` (its page token aside)."""
        return cls(
            adequacy_decisions=tuple(
                AdequacyDecision.from_proto(v) for v in msg.adequacy_decisions
            ),
            eea_countries=tuple(msg.eea_countries),
            reviewed_date=msg.reviewed_date,
        )
