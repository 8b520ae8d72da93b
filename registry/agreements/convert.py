"""Translation between the DPA domain's values and its protobuf messages (the
edge: servicers call these and nothing else converts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import grpc
from google.protobuf.message import Message

from dpa_registry_api.v1 import agreements_pb2 as pb
from registry import auth, rpc, wire
from registry.agreements import instructions, template
from registry.agreements.decision import Decision, Outcome
from registry.agreements.terms import agreement_name
from registry.agreements.types import AgreementState, AuthorizationMode, EndOfContract, Operation
from registry.agreements.values import Agreement, Instruction
from registry.errors import InvalidArgument
from registry.ledger import Mutation

M = TypeVar("M", bound=Message)

_STATE = {s: getattr(pb, f"AGREEMENT_STATE_{s.value}") for s in AgreementState}
_MODE = {
    AuthorizationMode.SPECIFIC: pb.AUTHORIZATION_MODE_SPECIFIC,
    AuthorizationMode.GENERAL: pb.AUTHORIZATION_MODE_GENERAL,
}
_MODE_IN = {v: k for k, v in _MODE.items()}
_END = {e: getattr(pb, f"END_OF_CONTRACT_{e.value}") for e in EndOfContract}
END_OF_CONTRACT_IN = {v: k for k, v in _END.items()}
_OP = {o: getattr(pb, f"PROCESSING_OPERATION_{o.value}") for o in Operation}
OPERATION_IN = {v: k for k, v in _OP.items()}


_ts = wire.timestamp_of


def operations(values: list[int] | object, field: str) -> tuple[Operation, ...]:
    result: list[Operation] = []
    for i, value in enumerate(cast("list[int]", values)):
        op = OPERATION_IN.get(value)
        if op is None:
            raise InvalidArgument.one(f"{field}[{i}]", "must be a processing operation")
        result.append(op)
    return tuple(result)


def proposal_from(msg: pb.AgreementTerms) -> template.Proposal:
    return template.Proposal(
        subject_matter=msg.subject_matter,
        duration=msg.duration,
        nature=operations(msg.nature, "terms.nature"),
        purposes=tuple(msg.purposes),
        data_categories=tuple(msg.data_categories),
        data_subjects=tuple(msg.data_subjects),
        retention_days=msg.retention_days if msg.HasField("retention_days") else None,
        authorization_mode=_MODE_IN.get(msg.authorization_mode),
        notice_days=msg.notice_days if msg.HasField("notice_days") else None,
        objection_days=msg.objection_days if msg.HasField("objection_days") else None,
        breach_notification_hours=(
            msg.breach_notification_hours if msg.HasField("breach_notification_hours") else None
        ),
        end_of_contract=END_OF_CONTRACT_IN.get(msg.end_of_contract),
        measures=tuple(msg.measures),
        dsr_assistance_days=(
            msg.dsr_assistance_days if msg.HasField("dsr_assistance_days") else None
        ),
    )


def _terms(t: template.Terms) -> pb.AgreementTerms:
    return pb.AgreementTerms(
        subject_matter=t.subject_matter,
        duration=t.duration,
        nature=[_OP[o] for o in t.nature],
        purposes=list(t.purposes),
        data_categories=list(t.data_categories),
        data_subjects=list(t.data_subjects),
        retention_days=t.retention_days,
        authorization_mode=_MODE[t.authorization_mode],
        notice_days=t.notice_days,
        objection_days=t.objection_days,
        breach_notification_hours=t.breach_notification_hours,
        end_of_contract=_END[t.end_of_contract],
        measures=list(t.measures),
        dsr_assistance_days=t.dsr_assistance_days,
    )


def to_proto(a: Agreement) -> pb.Agreement:
    msg = pb.Agreement(
        name=agreement_name(a.controller_id, a.version),
        controller_id=a.controller_id,
        version=a.version,
        state=_STATE[a.state],
        terms=_terms(a.terms),
        document=a.document or b"",
        document_digest=a.document_digest,
        requested_by=a.requested_by,
        create_time=_ts(a.create_time),
        update_time=_ts(a.update_time),
        etag=a.etag,
        template=a.template_ref,
    )
    if (ps := a.processor_signature) is not None:
        msg.processor_signature.CopyFrom(
            pb.ProcessorSignature(
                signature=ps.signature,
                key=ps.key,
                signed_by=ps.signed_by,
                sign_time=_ts(ps.sign_time),
            )
        )
    if (cs := a.controller_signature) is not None:
        msg.controller_signature.CopyFrom(
            pb.ControllerSignature(
                signature=cs.signature,
                certificate=cs.certificate,
                signed_by=cs.signed_by,
                sign_time=_ts(cs.sign_time),
            )
        )
    if (t := a.termination) is not None:
        msg.termination.CopyFrom(
            pb.Termination(
                terminated_by=t.terminated_by,
                terminate_time=_ts(t.terminate_time),
                reason=t.reason,
                disposition=_END[t.disposition],
                confirmation=t.confirmation,
                confirmed_by=t.confirmed_by,
                confirm_time=_ts(t.confirm_time),
            )
        )
    return msg


def instruction_to_proto(row: Instruction, current: int | None) -> pb.Instruction:
    content = instructions.content_of(row)
    return pb.Instruction(
        name=instructions.instruction_name(row.controller_id, row.version),
        controller_id=row.controller_id,
        version=row.version,
        agreement=agreement_name(row.controller_id, row.agreement_version),
        purposes=list(content.purposes),
        data_categories=list(content.data_categories),
        data_subjects=list(content.data_subjects),
        operations=[_OP[o] for o in content.operations],
        countries=list(content.countries),
        retention_days=content.retention_days,
        note=content.note,
        issued_by=row.issued_by,
        issue_time=_ts(row.issue_time),
        flag=pb.InstructionFlag(
            flagged=row.flagged,
            reason=row.flag_reason,
            flagged_by=row.flagged_by,
            flag_time=_ts(row.flag_time),
        ),
        current=row.version == current,
    )


def decision_to_proto(controller_id: str, d: Decision) -> pb.ProcessingDecision:
    return pb.ProcessingDecision(
        outcome=pb.PROCESSING_OUTCOME_ALLOWED
        if d.outcome is Outcome.ALLOWED
        else pb.PROCESSING_OUTCOME_DENIED,
        reasons=[
            pb.ProcessingReason(
                rule=r.rule.value,
                satisfied=r.satisfied,
                message=r.message,
                agreement_version=r.agreement_version or 0,
                instruction_version=r.instruction_version or 0,
                subject=r.subject,
            )
            for r in d.reasons
        ],
        revision=d.revision,
        agreement=agreement_name(controller_id, d.agreement_version) if d.agreement_version else "",
        instruction=instructions.instruction_name(controller_id, d.instruction_version)
        if d.instruction_version
        else "",
    )


def mutate(
    context: grpc.ServicerContext,
    method: str,
    request: Message,
    request_id: str,
    response_type: type[M],
    apply: Callable[[Mutation], M],
) -> M:
    return rpc.mutate(
        context, auth.current_caller(), method, request_id, request, response_type, apply
    )


def peer_certificate(context: grpc.ServicerContext) -> bytes:
    # grpc's stub says Mapping[str, bytes]; each value is really a list.
    certs = cast("list[bytes]", context.auth_context().get("x509_pem_cert") or [])
    return certs[0] if len(certs) == 1 else b""


def trust_domain(caller: auth.Caller) -> str:
    return caller.spiffe_id.split("/")[2]
