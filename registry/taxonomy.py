"""Fideslang taxonomy keys (data categories, data uses, data subjects).

Keys are dotted: a grant on ``user.contact`` covers ``user.contact.email`` but
not the reverse. Coverage is shared with the client library
(:mod:`dpa_decisions.taxonomy`); which keys exist is read here, once, from
fideslang's default taxonomy.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from functools import cache

from dpa_decisions import taxonomy as shared
from dpa_decisions.taxonomy import (
    SPECIAL_CATEGORY_ROOTS,
    Kind,
    Vocabulary,
    covered_by_any,
    covers,
    is_special_category,
)
from registry.errors import Violations

__all__ = [
    "SPECIAL_CATEGORY_ROOTS",
    "Kind",
    "Vocabulary",
    "covered_by_any",
    "covers",
    "is_special_category",
    "keys",
    "preload",
    "validate",
    "vocabulary",
]


@cache
def keys(kind: Kind) -> frozenset[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fideslang.default_taxonomy import DEFAULT_TAXONOMY  # noqa: PLC0415 - heavy, once

    return frozenset(item.fides_key for item in getattr(DEFAULT_TAXONOMY, kind.value))


@cache
def vocabulary() -> Vocabulary:
    """Every known key, per kind (what a local checker receives with its snapshot)."""
    return Vocabulary(
        data_categories=keys(Kind.DATA_CATEGORY),
        data_uses=keys(Kind.DATA_USE),
        data_subjects=keys(Kind.DATA_SUBJECT),
    )


def preload() -> None:
    """Loads every kind's keys now: the import takes about half a second,
    which the first check after start would otherwise wait for."""
    vocabulary()


def validate(kind: Kind, field: str, values: Iterable[str], errors: Violations) -> None:
    """Adds a violation to ``errors`` for each value that is not a known key."""
    shared.validate(kind, field, values, vocabulary(), errors)
