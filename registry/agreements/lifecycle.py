"""The DPA lifecycle: request, draft, sign, countersign, terminate.

REQUESTED -> DRAFTED -> SIGNED_BY_PROCESSOR -> ACTIVE -> TERMINATED, one line
of versions per controller. An amendment is a new version requested while one
is ACTIVE; when it is countersigned the earlier one becomes SUPERSEDED. Any
other transition is FAILED_PRECONDITION and changes nothing (the write path
rolls the transaction back). The document is fixed when drafted; the two
signatures are over its exact canonical bytes.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

from dpa_client import documents
from dpa_client.errors import BadSignature
from registry import keys, names, paging
from registry.agreements import document, template
from registry.agreements.model import AgreementLine, AgreementRow
from registry.agreements.terms import agreement_name, audited_sign
from registry.agreements.types import PENDING_STATES, AgreementState
from registry.agreements.values import Agreement, agreement_of
from registry.audit.events import canonical
from registry.auth import Caller
from registry.controllers import core as controllers
from registry.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Violations,
)
from registry.ledger import Mutation

LATEST = "-"


def parse_name(name: str, field: str = "name") -> tuple[str, int | None]:
    """``controllers/{c}/agreements/{v}`` -> (c, v); ``-`` as v means the latest."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "controllers" and parts[2] == "agreements":
        controller_id = names.parse(f"controllers/{parts[1]}", "controllers", field)
        if parts[3] == LATEST:
            return controller_id, None
        if parts[3].isdigit() and 0 < int(parts[3]) < 2**31:
            return controller_id, int(parts[3])
    raise InvalidArgument.one(field, "must look like controllers/{controller}/agreements/{version}")


def parse_parent(parent: str, field: str = "parent") -> str:
    return names.parse(parent, "controllers", field)


def visible(caller: Caller, controller_id: str) -> bool:
    return caller.sees(controller_id)


def _not_found(controller_id: str, version: int | None) -> NotFound:
    return NotFound(f"{agreement_name(controller_id, version or 0)} not found")


def get(caller: Caller, controller_id: str, version: int | None) -> Agreement:
    """One version (the newest if ``version`` is None); NOT_FOUND if hidden."""
    return agreement_of(get_row(caller, controller_id, version))


def get_row(caller: Caller, controller_id: str, version: int | None) -> AgreementRow:
    if not visible(caller, controller_id):
        raise _not_found(controller_id, version)
    query = AgreementRow.select().where(AgreementRow.controller_id == controller_id)
    if version is None:
        row = query.order_by(AgreementRow.version.desc()).first()
    else:
        row = query.where(AgreementRow.version == version).first()
    if row is None:
        raise _not_found(controller_id, version)
    return row  # type: ignore[no-any-return]


def list_page(caller: Caller, controller_id: str, page: paging.Page) -> list[Agreement]:
    """Newest first; a controller asking for another tenant gets NOT_FOUND."""
    if not visible(caller, controller_id) or not _controller_exists(controller_id):
        raise NotFound(f"controllers/{controller_id} not found")
    query = (
        AgreementRow.select()
        .where(AgreementRow.controller_id == controller_id)
        .order_by(AgreementRow.version.desc())
        .limit(page.size)
    )
    if page.after is not None:
        query = query.where(AgreementRow.version < int(page.after))
    return [agreement_of(r) for r in query]


def page_key(a: Agreement) -> str:
    return str(a.version)


def _controller_exists(controller_id: str) -> bool:
    return controllers.exists(controller_id)


def state_of(row: AgreementRow) -> AgreementState:
    return AgreementState(row.state)


def terms_of(row: AgreementRow) -> template.Terms:
    return template.Terms.from_json(json.loads(row.proposal))


def etag_of(row: AgreementRow) -> str:
    return f"r{row.revision}"


def require_state(row: AgreementRow, allowed: AgreementState, action: str) -> None:
    state = state_of(row)
    if state is not allowed:
        raise FailedPrecondition(
            f"cannot {action} {agreement_name(row.controller_id, row.version)}: it is "
            f"{state.value}, not {allowed.value}"
        )


def check_etag(row: AgreementRow, etag: str) -> None:
    if etag and etag != etag_of(row):
        raise Aborted(f"etag {etag!r} is stale; current is {etag_of(row)!r}")


def save(m: Mutation, row: AgreementRow, **changes: Any) -> AgreementRow:
    """Compare-and-set on revision: a concurrent change aborts."""
    updated = (
        AgreementRow.update(**changes, revision=row.revision + 1, update_time=m.now)
        .where((AgreementRow.id == row.id) & (AgreementRow.revision == row.revision))
        .execute()
    )
    if updated != 1:
        raise Aborted("agreement changed concurrently; re-read and retry")
    return AgreementRow.get_by_id(row.id)


def _document(row: AgreementRow) -> bytes:
    if row.document is None:
        raise FailedPrecondition(
            f"{agreement_name(row.controller_id, row.version)} is not drafted yet"
        )
    return bytes(row.document)


def _line(controller_id: str) -> AgreementLine | None:
    return AgreementLine.get_or_none(AgreementLine.controller_id == controller_id)


def request(m: Mutation, controller_id: str, proposal: template.Proposal) -> Agreement:
    """A new version in REQUESTED, with the proposal resolved against the template."""
    if not visible(m.caller, controller_id) or not _controller_exists(controller_id):
        raise NotFound(f"controllers/{controller_id} not found")
    terms = template.load().resolve(proposal)
    line = _line(controller_id)
    if line is not None:
        pending = (
            AgreementRow.select(AgreementRow.version)
            .where(
                (AgreementRow.controller_id == controller_id)
                & (AgreementRow.state.in_([s.value for s in PENDING_STATES]))
            )
            .first()
        )
        if pending is not None:
            raise FailedPrecondition(
                f"{agreement_name(controller_id, pending.version)} is still pending; "
                "finish or terminate it first"
            )
    version = 1 if line is None else line.latest_version + 1
    if line is None:
        AgreementLine.create(controller_id=controller_id, latest_version=version)
    else:
        AgreementLine.update(latest_version=version).where(
            AgreementLine.controller_id == controller_id
        ).execute()
    row = AgreementRow.create(
        controller_id=controller_id,
        version=version,
        state=AgreementState.REQUESTED.value,
        requested_by=m.caller.spiffe_id,
        proposal=canonical(terms.to_json()).decode(),
        **_denormalised(terms),
        create_time=m.now,
        update_time=m.now,
    )
    amends = line.active_version if line is not None else None
    m.record(
        "agreement.request",
        agreement_name(controller_id, version),
        controller_id,
        {"version": version, "terms": terms.to_json(), "amends": amends},
    )
    return agreement_of(row)


def _denormalised(terms: template.Terms) -> dict[str, Any]:
    return {
        "authorization_mode": terms.authorization_mode.value,
        "notice_days": terms.notice_days,
        "objection_days": terms.objection_days,
        "breach_hours": terms.breach_notification_hours,
        "end_of_contract": terms.end_of_contract.value,
        "dsr_assistance_days": terms.dsr_assistance_days,
    }


def _merge(base: template.Terms, override: template.Proposal) -> template.Proposal:
    """The requested terms with the override's set fields replacing them."""
    merged = template.Proposal(
        subject_matter=base.subject_matter,
        duration=base.duration,
        nature=base.nature,
        purposes=base.purposes,
        data_categories=base.data_categories,
        data_subjects=base.data_subjects,
        retention_days=base.retention_days,
        authorization_mode=base.authorization_mode,
        notice_days=base.notice_days,
        objection_days=base.objection_days,
        breach_notification_hours=base.breach_notification_hours,
        end_of_contract=base.end_of_contract,
        measures=base.measures,
        dsr_assistance_days=base.dsr_assistance_days,
    )
    changes = {
        f.name: getattr(override, f.name)
        for f in fields(override)
        if getattr(override, f.name) not in (None, "", ())
    }
    return replace(merged, **changes)


def _annex_for(controller_id: str) -> list[dict[str, Any]]:
    """Annex IV: the controller's authorised sub-processors, from their registry."""
    try:
        from registry.subprocessors.annex import current_annex  # noqa: PLC0415
    except ImportError:
        return []
    return [entry.to_json() for entry in current_annex(controller_id)]


def draft(
    m: Mutation, controller_id: str, version: int | None, etag: str, override: template.Proposal
) -> Agreement:
    """REQUESTED -> DRAFTED: the canonical document is fixed."""
    row = get_row(m.caller, controller_id, version)
    require_state(row, AgreementState.REQUESTED, "draft")
    check_etag(row, etag)
    tpl = template.load()
    terms = tpl.resolve(_merge(terms_of(row), override))
    line = _line(controller_id)
    supersedes = None
    if line is not None and line.active_version is not None:
        active = get_row(m.caller, controller_id, line.active_version)
        supersedes = {
            "agreement": agreement_name(controller_id, active.version),
            "digest": active.document_digest,
        }
    name = agreement_name(controller_id, row.version)
    from registry.measures.core import annex  # noqa: PLC0415 - measures reads agreements.terms

    content = document.build(
        agreement=name,
        controller_id=controller_id,
        version=row.version,
        template=tpl,
        terms=terms,
        controller=controllers.party(controller_id),
        annex_iv=_annex_for(controller_id),
        measures_annex=annex(),  # Annex III: the measures in force
        drafted_at=m.now,
        supersedes=supersedes,
    )
    data = document.canonical_bytes(content)
    doc_digest = documents.digest(data)
    scope = {
        "purposes": list(terms.purposes),
        "data_categories": list(terms.data_categories),
        "data_subjects": list(terms.data_subjects),
        "nature": [o.value for o in terms.nature],
    }
    row = save(
        m,
        row,
        state=AgreementState.DRAFTED.value,
        proposal=canonical(terms.to_json()).decode(),
        **_denormalised(terms),
        scope=canonical(scope).decode(),
        document=data,
        document_digest=doc_digest,
        drafted_by=m.caller.spiffe_id,
        draft_time=m.now,
    )
    m.record(
        "agreement.draft",
        name,
        controller_id,
        {"version": row.version, "document_digest": doc_digest, "template": tpl.ref},
    )
    return agreement_of(row)


def _check_digest(row: AgreementRow, doc_digest: str) -> None:
    if doc_digest and doc_digest != row.document_digest:
        raise FailedPrecondition(
            f"document_digest {doc_digest!r} is not the drafted document's "
            f"({row.document_digest}); re-read it"
        )


def sign(
    m: Mutation, controller_id: str, version: int | None, doc_digest: str, etag: str
) -> Agreement:
    """DRAFTED -> SIGNED_BY_PROCESSOR with the processor's active Ed25519 key."""
    row = get_row(m.caller, controller_id, version)
    require_state(row, AgreementState.DRAFTED, "sign")
    check_etag(row, etag)
    _check_digest(row, doc_digest)
    key = keys.active()
    signature = key.sign(_document(row))
    row = save(
        m,
        row,
        state=AgreementState.SIGNED_BY_PROCESSOR.value,
        processor_signature=signature,
        processor_vkey=key.vkey,
        processor_signed_by=m.caller.spiffe_id,
        processor_sign_time=m.now,
    )
    signed = agreement_of(row)
    m.record(
        "agreement.sign",
        agreement_name(controller_id, row.version),
        controller_id,
        audited_sign(signed) or {},
    )
    return signed


def countersign(
    m: Mutation,
    controller_id: str,
    version: int | None,
    doc_digest: str,
    signature: bytes,
    certificate_pem: bytes,
    trust_domain: str,
    etag: str,
) -> Agreement:
    """SIGNED_BY_PROCESSOR -> ACTIVE, verified against the caller's certificate."""
    row = get_row(m.caller, controller_id, version)
    if m.caller.tenant != controller_id:
        raise PermissionDenied("only the controller itself countersigns its DPA")
    require_state(row, AgreementState.SIGNED_BY_PROCESSOR, "countersign")
    check_etag(row, etag)
    _check_digest(row, doc_digest)
    errors = Violations()
    if not signature:
        errors.add("signature", "is required")
    if not certificate_pem:
        raise FailedPrecondition("countersigning needs the caller's mTLS client certificate")
    errors.raise_if_any()
    try:
        documents.verify_controller_signature(
            _document(row),
            signature,
            certificate_pem,
            controller_id=controller_id,
            trust_domain=trust_domain,
        )
    except BadSignature as err:
        raise InvalidArgument.one("signature", str(err)) from None
    line = AgreementLine.get(AgreementLine.controller_id == controller_id)
    superseded = line.active_version
    if superseded is not None:
        old = get_row(m.caller, controller_id, superseded)
        save(m, old, state=AgreementState.SUPERSEDED.value, supersede_time=m.now)
    row = save(
        m,
        row,
        state=AgreementState.ACTIVE.value,
        controller_signature=signature,
        controller_certificate=certificate_pem.decode(),
        controller_signed_by=m.caller.spiffe_id,
        controller_sign_time=m.now,
    )
    AgreementLine.update(active_version=row.version, ended_version=None).where(
        AgreementLine.controller_id == controller_id
    ).execute()
    m.record(
        "agreement.countersign",
        agreement_name(controller_id, row.version),
        controller_id,
        {
            "version": row.version,
            "document_digest": row.document_digest,
            "signed_by": m.caller.spiffe_id,
            "supersedes": superseded,
        },
    )
    return agreement_of(row)


def render(caller: Caller, controller_id: str, version: int | None) -> tuple[Agreement, str]:
    row = get_row(caller, controller_id, version)
    if row.document is None:
        raise FailedPrecondition(f"{agreement_name(controller_id, row.version)} is not drafted yet")
    content = json.loads(_document(row))
    return agreement_of(row), document.render_markdown(content, row.document_digest)
