"""Values of the reviewed Chapter V reference table (GDPR Art. 44-49).

The EEA members, every Art. 45 adequacy decision with its scope and status,
the SCC dates of Decision (EU) 2021/914 Art. 4 and the DPF-check policy, as
immutable values. The server parses and checks the reviewed file
(``registry.transfers.reference``) and applies staff-recorded changes; a
local checker receives the result with its snapshot. End dates are exclusive.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from dpa_decisions.transfer_types import SccDecision


class DestinationKind(enum.StrEnum):
    COUNTRY = "country"
    TERRITORY = "territory"
    INTERNATIONAL_ORGANISATION = "international_organisation"


class AdequacyScope(enum.StrEnum):
    """Which recipients in the destination an adequacy decision covers."""

    FULL = "full"
    COMMERCIAL_ORGANISATIONS = "commercial_organisations"  # Canada, PIPEDA
    PRIVATE_SECTOR = "private_sector"  # Japan, APPI business operators
    DPF_CERTIFIED_ONLY = "dpf_certified_only"  # United States, EU-US DPF


class AdequacyStatus(enum.StrEnum):
    IN_FORCE = "in_force"
    SUSPENDED = "suspended"
    REPEALED = "repealed"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"  # annulled by the Court of Justice


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    citation: str
    url: str


@dataclass(frozen=True, slots=True)
class AdequacyDecision:
    """One Art. 45 decision. ``valid_until`` is exclusive; ``None`` = open-ended.

    ``status_since``, if set, is the date from which a status other than
    IN_FORCE applies (a suspension or invalidation recorded with its
    effective date); ``None`` means the status applies on every date.
    """

    code: str
    kind: DestinationKind
    name: str
    decision: str
    adopted: date
    valid_until: date | None
    scope: AdequacyScope
    status: AdequacyStatus
    source: str
    source_refs: tuple[str, ...]
    notes: str
    status_since: date | None = None

    @property
    def legal_basis(self) -> str:
        """The basis string a decision reports, e.g. ``adequacy: Japan, (EU) 2019/419``."""
        return f"adequacy: {self.name}, {self.decision}"

    def in_force_on(self, day: date) -> bool:
        return (
            (
                self.status is AdequacyStatus.IN_FORCE
                or (self.status_since is not None and day < self.status_since)
            )
            and self.adopted <= day
            and (self.valid_until is None or day < self.valid_until)
        )


@dataclass(frozen=True, slots=True)
class Reference:
    """Immutable, precomputed reference data; build it with :func:`load_reference`."""

    reviewed: date
    sources: Mapping[str, Source]
    eea: frozenset[str]
    adequacy: Mapping[str, AdequacyDecision]
    international_organisations: frozenset[str]
    iso_countries: frozenset[str]
    scc_current: SccDecision
    scc_repealed: frozenset[SccDecision]
    scc_no_new_contracts_from: date
    scc_invalid_from: date
    dpf_max_age_days: int

    def is_known_destination(self, code: str) -> bool:
        """An ISO 3166-1 alpha-2 country or a listed international organisation."""
        return code in self.iso_countries or code in self.international_organisations

    def with_dpf_max_age(self, days: int) -> Reference:
        if days < 0:
            raise ValueError("dpf_max_age_days must not be negative")
        return dataclasses.replace(self, dpf_max_age_days=days)
