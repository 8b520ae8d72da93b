"""Warnings that a measure's evidence (a certificate, an audit report)
expires: to every controller with an ACTIVE DPA when it enters its warning
window (``EXPIRY_WARNING_DAYS``) and again when it has expired, once each
(Art. 28(3)(c) and (h): the controllers rely on that evidence). Run by the
scheduler (``registry.expiry``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.agreements import terms
from registry.ledger import Mutation
from registry.measures import core
from registry.measures.types import EXPIRY_WARNING_DAYS, Evidence, EvidenceStatus
from registry.notifications import core as notifications

_WARNED = (EvidenceStatus.EXPIRING, EvidenceStatus.EXPIRED)


@dataclass(frozen=True)
class Due:
    version: core.Version
    evidence: Evidence
    status: EvidenceStatus

    @property
    def key(self) -> str:
        e = self.evidence
        return f"{self.version.name}/evidence/{e.reference}@{e.valid_until}:{self.status.value}"


def due(today: date) -> list[Due]:
    """Evidence of the measures in force that is expiring or expired today."""
    return [
        Due(v, e, status)
        for v in core.current()
        for e in v.content.evidence
        if (status := e.status(today)) in _WARNED
    ]


def warn(m: Mutation, today: date) -> int:
    """Sends every warning not sent yet; returns how many."""
    sent = 0
    for d in due(today):
        if not notifications.claim_once(m, d.key):
            continue
        v, e = d.version, d.evidence
        left = e.days_left(today)
        if d.status is EvidenceStatus.EXPIRING:
            title = f"Evidence for a technical and organisational measure expires: {e.title}"
            what = f"is valid until {e.valid_until.isoformat()} ({left} days left)"
        else:
            title = f"Evidence for a technical and organisational measure expired: {e.title}"
            what = (
                f"expired on {e.valid_until.isoformat()}; until renewed evidence is recorded the "
                "measure rests on the processor's statement alone"
            )
        payload = {
            "measure": v.name,
            "version": v.version,
            "evidence": e.reference,
            "issuer": e.issuer,
            "valid_until": e.valid_until.isoformat(),
            "status": d.status.value,
            "warning_days": EXPIRY_WARNING_DAYS,
        }
        notifications.notify(
            m,
            sorted(terms.active_terms(None)),
            notifications.Kind.GENERAL,
            title,
            f"{e.title} by {e.issuer} ({e.reference}), evidence for the measure {v.name} "
            f"({v.content.title}, version {v.version}), {what}.",
            f"{v.name}/versions/{v.version}",
            payload,
        )
        m.record(f"measure.evidence.{d.status.value.lower()}", v.name, None, payload)
        sent += 1
    return sent
