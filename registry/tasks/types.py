"""The legal concepts of the task engine, as plain values (no storage).

One engine carries two Art. 28(3) duties of the same shape: assisting the
controller with data-subject requests (point (e), Arts. 15-22) and returning
or deleting its data at the end of the contract (point (g)). Pure.
"""

from __future__ import annotations

import calendar
import enum
import re
from datetime import datetime, timedelta

from registry.errors import Violations


class TaskKind(enum.Enum):
    DATA_SUBJECT_REQUEST = "DATA_SUBJECT_REQUEST"
    END_OF_CONTRACT = "END_OF_CONTRACT"


class RequestType(enum.Enum):
    """The data subject's right exercised (GDPR Arts. 15-18, 20, 21)."""

    ACCESS = "ACCESS"
    RECTIFICATION = "RECTIFICATION"
    ERASURE = "ERASURE"
    RESTRICTION = "RESTRICTION"
    PORTABILITY = "PORTABILITY"
    OBJECTION = "OBJECTION"


class TaskState(enum.Enum):
    OPEN = "OPEN"
    """Some part is not done yet."""
    COMPLETED = "COMPLETED"
    """Every part is done and the signed receipt or certificate is issued."""


class PartKind(enum.Enum):
    SYSTEM = "SYSTEM"
    """One of the processor's own systems (``registry/data/processor-systems.json``)."""
    SUBPROCESSOR = "SUBPROCESSOR"
    """A sub-processor that holds the controller's data (the engagement rule)."""
    EXPORT = "EXPORT"
    """End of contract with RETURN: export ready, retrieval window, retrieved."""
    BACKUPS = "BACKUPS"
    """End of contract: backups that hold the data expire on a recorded date."""


class PartState(enum.Enum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"


MOVES: dict[PartState, frozenset[PartState]] = {
    PartState.PENDING: frozenset({PartState.IN_PROGRESS, PartState.DONE, PartState.FAILED}),
    PartState.IN_PROGRESS: frozenset({PartState.DONE, PartState.FAILED}),
    PartState.FAILED: frozenset({PartState.IN_PROGRESS, PartState.DONE}),
    PartState.DONE: frozenset(),
}
"""Allowed part transitions; a DONE part is final (its evidence is kept)."""

RETRIEVAL_WINDOW = timedelta(days=30)
"""The least time the controller has to retrieve an export (Data Act, Art. 25)."""
DELETION_DAYS = 30
"""End of contract: days for each deletion after the retrieval window (or the
start of the task, when the controller chose DELETE)."""
EXTENSION_MONTHS = 2
"""Art. 12(3): the controller's one month may be extended by two further months."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_OPAQUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_PHONE_CHARS = re.compile(r"[\s().\-/]")
_PHONE = re.compile(r"\+?\d{7,15}")


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month's end."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def looks_like_personal_data(value: str) -> bool:
    """An e-mail address or a phone number in clear."""
    if "@" in value:
        return True
    return bool(_PHONE.fullmatch(_PHONE_CHARS.sub("", value)))


def check_subject_reference(field: str, value: str, errors: Violations) -> None:
    """A salted digest (``sha256:<64 hex>``) or an opaque reference; never an
    e-mail address or a phone number in clear."""
    if looks_like_personal_data(value):
        errors.add(field, "looks like an e-mail address or phone number; send a salted digest")
    elif value.startswith("sha256:"):
        if not _DIGEST.fullmatch(value):
            errors.add(field, "must be sha256: followed by 64 lowercase hex digits")
    elif not _OPAQUE.fullmatch(value):
        errors.add(field, "must be sha256:<hex> or an opaque reference [A-Za-z0-9._:-]{1,128}")


def check_digest(field: str, value: str, errors: Violations) -> None:
    """An optional attachment digest, ``sha256:<64 hex>``."""
    if value and not _DIGEST.fullmatch(value):
        errors.add(field, "must be sha256: followed by 64 lowercase hex digits")


def part_due(start: datetime, days: int, controller_due: datetime | None) -> datetime:
    """A part's due time: ``days`` after ``start``, never after the controller's."""
    due = start + timedelta(days=days)
    return due if controller_due is None else min(due, controller_due)
