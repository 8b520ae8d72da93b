"""Small validators shared by the domain modules."""

from __future__ import annotations

import re
from functools import cache

import pycountry

from dpa_decisions import common
from registry.errors import Violations

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
RESOURCE_ID = common.RESOURCE_ID


@cache
def countries() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


def is_country(code: str) -> bool:
    return code in countries()


def country(field: str, value: str, errors: Violations) -> None:
    if not is_country(value):
        errors.add(field, f"{value!r} is not an ISO 3166-1 alpha-2 country code")


def email(field: str, value: str, errors: Violations, *, required: bool = True) -> None:
    if not value:
        if required:
            errors.add(field, "is required")
        return
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        errors.add(field, f"{value!r} is not an email address")


def text(field: str, value: str, errors: Violations, *, max_len: int = 500) -> None:
    if not value.strip():
        errors.add(field, "must not be empty")
    elif len(value) > max_len:
        errors.add(field, f"is longer than {max_len} characters")


def resource_id(field: str, value: str, errors: Violations) -> None:
    common.resource_id(field, value, errors)


def time_zone(field: str, value: str, errors: Violations) -> None:
    if not value:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        errors.add(field, f"{value!r} is not an IANA time zone")
