"""Valid example resources for tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dpa_client import Controller, Instruction, RegistryClient, Subprocessor
from registry.agreements.types import AuthorizationMode
from tests.harness import Harness


def controller(staff: RegistryClient, controller_id: str, **overrides: str) -> Controller:
    fields = {
        "legal_name": f"{controller_id.title()} AS",
        "country": "EE",
        "contact_email": f"privacy@{controller_id}.example",
        "dpo_email": f"dpo@{controller_id}.example",
        **overrides,
    }
    return staff.create_controller(controller_id, **fields)  # type: ignore[arg-type]


def subprocessor(staff: RegistryClient, subprocessor_id: str, **overrides: object) -> Subprocessor:
    """A valid sub-processor (an EU hosting provider unless overridden)."""
    fields: dict[str, object] = {
        "display_name": subprocessor_id.title(),
        "legal_name": f"{subprocessor_id.title()} Ltd",
        "address": "1 Example Street, Tallinn",
        "country": "EE",
        "contact_email": f"privacy@{subprocessor_id}.example",
        "service_category": "HOSTING",
        "locations": ["EE", "FI"],
        "data_categories": ["user.contact.email"],
        "purpose": "Hosting of the platform",
        "agreement_signed": "2025-01-15",
        "agreement_reference": f"SPA-{subprocessor_id}",
        "agreement_digest": "sha256:" + "ab" * 32,
        "flow_down_confirmed": True,
        "certifications": ["ISO/IEC 27001"],
        **overrides,
    }
    return staff.create_subprocessor(subprocessor_id, **fields)  # type: ignore[arg-type]


def dpa_terms_direct(
    controller_id: str,
    *,
    mode: str = "GENERAL",
    notice_days: int = 30,
    objection_days: int = 30,
    breach_hours: int = 48,
) -> None:
    """Fast path for sub-processor tests: an ACTIVE DPA version written straight
    into the agreements tables (no document, no signatures). Use ``active_dpa``
    to go through the real DPA life cycle."""
    from registry import clock, db
    from registry.agreements.model import AgreementLine, AgreementRow
    from registry.agreements.types import AgreementState, AuthorizationMode

    now = clock.now()
    with db.database.connection_context(), db.transaction():
        AgreementRow.create(
            controller_id=controller_id,
            version=1,
            state=AgreementState.ACTIVE.value,
            requested_by="spiffe://7plus.one/staff/admin",
            proposal="{}",
            authorization_mode=AuthorizationMode[mode].value,
            notice_days=notice_days,
            objection_days=objection_days,
            breach_hours=breach_hours,
            end_of_contract="DELETE",
            create_time=now,
            update_time=now,
        )
        AgreementLine.create(controller_id=controller_id, latest_version=1, active_version=1)


def _controller_client(h: Harness, controller_id: str) -> RegistryClient:
    """A client for ``spiffe://7plus.one/controller/<controller_id>``, issuing its
    certificate on first use."""
    from registry import pki
    from tests.harness import TRUST_DOMAIN

    cert, _ = h.pki.client("controller", controller_id)
    if not cert.exists():
        pki.issue_client_cert(h.pki, "controller", controller_id, TRUST_DOMAIN)
    return h.client("controller", controller_id)


def active_dpa(
    h: Harness,
    controller_id: str,
    *,
    mode: str = "GENERAL",
    notice_days: int = 30,
    objection_days: int = 30,
    breach_hours: int = 48,
    **proposal: Any,
) -> None:
    """Drives the real DPA life cycle through the client library until ACTIVE:
    request (by the controller), draft and sign (staff), countersign (the
    controller, with the key of its client certificate). Creates the
    controller if missing. ``proposal`` passes further terms (purposes, ...)."""
    from dpa_client import errors, terms

    staff = h.staff
    try:
        staff.get_controller(controller_id)
    except errors.NotFound:
        controller(staff, controller_id)
    me = _controller_client(h, controller_id)
    me.request_agreement(
        controller_id,
        terms(
            authorization_mode=mode,
            notice_days=notice_days,
            objection_days=objection_days,
            breach_notification_hours=breach_hours,
            **proposal,
        ),
    )
    drafted = staff.draft_agreement(controller_id)
    staff.sign_agreement(controller_id, drafted.version, document_digest=drafted.document_digest)
    me.countersign_agreement(controller_id, drafted.version)


def instruction(h: Harness, controller_id: str, **overrides: Any) -> Instruction:
    """A valid instruction within the template's default DPA scope."""
    fields: dict[str, Any] = {
        "purposes": ["essential.service"],
        "data_categories": ["user.contact"],
        "data_subjects": ["customer"],
        "operations": ["STORE", "ANALYZE"],
        "countries": ["EE", "FI"],
        "retention_days": 180,
        **overrides,
    }
    return _controller_client(h, controller_id).issue_instruction(controller_id, **fields)


def active_dpa_direct(
    controller_id: str,
    *,
    mode: str = "GENERAL",
    notice_days: int = 30,
    objection_days: int = 30,
    breach_hours: int = 48,
) -> None:
    """Fast path for benchmarks: an ACTIVE version with the template's default
    terms (complete scope, so CheckProcessing works) written straight into the
    tables; no document and no signatures. The controller row must exist."""
    from registry import clock, db
    from registry.agreements import template
    from registry.agreements.model import AgreementLine, AgreementRow
    from registry.agreements.types import AgreementState
    from registry.audit.events import canonical

    base = template.load().defaults
    chosen = replace(
        base,
        authorization_mode=AuthorizationMode[mode],
        notice_days=notice_days,
        objection_days=objection_days,
        breach_notification_hours=breach_hours,
    )
    scope = {
        "purposes": list(chosen.purposes),
        "data_categories": list(chosen.data_categories),
        "data_subjects": list(chosen.data_subjects),
        "nature": [o.value for o in chosen.nature],
    }
    now = clock.now()
    with db.database.connection_context(), db.transaction():
        AgreementRow.create(
            controller_id=controller_id,
            version=1,
            state=AgreementState.ACTIVE.value,
            requested_by="spiffe://7plus.one/staff/admin",
            proposal=canonical(chosen.to_json()).decode(),
            authorization_mode=chosen.authorization_mode.value,
            notice_days=notice_days,
            objection_days=objection_days,
            breach_hours=breach_hours,
            end_of_contract=chosen.end_of_contract.value,
            scope=canonical(scope).decode(),
            create_time=now,
            update_time=now,
        )
        AgreementLine.create(controller_id=controller_id, latest_version=1, active_version=1)


def engaged_subprocessor_direct(
    h: Harness, subprocessor_id: str, *, controllers: tuple[str, ...] | None = None
) -> None:
    """A sub-processor created through the client, then made ACTIVE straight in
    the tables (no change notice): platform-wide when ``controllers`` is None,
    else engaged for the named controllers only (each AUTHORIZED)."""
    from registry import clock, db
    from registry.subprocessors.model import AuthorizationRow, SubprocessorRow
    from registry.subprocessors.types import AuthorizationState, Scope, Status

    subprocessor(h.staff, subprocessor_id)
    now = clock.now()
    scope = Scope.PLATFORM if controllers is None else Scope.NAMED_CONTROLLERS
    with db.database.connection_context(), db.transaction():
        SubprocessorRow.update(status=Status.ACTIVE.value, scope=scope.value).where(
            SubprocessorRow.subprocessor_id == subprocessor_id
        ).execute()
        for cid in controllers or ():
            AuthorizationRow.create(
                controller_id=cid,
                subprocessor_id=subprocessor_id,
                state=AuthorizationState.AUTHORIZED.value,
                update_time=now,
            )


def breach_details(subprocessors: tuple[str, ...] = (), **overrides: Any) -> Any:
    """Valid Art. 33(3) content of an initial breach report."""
    from dpa_client import BreachDetails

    fields: dict[str, Any] = {
        "types": ["CONFIDENTIALITY"],
        "description": "Misconfigured storage bucket exposed customer records",
        "data_categories": ["user.contact.email"],
        "data_subject_categories": ["customer"],
        "approx_data_subjects": 1200,
        "approx_records": 5400,
        "subprocessors": list(subprocessors),
        "likely_consequences": "Phishing attempts against the data subjects",
        "measures": "Bucket closed, keys rotated, access logs under review",
        "contact_name": "DPO of 7plus.one",
        "contact_email": "dpo@7plus.one",
        **overrides,
    }
    return BreachDetails(**fields)


def read_inbox(h: Harness, *controller_ids: str) -> int:
    """Each controller acknowledges every notice in its inbox, through the API:
    the notices reached them, so their objection windows begin
    (docs/subprocessors.md). Returns how many were acknowledged."""
    done = 0
    for cid in controller_ids:
        client = _controller_client(h, cid)
        for n in list(client.list_notifications(unacknowledged_only=True)):
            client.acknowledge_notification(n.id)
            done += 1
    return done
