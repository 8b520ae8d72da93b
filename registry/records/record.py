"""The Art. 30(2) record as plain data: built from facts the domains' read
APIs return and the index of audit entries behind them. Pure: no I/O.

Art. 30(2): (a) the processor's and each controller's name, contact details
and DPO; (b) the categories of processing carried out for each controller;
(c) transfers to third countries with their safeguards (Art. 49(1) second
subparagraph included); (d) a general description of the technical and
organisational measures (Art. 32(1)). Every line lists ``sources``: the
indices of the audit-log entries it comes from, below ``revision``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dpa_client.bundle import line_digest
from registry.agreements.terms import InstructionScope

RECORD_TYPE = "dpa-registry/art30-2-record/v1"
PROCESSOR_SCOPE = "processor"
PROCESSOR_RESOURCE = "processor"
"""The audit resource of the processor's own details (DPO, representative)."""


@dataclass(frozen=True)
class Transfer:
    subprocessor_id: str
    destination_country: str
    mechanism: str
    """DPV identifier, e.g. ``eu-gdpr:A46-2-c``."""
    article: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class Engaged:
    subprocessor_id: str
    legal_name: str
    country: str
    purpose: str
    locations: tuple[str, ...]
    state: str


@dataclass(frozen=True)
class ControllerFacts:
    controller_id: str
    party: Mapping[str, str]
    processing: InstructionScope | None
    subprocessors: tuple[Engaged, ...] = ()
    transfers: tuple[Transfer, ...] = field(default=())


def _sealed(line: dict[str, Any]) -> dict[str, Any]:
    """The line with its ``content_digest`` (``dpa_client.bundle.line_digest``)."""
    line["content_digest"] = line_digest(line)
    return line


def _exact(index: Mapping[str, Sequence[int]], resource: str) -> list[int]:
    return sorted(index.get(resource, ()))


def _under(index: Mapping[str, Sequence[int]], root: str) -> list[int]:
    prefix = root + "/"
    return sorted(s for r, seqs in index.items() if r.startswith(prefix) for s in seqs)


def _controller(c: ControllerFacts, index: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    name = f"controllers/{c.controller_id}"
    processing = []
    if c.processing is not None:
        p = c.processing
        processing.append(
            _sealed(
                {
                    "instruction": p.instruction,
                    "purposes": list(p.purposes),
                    "data_categories": list(p.data_categories),
                    "data_subjects": list(p.data_subjects),
                    "operations": list(p.operations),
                    "countries": list(p.countries),
                    "retention_days": p.retention_days,
                    "sources": _exact(index, p.instruction),
                }
            )
        )
    return _sealed(
        {
            "controller": name,
            "controller_id": c.controller_id,
            "legal_name": c.party.get("legal_name", ""),
            "country": c.party.get("country", ""),
            "contact_email": c.party.get("contact_email", ""),
            "dpo_email": c.party.get("dpo_email", ""),
            "sources": _exact(index, name),
            "processing": processing,
            "subprocessors": [
                _sealed(
                    {
                        "subprocessor": f"subprocessors/{s.subprocessor_id}",
                        "legal_name": s.legal_name,
                        "country": s.country,
                        "purpose": s.purpose,
                        "locations": list(s.locations),
                        "state": s.state,
                        "sources": _exact(index, f"subprocessors/{s.subprocessor_id}"),
                    }
                )
                for s in c.subprocessors
            ],
            "transfers": [
                _sealed(
                    {
                        "subprocessor": f"subprocessors/{t.subprocessor_id}",
                        "destination_country": t.destination_country,
                        "mechanism": t.mechanism,
                        "article": t.article,
                        "art49_derogation": t.mechanism.startswith("eu-gdpr:A49"),
                        **dict(t.details),
                        "sources": _under(index, f"subprocessors/{t.subprocessor_id}/safeguards"),
                    }
                )
                for t in c.transfers
            ],
        }
    )


def build(
    *,
    revision: int,
    as_of_time: str,
    scope: str,
    processor: Mapping[str, str],
    processor_origin: str,
    processor_details: Mapping[str, Any],
    controllers: Sequence[ControllerFacts],
    measures: Sequence[Mapping[str, Any]],
    index: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    """The record (see the module doc); ``measures`` are the measures in force
    as the measures domain shows them (``measure`` names the resource)."""
    return {
        "type": RECORD_TYPE,
        "revision": revision,
        "as_of_time": as_of_time,
        "scope": scope,
        "processor": _sealed(
            {
                "legal_name": processor.get("legal_name", ""),
                "country": processor.get("country", ""),
                "address": processor.get("address", ""),
                "contact_email": processor.get("contact_email", ""),
                "dpo": processor_details["dpo"],
                "representative": processor_details["representative"],
                "origin": processor_origin,
                "sources": _exact(index, PROCESSOR_RESOURCE),
            }
        ),
        "controllers": [_controller(c, index) for c in controllers],
        "measures": [
            _sealed({**dict(m), "sources": _exact(index, str(m["measure"]))}) for m in measures
        ],
    }


def _contact(c: Mapping[str, str] | None) -> str:
    if c is None:
        return "none recorded"
    parts = [c["name"], c["email"], c["phone"], c["address"], c["country"]]
    return ", ".join(x for x in parts if x)


def lines(record: Mapping[str, Any]) -> list[tuple[str, str, str, str, list[int]]]:
    """The record flattened: (section, controller, subject, detail, sources)
    per line, in document order; what the CSV and HTML renderings show."""
    out: list[tuple[str, str, str, str, list[int]]] = []
    p = record["processor"]
    out.append(
        (
            "processor",
            "",
            p["legal_name"],
            f"{p['country']}; {p['address']}; contact {p['contact_email']}; "
            f"DPO {_contact(p['dpo'])}; "
            f"representative in the Union (Art. 27) {_contact(p['representative'])}",
            p["sources"],
        )
    )
    for c in record["controllers"]:
        cid = c["controller_id"]
        out.append(
            (
                "controller",
                cid,
                c["legal_name"],
                f"{c['country']}; contact {c['contact_email']}; DPO {c['dpo_email']}",
                c["sources"],
            )
        )
        for pr in c["processing"]:
            out.append(
                (
                    "processing",
                    cid,
                    ", ".join(pr["purposes"]),
                    f"data {', '.join(pr['data_categories'])}; "
                    f"subjects {', '.join(pr['data_subjects'])}; "
                    f"operations {', '.join(pr['operations'])}; "
                    f"countries {', '.join(pr['countries'])}; "
                    f"retention {pr['retention_days']} days",
                    pr["sources"],
                )
            )
        for s in c["subprocessors"]:
            out.append(
                (
                    "subprocessor",
                    cid,
                    s["legal_name"],
                    f"{s['state']}; {s['purpose']}; locations {', '.join(s['locations'])}",
                    s["sources"],
                )
            )
        for t in c["transfers"]:
            out.append(
                (
                    "transfer",
                    cid,
                    f"{t['subprocessor']} to {t['destination_country']}",
                    f"{t['article']} ({t['mechanism']})"
                    + ("; Art. 49(1) derogation" if t["art49_derogation"] else ""),
                    t["sources"],
                )
            )
    for m in record["measures"]:
        evidence = "; ".join(
            f"{e['title']} by {e['issuer']} until {e['valid_until']}" for e in m["evidence"]
        )
        out.append(
            (
                "measure",
                "",
                f"{m['heading']}: {m['title']} (v{m['version']})",
                m["description"] + (f"; evidence: {evidence}" if evidence else ""),
                m["sources"],
            )
        )
    return out
