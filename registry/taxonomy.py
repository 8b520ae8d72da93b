"""Fideslang taxonomy keys (data categories, data uses, data subjects).

Keys are dotted: a grant on ``user.contact`` covers ``user.contact.email`` but
not the reverse. Validation accepts only keys of fideslang's default taxonomy.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterable
from functools import cache

from registry.errors import Violations


class Kind(enum.Enum):
    DATA_CATEGORY = "data_category"
    DATA_USE = "data_use"
    DATA_SUBJECT = "data_subject"


@cache
def keys(kind: Kind) -> frozenset[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fideslang.default_taxonomy import DEFAULT_TAXONOMY  # noqa: PLC0415 - heavy, once

    return frozenset(item.fides_key for item in getattr(DEFAULT_TAXONOMY, kind.value))


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
    return key == grant or key.startswith(grant + ".")


def covered_by_any(key: str, grants: Iterable[str]) -> bool:
    return any(covers(g, key) for g in grants)


def is_special_category(key: str) -> bool:
    return any(covers(root, key) for root in SPECIAL_CATEGORY_ROOTS)


def validate(kind: Kind, field: str, values: Iterable[str], errors: Violations) -> None:
    """Adds a violation to ``errors`` for each value that is not a known key."""
    known = keys(kind)
    for i, value in enumerate(values):
        if value not in known:
            errors.add(f"{field}[{i}]", f"unknown fideslang {kind.value} key {value!r}")
