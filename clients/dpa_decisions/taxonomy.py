"""Fideslang taxonomy keys (data categories, data uses, data subjects): coverage.

Keys are dotted: a grant on ``user.contact`` covers ``user.contact.email`` but
not the reverse. Which keys exist is data (the server reads fideslang's
default taxonomy; a local checker receives the sets with its snapshot), so
:func:`validate` takes the known keys as an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from dpa_decisions.common import Sink


class Kind(enum.StrEnum):
    DATA_CATEGORY = "data_category"
    DATA_USE = "data_use"
    DATA_SUBJECT = "data_subject"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The keys that exist, per kind (fideslang's default taxonomy on the server)."""

    data_categories: frozenset[str]
    data_uses: frozenset[str]
    data_subjects: frozenset[str]

    def known(self, kind: Kind) -> frozenset[str]:
        if kind is Kind.DATA_CATEGORY:
            return self.data_categories
        if kind is Kind.DATA_USE:
            return self.data_uses
        return self.data_subjects


# Special categories (GDPR Art. 9) and criminal data (Art. 10) in fideslang.
SPECIAL_CATEGORY_ROOTS = frozenset(
    {
        "user.biometric",
        "user.authorization.biometric",
        "user.health_and_medical",
        "user.demographic.race_ethnicity",
        "user.demographic.political_opinion",
        "user.demographic.religious_belief",
        "user.demographic.sexual_orientation",
        "user.criminal_history",
        "user.genetic",
        "user.union_membership",
    }
)


def covers(grant: str, key: str) -> bool:
    """True if a grant on ``grant`` covers ``key`` (same key or a descendant)."""
    return covered_by_any(key, (grant,))


def covered_by_any(key: str, grants: Iterable[str]) -> bool:
    """True if any of ``grants`` covers ``key`` (:func:`covers`); a plain
    loop, as it runs several times in every check."""
    for grant in grants:
        if key.startswith(grant) and (len(key) == len(grant) or key[len(grant)] == "."):
            return True
    return False


def is_special_category(key: str) -> bool:
    return covered_by_any(key, SPECIAL_CATEGORY_ROOTS)


def validate(
    kind: Kind, field: str, values: Iterable[str], vocabulary: Vocabulary, errors: Sink
) -> None:
    """Adds a violation to ``errors`` for each value that is not a known key."""
    known = vocabulary.known(kind)
    if known.issuperset(values):
        return
    for i, value in enumerate(values):
        if value not in known:
            errors.add(f"{field}[{i}]", f"unknown fideslang {kind.value} key {value!r}")
