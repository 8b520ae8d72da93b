"""Value types for Chapter V GDPR transfer decisions (Art. 44-49).

Every legal concept is an enum, never a free string:

* :class:`Mechanism`: the Chapter V tool a transfer rests on: adequacy
  (Art. 45), standard contractual clauses (Art. 46(2)(c)), binding corporate
  rules (Art. 46(2)(b) and Art. 47), another Art. 46 instrument, or an
  Art. 49(1) derogation.
* :class:`SccDecision`: Commission Implementing Decision (EU) 2021/914 and
  the three repealed decisions 2001/497/EC, 2004/915/EC, 2010/87/EU
  (repealed from 27 September 2021, contracts on them invalid from
  27 December 2022: Decision 2021/914 Art. 4).
* :class:`SccModule`: the four modules of Decision 2021/914.
* :class:`Clause9Option`: Clause 9(a) of modules 2 and 3 (specific or general
  prior authorisation of sub-processors).
* :class:`AuthorizationState`: the controller's Art. 28(2) authorisation of
  one sub-processor.
* :class:`Art49Ground`: the derogations of Art. 49(1)(a)-(g).

All dataclasses are frozen; collections are tuples, frozensets or read-only
mappings, so a value can be shared between threads and cached safely.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import NamedTuple

from dpa_decisions import common

AuthorizationState = common.AuthorizationState
SubprocessorStatus = common.SubprocessorStatus


class Mechanism(enum.StrEnum):
    """Chapter V transfer tool; the value is the W3C DPV ``eu-gdpr`` identifier."""

    ADEQUACY = "eu-gdpr:A45-3"
    SCC = "eu-gdpr:A46-2-c"
    BCR = "eu-gdpr:A46-2-b"
    OTHER_ART46 = "eu-gdpr:A46"
    DEROGATION_ART49 = "eu-gdpr:A49-1"

    @property
    def article(self) -> str:
        return _MECHANISM_ARTICLE[self]


_MECHANISM_ARTICLE = {
    Mechanism.ADEQUACY: "Art. 45",
    Mechanism.SCC: "Art. 46(2)(c)",
    Mechanism.BCR: "Art. 46(2)(b), Art. 47",
    Mechanism.OTHER_ART46: "Art. 46",
    Mechanism.DEROGATION_ART49: "Art. 49(1)",
}


class SccDecision(enum.StrEnum):
    """The Commission decision a set of standard contractual clauses rests on."""

    EU_2021_914 = "2021/914"
    EC_2001_497 = "2001/497/EC"
    EC_2004_915 = "2004/915/EC"
    EU_2010_87 = "2010/87/EU"

    @property
    def repealed(self) -> bool:
        """True for the pre-GDPR decisions repealed by Decision 2021/914 Art. 4."""
        return self is not SccDecision.EU_2021_914


class SccModule(enum.IntEnum):
    """Modules of Decision (EU) 2021/914 (exporter role to importer role)."""

    CONTROLLER_TO_CONTROLLER = 1
    CONTROLLER_TO_PROCESSOR = 2
    PROCESSOR_TO_PROCESSOR = 3
    PROCESSOR_TO_CONTROLLER = 4


class Clause9Option(enum.IntEnum):
    """Clause 9(a) of SCC 2021/914 modules 2 and 3 (use of sub-processors)."""

    SPECIFIC_PRIOR_AUTHORISATION = 1
    GENERAL_WRITTEN_AUTHORISATION = 2


class RecipientSector(enum.StrEnum):
    """What kind of body the importer is; some adequacy decisions are partial.

    Decision 2002/2/EC (Canada) covers only organisations subject to PIPEDA,
    i.e. acting in the course of commercial activities; Decision (EU) 2019/419
    (Japan) covers the private sector (APPI business operators).
    """

    COMMERCIAL = "commercial"
    PRIVATE_NON_COMMERCIAL = "private_non_commercial"
    PUBLIC_BODY = "public_body"


class Art49Ground(enum.StrEnum):
    """Derogations for specific situations, GDPR Art. 49(1) first subparagraph.

    The compelling-legitimate-interests transfer of Art. 49(1) second
    subparagraph is deliberately absent: it needs the supervisory authority
    to be informed and is the controller's, not the processor's, to make.
    """

    EXPLICIT_CONSENT = "49(1)(a)"
    CONTRACT_WITH_DATA_SUBJECT = "49(1)(b)"
    CONTRACT_IN_INTEREST_OF_DATA_SUBJECT = "49(1)(c)"
    PUBLIC_INTEREST = "49(1)(d)"
    LEGAL_CLAIMS = "49(1)(e)"
    VITAL_INTERESTS = "49(1)(f)"
    PUBLIC_REGISTER = "49(1)(g)"


class ReasonCode(enum.StrEnum):
    """Stable codes for why a transfer is denied; values never change."""

    # The controller and its DPA (Art. 28(3)).
    CONTROLLER_UNKNOWN = "CONTROLLER_UNKNOWN"
    DPA_NOT_ACTIVE = "DPA_NOT_ACTIVE"
    DPA_TERMINATED = "DPA_TERMINATED"
    # The request itself.
    REQUEST_INCOMPLETE = "REQUEST_INCOMPLETE"
    NO_DATA_CATEGORIES = "NO_DATA_CATEGORIES"
    # The sub-processor and its authorisation (Art. 28(2), 28(4)).
    SUBPROCESSOR_UNKNOWN = "SUBPROCESSOR_UNKNOWN"
    SUBPROCESSOR_PROPOSED = "SUBPROCESSOR_PROPOSED"
    SUBPROCESSOR_RETIRED = "SUBPROCESSOR_RETIRED"
    SUBPROCESSOR_NO_LOCATIONS = "SUBPROCESSOR_NO_LOCATIONS"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    AUTHORIZATION_PENDING = "AUTHORIZATION_PENDING"
    AUTHORIZATION_OBJECTED = "AUTHORIZATION_OBJECTED"
    AUTHORIZATION_WITHDRAWN = "AUTHORIZATION_WITHDRAWN"
    CATEGORY_NOT_PERMITTED = "CATEGORY_NOT_PERMITTED"
    # Documented instructions (Art. 28(3)(a)).
    INSTRUCTION_COUNTRY_EXCLUDED = "INSTRUCTION_COUNTRY_EXCLUDED"
    INSTRUCTION_CATEGORY_EXCLUDED = "INSTRUCTION_CATEGORY_EXCLUDED"
    # Chapter V, per destination.
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"
    ADEQUACY_NOT_IN_FORCE = "ADEQUACY_NOT_IN_FORCE"
    ADEQUACY_SCOPE_NOT_MET = "ADEQUACY_SCOPE_NOT_MET"
    DPF_NOT_CERTIFIED = "DPF_NOT_CERTIFIED"
    DPF_CHECK_STALE = "DPF_CHECK_STALE"
    SAFEGUARD_INCOMPLETE = "SAFEGUARD_INCOMPLETE"
    SAFEGUARD_NOT_YET_SIGNED = "SAFEGUARD_NOT_YET_SIGNED"
    SAFEGUARD_REVIEW_OVERDUE = "SAFEGUARD_REVIEW_OVERDUE"
    SCC_MODULE_MISMATCH = "SCC_MODULE_MISMATCH"
    SCC_SIGNED_AFTER_REPEAL = "SCC_SIGNED_AFTER_REPEAL"
    SCC_REPEALED_DECISION_EXPIRED = "SCC_REPEALED_DECISION_EXPIRED"
    TIA_MISSING = "TIA_MISSING"
    TIA_REVIEW_OVERDUE = "TIA_REVIEW_OVERDUE"
    ART49_NOT_STANDING_BASIS = "ART49_NOT_STANDING_BASIS"
    DEROGATION_NOT_INSTRUCTED = "DEROGATION_NOT_INSTRUCTED"
    NO_TRANSFER_MECHANISM = "NO_TRANSFER_MECHANISM"


@dataclass(frozen=True, slots=True)
class Safeguard:
    """An Art. 46 safeguard (or a recorded Art. 49 derogation) for one country.

    For SCCs: ``scc_decision``, ``scc_module``, ``signed_on`` and the Clause 14
    transfer impact assessment (``tia_reference``, ``tia_date``,
    ``tia_review_due``) are required. ``instrument_reference`` names a BCR
    approval or another Art. 46 instrument. ``review_date``, if set, is when
    the safeguard itself must be reviewed; past it, it is not relied on.
    """

    mechanism: Mechanism
    destination_country: str
    scc_decision: SccDecision | None = None
    scc_module: SccModule | None = None
    clause9_option: Clause9Option | None = None
    signed_on: date | None = None
    tia_reference: str | None = None
    tia_date: date | None = None
    tia_review_due: date | None = None
    supplementary_measures: tuple[str, ...] = ()
    review_date: date | None = None
    instrument_reference: str | None = None


@dataclass(frozen=True, slots=True)
class Subprocessor:
    """A sub-processor (Art. 28(2), 28(4)) as the registry knows it.

    ``locations`` are ISO 3166-1 alpha-2 codes of every place it processes
    (or accesses) data; ``data_categories`` are the fideslang keys it may
    receive. ``is_us_entity`` marks a contracting entity established in the
    United States: its access is a transfer to the US even when its servers
    are in the EEA (EDPB Guidelines 05/2021, third criterion).
    ``dpf_certified``/``dpf_checked_on`` record the EU-US Data Privacy
    Framework list check required by Decision (EU) 2023/1795.
    """

    id: str
    name: str
    status: SubprocessorStatus
    locations: tuple[str, ...]
    data_categories: tuple[str, ...]
    is_us_entity: bool = False
    dpf_certified: bool = False
    dpf_checked_on: date | None = None
    safeguards: tuple[Safeguard, ...] = ()
    sector: RecipientSector = RecipientSector.COMMERCIAL


_NO_AUTHORIZATIONS: Mapping[str, AuthorizationState] = MappingProxyType({})


def _frozen_mapping(
    value: Mapping[str, AuthorizationState],
) -> Mapping[str, AuthorizationState]:
    if not value:
        return _NO_AUTHORIZATIONS  # shared: one object fewer per controller to keep
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class ControllerView:
    """What the decision needs to know about one controller.

    ``allowed_countries``/``allowed_categories`` are the documented
    instructions (Art. 28(3)(a)); ``None`` means the instructions set no
    restriction. Category grants follow the fideslang hierarchy.
    ``allowed_derogations`` lists the Art. 49 grounds the controller's
    documented instructions allow for one-off transfers (default: none).
    """

    controller_id: str
    dpa_active: bool
    allowed_countries: tuple[str, ...] | None = None
    allowed_categories: tuple[str, ...] | None = None
    authorizations: Mapping[str, AuthorizationState] = field(
        default_factory=lambda: MappingProxyType({})
    )
    allowed_derogations: frozenset[Art49Ground] = frozenset()
    dpa_ended_version: int | None = None
    """Without an active DPA: the version terminated last, if any."""

    def __post_init__(self) -> None:
        # A read-only copy: later changes to the caller's dict cannot leak in.
        object.__setattr__(self, "authorizations", _frozen_mapping(self.authorizations))


class TransferRequest(NamedTuple):
    """One "may I transfer?" question.

    Either ``subprocessor_id`` (the usual case: every processing location of
    the sub-processor is a destination) or a one-off ``recipient`` with its
    ``destination_country``. For a one-off recipient, ``safeguards``,
    ``derogation`` and the ``recipient_*`` fields describe the importer;
    they are ignored for a sub-processor (its registry entry is used).
    ``on`` is the date the transfer takes place; every rule is evaluated on it.
    A named tuple, like :class:`Decision`: built on every check, and a tuple
    is built several times faster than a frozen dataclass.
    """

    controller_id: str
    data_categories: tuple[str, ...]
    purpose: str
    on: date
    subprocessor_id: str | None = None
    recipient: str | None = None
    destination_country: str | None = None
    safeguards: tuple[Safeguard, ...] = ()
    derogation: Art49Ground | None = None
    recipient_sector: RecipientSector = RecipientSector.COMMERCIAL
    recipient_dpf_certified: bool = False
    recipient_dpf_checked_on: date | None = None


_SUBPROCESSOR_TAIL = tuple(TransferRequest._field_defaults[f] for f in TransferRequest._fields[5:])


def subprocessor_request(
    controller_id: str,
    data_categories: tuple[str, ...],
    purpose: str,
    on: date,
    subprocessor_id: str | None,
) -> TransferRequest:
    """``TransferRequest(controller_id, data_categories, purpose, on,
    subprocessor_id)``, every other field at its default, built as a plain
    tuple (several times cheaper: a local checker builds one per check)."""
    return tuple.__new__(
        TransferRequest,
        (controller_id, data_categories, purpose, on, subprocessor_id, *_SUBPROCESSOR_TAIL),
    )


def subprocessor_only(request: TransferRequest) -> bool:
    """A sub-processor's request as :func:`subprocessor_request` builds it:
    a sub-processor named, every other field at its default."""
    return request.subprocessor_id is not None and request[5:] == _SUBPROCESSOR_TAIL


class Reason(NamedTuple):
    code: ReasonCode
    message: str


class Decision(NamedTuple):
    """The answer: allowed or not, on which bases, and every reason if not.

    ``legal_bases`` has one entry per distinct basis relied on (destinations
    in sorted order); ``reasons`` is empty when allowed. ``revision`` is the
    registry revision the inputs were read at.
    """

    allowed: bool
    legal_bases: tuple[str, ...]
    reasons: tuple[Reason, ...]
    revision: int

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        return tuple(r.code for r in self.reasons)
