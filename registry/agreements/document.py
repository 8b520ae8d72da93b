"""The DPA document: its content, canonical bytes (RFC 8785) and a Markdown
rendering. Sections follow the annexes of Implementing Decision (EU) 2021/915
(I parties, II description of processing, III technical and organisational
measures, IV authorised sub-processors). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from registry import taxonomy
from registry.agreements.template import Template, Terms
from registry.audit.events import canonical
from registry.clock import rfc3339

DOCUMENT_TYPE = "dpa-registry/agreement/v1"


def build(
    *,
    agreement: str,
    controller_id: str,
    version: int,
    template: Template,
    terms: Terms,
    controller: dict[str, str],
    annex_iv: Sequence[dict[str, Any]],
    drafted_at: datetime,
    supersedes: dict[str, Any] | None,
    measures_annex: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON content both parties sign. Annex III is the registry's
    current measures (``measures_annex``) when it keeps any, else the
    template's catalogue entries the terms name."""
    categories = [
        {"key": key, "special_category": taxonomy.is_special_category(key)}
        for key in terms.data_categories
    ]
    measures = list(measures_annex) or [
        m.to_json() for mid in terms.measures if (m := template.measure(mid)) is not None
    ]
    return {
        "type": DOCUMENT_TYPE,
        "agreement": agreement,
        "controller_id": controller_id,
        "version": version,
        "title": template.title,
        "template": template.ref,
        "clauses": template.clauses_reference,
        "drafted_at": rfc3339(drafted_at),
        "supersedes": supersedes,
        "annex_i_parties": {
            "controller": {"controller_id": controller_id, **controller},
            "processor": dict(template.processor),
        },
        "annex_ii_processing": {
            "subject_matter": terms.subject_matter,
            "duration": terms.duration,
            "nature": [o.value for o in terms.nature],
            "purposes": list(terms.purposes),
            "data_categories": categories,
            "special_categories": any(c["special_category"] for c in categories),
            "data_subjects": list(terms.data_subjects),
            "retention_days": terms.retention_days,
        },
        "annex_iii_measures": measures,
        "annex_iv_subprocessors": list(annex_iv),
        "subprocessor_authorisation": {
            "mode": terms.authorization_mode.name,
            "notice_days": terms.notice_days,
            "objection_days": terms.objection_days,
        },
        "breach_notification_hours": terms.breach_notification_hours,
        "dsr_assistance_days": terms.dsr_assistance_days,
        "end_of_contract": terms.end_of_contract.value,
        "governing_law": template.governing_law,
        "supervisory_authority": template.supervisory_authority,
    }


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return canonical(content)


def _list(items: Sequence[str]) -> str:
    return ", ".join(f"`{i}`" for i in items) if items else "(none)"


def render_markdown(content: dict[str, Any], digest: str) -> str:
    """A human-readable rendering of the signed content (not itself signed)."""
    parties = content["annex_i_parties"]
    ii = content["annex_ii_processing"]
    auth = content["subprocessor_authorisation"]
    c, p = parties["controller"], parties["processor"]
    lines = [
        f"# {content['title']}",
        "",
        f"Agreement `{content['agreement']}`, version {content['version']}, drafted "
        f"{content['drafted_at']} from template `{content['template']['id']}` "
        f"v{content['template']['version']}.",
        f"Document digest: `{digest}` (RFC 8785 canonical JSON; this rendering is not signed).",
        "",
        f"Clauses: {content['clauses']}.",
        "",
        "## Annex I: parties",
        "",
        f"- **Controller**: {c.get('legal_name', '')} ({c.get('country', '')}), "
        f"contact {c.get('contact_email', '')}, DPO {c.get('dpo_email', '')}",
        f"- **Processor**: {p.get('legal_name', '')} ({p.get('country', '')}), "
        f"{p.get('address', '')}, contact {p.get('contact_email', '')}",
        "",
        "## Annex II: description of the processing",
        "",
        f"- Subject matter: {ii['subject_matter']}",
        f"- Duration: {ii['duration']}",
        f"- Nature: {_list(ii['nature'])}",
        f"- Purposes: {_list(ii['purposes'])}",
        "- Categories of personal data: "
        + _list(
            [
                cat["key"] + (" (special category, Art. 9)" if cat["special_category"] else "")
                for cat in ii["data_categories"]
            ]
        ),
        f"- Special categories of data: {'yes' if ii['special_categories'] else 'no'}",
        f"- Categories of data subjects: {_list(ii['data_subjects'])}",
        f"- Retention: {ii['retention_days']} days",
        "",
        "## Annex III: technical and organisational measures",
        "",
    ]
    lines += [
        f"- **{m['title']}** ({m['area']}): {m['description']}"
        for m in content["annex_iii_measures"]
    ]
    lines += ["", "## Annex IV: authorised sub-processors", ""]
    subs = content["annex_iv_subprocessors"]
    if subs:
        lines += [
            f"- **{s.get('name', '')}** ({s.get('legal_name', '')}, {s.get('country', '')}): "
            f"{s.get('purpose', '')}; locations {', '.join(s.get('locations', []))}"
            for s in subs
        ]
    else:
        lines.append("(none)")
    lines += [
        "",
        "## Terms",
        "",
        f"- Sub-processor authorisation (Art. 28(2)): {auth['mode']}; "
        f"{auth['notice_days']} days advance notice, {auth['objection_days']} days to object",
        f"- Breach notification (Art. 33(2)): within {content['breach_notification_hours']} hours",
        f"- End of contract (Art. 28(3)(g)): {content['end_of_contract']}",
        f"- Governing law: {content['governing_law']}",
        f"- Competent supervisory authority: {content['supervisory_authority']}",
    ]
    if content.get("supersedes"):
        s = content["supersedes"]
        lines += ["", f"Supersedes `{s['agreement']}` (digest `{s['digest']}`)."]
    return "\n".join(lines) + "\n"
