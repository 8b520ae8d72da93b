"""The I/O edge of ``CheckProcessing``: one query reads the controller's
situation and the audit-log size together, then the pure
:func:`registry.agreements.decision.decide` decides.

The SQL is built once per backend (no per-call query building). Parsed
agreement and instruction scopes are cached by their exact stored text, which
never changes for a version, so the cache cannot go stale.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from functools import lru_cache

from dpa_decisions import processing
from registry import consistency, db, taxonomy, validate
from registry.agreements.decision import (
    AgreementScope,
    Decision,
    InstructionScope,
    ProcessingRequest,
    Situation,
)
from registry.agreements.types import Operation
from registry.controllers import core as controllers
from registry.errors import NotFound, Violations

_MEMO = processing.Memo()
"""Answers by the terms they depend on, shared by every handler thread."""

_SQL = (
    "SELECT h.size, l.controller_id, l.active_version, l.ended_version, a.scope, "
    "i.version, i.body, i.flagged "
    "FROM log_head h "
    "LEFT JOIN agreement_line l ON l.controller_id = %s "
    "LEFT JOIN agreement a ON a.controller_id = l.controller_id "
    "AND a.version = l.active_version "
    "LEFT JOIN instruction i ON i.controller_id = l.controller_id "
    "AND i.version = l.instruction_version "
    "WHERE h.id = 1"
)


_BULK_SQL = (
    "SELECT l.controller_id, l.active_version, l.ended_version, a.scope, "
    "i.version, i.body, i.flagged "
    "FROM agreement_line l "
    "LEFT JOIN agreement a ON a.controller_id = l.controller_id "
    "AND a.version = l.active_version "
    "LEFT JOIN instruction i ON i.controller_id = l.controller_id "
    "AND i.version = l.instruction_version"
)
_BULK_OF = _BULK_SQL + " WHERE l.controller_id IN ({marks})"


@lru_cache(maxsize=4096)
def _agreement_scope(version: int, scope: str) -> AgreementScope:
    data = json.loads(scope)
    return AgreementScope(
        version=version,
        purposes=tuple(data["purposes"]),
        data_categories=tuple(data["data_categories"]),
        data_subjects=tuple(data["data_subjects"]),
        nature=frozenset(Operation(o) for o in data["nature"]),
    )


@lru_cache(maxsize=4096)
def _instruction_scope(version: int, body: str, flagged: bool) -> InstructionScope:
    data = json.loads(body)
    return InstructionScope(
        version=version,
        purposes=tuple(data["purposes"]),
        data_categories=tuple(data["data_categories"]),
        data_subjects=tuple(data["data_subjects"]),
        operations=frozenset(Operation(o) for o in data["operations"]),
        countries=frozenset(data["countries"]),
        flagged=flagged,
    )


def _situation(
    controller_id: str,
    active: int | None,
    ended: int | None,
    scope: str | None,
    iversion: int | None,
    body: str | None,
    flagged: object,
) -> Situation:
    agreement = _agreement_scope(active, scope) if active is not None and scope else None
    instruction = (
        _instruction_scope(iversion, body, bool(flagged))
        if agreement is not None and iversion is not None and body is not None
        else None
    )
    return Situation(controller_id, agreement, ended if agreement is None else None, instruction)


def situations(controller_ids: Collection[str]) -> dict[str, Situation]:
    """The situations of the named controllers that have a DPA line (a
    registered controller without one has ``Situation(id, None)``); read in
    the caller's transaction, so a snapshot can read them at its revision."""
    database = db.database.obj
    result: dict[str, Situation] = {}
    for chunk in db.in_chunks(controller_ids):
        cursor = database.execute_sql(db.sql(_BULK_OF, len(chunk)), chunk)
        for cid, active, ended, scope, iversion, body, flagged in cursor.fetchall():
            result[cid] = _situation(cid, active, ended, scope, iversion, body, flagged)
    return result


def all_situations() -> dict[str, Situation]:
    """:func:`situations` of every controller with a DPA line."""
    cursor = db.database.obj.execute_sql(_BULK_SQL)
    return {row[0]: _situation(*row) for row in cursor.fetchall()}


def situation(controller_id: str) -> tuple[Situation, int]:
    """The controller's situation and the registry revision, read in one statement."""
    database = db.database.obj
    cursor = database.execute_sql(db.sql(_SQL), (controller_id,))
    ((size, line, active, ended, scope, iversion, body, flagged),) = cursor.fetchall()
    if line is None and not controllers.exists(controller_id):
        # Without an agreement line it may be a typo: say so loudly.
        raise NotFound(f"controllers/{controller_id} not found")
    return _situation(controller_id, active, ended, scope, iversion, body, flagged), int(size)


def controller_of(name: str) -> str:
    """The controller a CheckProcessing request names (``controllers/{id}``
    or a bare id); INVALID_ARGUMENT on ``controller`` otherwise, before any
    other field (the shared rule: ``dpa_decisions.processing.controller_of``)."""
    errors = Violations()
    found = processing.controller_of(name, errors)
    errors.raise_if_any()
    return found


def validate_request(
    purpose: str,
    data_categories: tuple[str, ...],
    operation: Operation | None,
    country: str | None,
    data_subjects: tuple[str, ...],
) -> None:
    """INVALID_ARGUMENT naming each bad field (the shared rules in
    :func:`dpa_decisions.processing.validate_request`)."""
    errors = Violations()
    processing.validate_request(
        purpose,
        data_categories,
        operation,
        country,
        data_subjects,
        taxonomy.vocabulary(),
        validate.countries(),
        errors,
    )
    errors.raise_if_any()


def check(
    request: ProcessingRequest,
    requirement: consistency.Requirement = consistency.FULLY_CONSISTENT,
) -> Decision:
    """Decided on the committed state read in one statement, so always fully
    consistent; an ``AT_LEAST`` token beyond the log is FAILED_PRECONDITION."""
    found, revision = situation(request.controller_id)
    consistency.require_reached(requirement, revision)
    return _MEMO.decide(found, request, revision)
