"""The DPA domain's read API: what other domains may know of the DPAs.

- ``active_terms``: the Art. 28(2) authorisation mode with its two periods
  (advance notice, objection), the breach-notification deadline (Art. 33(2))
  and the agreed scope (Annex I) of each ACTIVE DPA;
- ``standings``: where each controller's DPA stands, including whether the
  processor may still hold its data after termination (Art. 28(3)(g));
- ``instruction_scopes``: what the current instructions say is processed
  (purposes, data, subjects, operations), for the Art. 30(2) record;
- ``instruction_limits``: the countries and data categories the current
  documented instructions allow (Art. 28(3)(a)).

Each is one query for any number of controllers; no other domain reads the
agreement tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import peewee

from registry import changefeed, db, names
from registry.agreements.model import AgreementLine, AgreementRow, InstructionRow
from registry.agreements.types import AuthorizationMode, DpaStanding, EndOfContract
from registry.agreements.values import Agreement, Instruction, agreement_of, instruction_of

__all__ = [
    "ActiveTerms",
    "AuthorizationMode",
    "DpaStanding",
    "Ended",
    "InstructionScope",
    "Standing",
    "active_terms",
    "agreement_name",
    "ended",
    "history",
    "instruction_limits",
    "instruction_scopes",
    "standings",
]

_CHUNK = 500
SCAN_ABOVE = 2000
"""Reads for more controllers than this scan every row (``active_terms``)."""


def _chunks(ids: Iterable[str] | None) -> Iterable[list[str] | None]:
    if ids is None:
        yield None
        return
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        yield wanted[i : i + _CHUNK]


def agreement_name(controller_id: str, version: int) -> str:
    return names.make(f"controllers/{controller_id}/agreements", str(version))


def audited_issue(i: Instruction) -> dict[str, Any]:
    """The change the ``instruction.issue`` entry of ``i`` digests: an
    evidence pack carries it so a verifier binds the instruction to the log."""
    return {
        "version": i.version,
        "agreement": agreement_name(i.controller_id, i.agreement_version),
        "content": json.loads(i.body),
    }


def audited_sign(a: Agreement) -> dict[str, Any] | None:
    """The change the ``agreement.sign`` entry of ``a`` digests (None before
    the processor signed): it binds the document's digest to the log."""
    if a.processor_signature is None:
        return None
    return {
        "version": a.version,
        "document_digest": a.document_digest,
        "key": a.processor_signature.key,
    }


@dataclass(frozen=True)
class ActiveTerms:
    controller_id: str
    agreement: str
    """Resource name of the ACTIVE version."""
    version: int
    authorization_mode: AuthorizationMode
    notice_days: int
    """Advance notice of an intended sub-processor change."""
    objection_days: int
    """Objection period, counted separately from the notice."""
    breach_notification_hours: int
    data_categories: tuple[str, ...] = ()
    """The agreed scope (Annex I); empty when the DPA names none."""
    data_subjects: tuple[str, ...] = ()
    dsr_assistance_days: int = 10
    """Art. 28(3)(e): days the processor has for its part of a data-subject request."""


def active_terms(controller_ids: Iterable[str] | None = None) -> dict[str, ActiveTerms]:
    """Controller id -> terms of its ACTIVE DPA; controllers without one are absent.

    ``None`` means every controller with an ACTIVE DPA. One query: for more
    than ``SCAN_ABOVE`` controllers it reads every ACTIVE DPA and keeps the
    named ones (cheaper than an IN list of thousands of parameters).
    """
    query = (
        AgreementRow.select(
            AgreementRow.controller_id,
            AgreementRow.version,
            AgreementRow.authorization_mode,
            AgreementRow.notice_days,
            AgreementRow.objection_days,
            AgreementRow.breach_hours,
            AgreementRow.scope,
            AgreementRow.dsr_assistance_days,
        )
        .join(
            AgreementLine,
            on=(
                (AgreementLine.controller_id == AgreementRow.controller_id)
                & (AgreementLine.active_version == AgreementRow.version)
            ),
        )
        .tuples()
    )
    wanted: set[str] | None = None
    if controller_ids is not None:
        wanted = set(controller_ids)
        if not wanted:
            return {}
        if len(wanted) <= SCAN_ABOVE:
            query = query.where(AgreementLine.controller_id.in_(sorted(wanted)))
    result: dict[str, ActiveTerms] = {}
    scopes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    # Raw rows (strings and integers): no per-row conversion; a scope shared
    # by many DPAs is parsed once.
    for cid, version, mode, notice, objection, breach, scope, dsr_days in cast(
        "Iterable[tuple[str, int, str, int, int, int, str, int]]",
        db.database.execute(query).fetchall(),
    ):
        if wanted is not None and cid not in wanted:
            continue
        agreed = scopes.get(scope)
        if agreed is None:
            parsed: dict[str, Any] = json.loads(scope) if scope else {}
            agreed = scopes[scope] = (
                tuple(parsed.get("data_categories") or ()),
                tuple(parsed.get("data_subjects") or ()),
            )
        result[cid] = ActiveTerms(
            controller_id=cid,
            agreement=agreement_name(cid, version),
            version=int(version),
            authorization_mode=AuthorizationMode(mode),
            notice_days=int(notice),
            objection_days=int(objection),
            breach_notification_hours=int(breach),
            data_categories=agreed[0],
            data_subjects=agreed[1],
            dsr_assistance_days=int(dsr_days),
        )
    return result


@dataclass(frozen=True)
class Standing:
    controller_id: str
    standing: DpaStanding
    version: int
    """The ACTIVE version, or the one terminated last."""


def standings(controller_ids: Iterable[str] | None = None) -> dict[str, Standing]:
    """Controller id -> where its DPA stands; controllers that never had an
    ACTIVE DPA are absent. ``None`` means every controller."""
    line, a = AgreementLine, AgreementRow
    result: dict[str, Standing] = {}
    for chunk in _chunks(controller_ids):
        query = (
            line.select(
                line.controller_id,
                line.active_version,
                line.ended_version,
                a.disposition_confirmation,
            )
            .join(
                a,
                peewee.JOIN.LEFT_OUTER,
                on=((a.controller_id == line.controller_id) & (a.version == line.ended_version)),
            )
            .where(line.active_version.is_null(False) | line.ended_version.is_null(False))
            .tuples()
        )
        if chunk is not None:
            query = query.where(line.controller_id.in_(chunk))
        rows = db.database.execute(query).fetchall()  # raw: no per-row conversion
        for cid, active, ended, confirmed in cast("Iterable[tuple[str, Any, Any, Any]]", rows):
            if active is not None:
                result[cid] = Standing(cid, DpaStanding.ACTIVE, int(active))
            else:
                held = DpaStanding.TERMINATED if confirmed else DpaStanding.TERMINATED_DATA_HELD
                result[cid] = Standing(cid, held, int(ended))
    return result


@dataclass(frozen=True)
class Ended:
    """A controller's terminated DPA and what it chose for the end (Art. 28(3)(g))."""

    controller_id: str
    agreement: str
    version: int
    disposition: EndOfContract
    confirmed: bool
    """The return or deletion is confirmed: the data are no longer held."""


def ended(controller_id: str) -> Ended | None:
    """The controller's terminated DPA; None while one is ACTIVE or none ended."""
    line, a = AgreementLine, AgreementRow
    found = next(
        iter(
            cast(
                "Iterable[tuple[Any, str, str]]",
                line.select(line.ended_version, a.disposition, a.disposition_confirmation)
                .join(
                    a,
                    on=(
                        (a.controller_id == line.controller_id) & (a.version == line.ended_version)
                    ),
                )
                .where(
                    (line.controller_id == controller_id)
                    & line.active_version.is_null()
                    & line.ended_version.is_null(False)
                )
                .tuples(),
            )
        ),
        None,
    )
    if found is None:
        return None
    version, disposition, confirmation = found
    return Ended(
        controller_id,
        agreement_name(controller_id, int(version)),
        int(version),
        EndOfContract(disposition or EndOfContract.DELETE.value),
        bool(confirmation),
    )


def instruction_limits(
    controller_ids: Iterable[str] | None = None,
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Controller id -> (countries, data categories) of its current documented
    instructions (Art. 28(3)(a)); controllers without one are absent."""
    result: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for chunk in _chunks(controller_ids):
        query = (
            InstructionRow.select(InstructionRow.controller_id, InstructionRow.body)
            .join(
                AgreementLine,
                on=(
                    (AgreementLine.controller_id == InstructionRow.controller_id)
                    & (AgreementLine.instruction_version == InstructionRow.version)
                ),
            )
            .tuples()
        )
        if chunk is not None:
            query = query.where(InstructionRow.controller_id.in_(chunk))
        for controller_id, body in cast("Iterable[tuple[str, str]]", query):
            content: dict[str, Any] = json.loads(body) if body else {}
            result[controller_id] = (
                tuple(content.get("countries") or ()),
                tuple(content.get("data_categories") or ()),
            )
    return result


@dataclass(frozen=True)
class InstructionScope:
    """What the current documented instructions say is processed (Art. 30(2)(b))."""

    instruction: str
    """Resource name of the current instruction version."""
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    operations: tuple[str, ...]
    countries: tuple[str, ...]
    retention_days: int


def instruction_scopes(controller_ids: Iterable[str] | None = None) -> dict[str, InstructionScope]:
    """Controller id -> the scope of its current instructions; controllers
    without one are absent. ``None`` means every controller."""
    result: dict[str, InstructionScope] = {}
    i, line = InstructionRow, AgreementLine
    for chunk in _chunks(controller_ids):
        query = (
            i.select(i.controller_id, i.version, i.body)
            .join(
                line,
                on=(
                    (line.controller_id == i.controller_id)
                    & (line.instruction_version == i.version)
                ),
            )
            .tuples()
        )
        if chunk is not None:
            query = query.where(i.controller_id.in_(chunk))
        for cid, version, body in cast("Iterable[tuple[str, int, str]]", query):
            content: dict[str, Any] = json.loads(body) if body else {}
            result[cid] = InstructionScope(
                instruction=names.make(f"controllers/{cid}/instructions", str(version)),
                purposes=tuple(content.get("purposes") or ()),
                data_categories=tuple(content.get("data_categories") or ()),
                data_subjects=tuple(content.get("data_subjects") or ()),
                operations=tuple(content.get("operations") or ()),
                countries=tuple(content.get("countries") or ()),
                retention_days=int(content.get("retention_days") or 0),
            )
    return result


def history(
    controller_ids: Iterable[str] | None = None,
) -> tuple[list[Agreement], list[Instruction]]:
    """Every drafted DPA version (with its signatures) and every instruction
    version of the controllers (all if None), by controller and version: the
    evidence pack's history."""
    agreements: list[Agreement] = []
    issued: list[Instruction] = []
    a, i = AgreementRow, InstructionRow
    for chunk in _chunks(controller_ids):
        aq = a.select().where(a.document.is_null(False)).order_by(a.controller_id, a.version)
        iq = i.select().order_by(i.controller_id, i.version)
        if chunk is not None:
            aq = aq.where(a.controller_id.in_(chunk))
            iq = iq.where(i.controller_id.in_(chunk))
        agreements += [agreement_of(row) for row in aq]
        issued += [instruction_of(row) for row in iq]
    return agreements, issued


@changefeed.publishes("controllers.agreements", "controllers.instructions")
def _touched(touched: changefeed.Touched, tenant: str | None, ids: list[str]) -> None:
    """A DPA or instruction change touches its controller's terms and limits."""
    touched.controllers.add(ids[0])
