"""The terms of each controller's ACTIVE DPA that other domains rely on.

The sub-processor slice reads the Art. 28(2) authorisation mode with its two
periods (advance notice, objection) and the breach-notification deadline
(Art. 33(2)) from here; one query serves any number of controllers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from registry import names
from registry.agreements.model import AgreementLine, AgreementRow, AuthorizationMode

__all__ = ["ActiveTerms", "AuthorizationMode", "active_terms", "agreement_name"]


def agreement_name(controller_id: str, version: int) -> str:
    return names.make(f"controllers/{controller_id}/agreements", str(version))


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


def active_terms(controller_ids: Iterable[str] | None = None) -> dict[str, ActiveTerms]:
    """Controller id -> terms of its ACTIVE DPA; controllers without one are absent.

    ``None`` means every controller with an ACTIVE DPA. One query.
    """
    query = (
        AgreementRow.select(
            AgreementRow.controller_id,
            AgreementRow.version,
            AgreementRow.authorization_mode,
            AgreementRow.notice_days,
            AgreementRow.objection_days,
            AgreementRow.breach_hours,
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
    if controller_ids is not None:
        wanted = sorted(set(controller_ids))
        if not wanted:
            return {}
        query = query.where(AgreementLine.controller_id.in_(wanted))
    return {
        cid: ActiveTerms(
            controller_id=cid,
            agreement=agreement_name(cid, version),
            version=version,
            authorization_mode=AuthorizationMode(mode),
            notice_days=notice,
            objection_days=objection,
            breach_notification_hours=breach,
        )
        for cid, version, mode, notice, objection, breach in cast(
            "Iterable[tuple[str, int, str, int, int, int]]", query
        )
    }
