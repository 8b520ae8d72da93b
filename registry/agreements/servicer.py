"""gRPC servicers for AgreementService and InstructionService: protobuf in,
domain calls, protobuf out."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import agreements_pb2 as pb
from dpa_registry_api.v1 import agreements_pb2_grpc as pb_grpc
from registry import auth, paging
from registry.agreements import ending, lifecycle
from registry.agreements.convert import (
    END_OF_CONTRACT_IN,
    mutate,
    peer_certificate,
    proposal_from,
    to_proto,
    trust_domain,
)
from registry.agreements.terms import agreement_name
from registry.agreements.types import EndOfContract
from registry.ledger import Mutation
from registry.tasks import closing


def _terminate(
    m: Mutation,
    controller_id: str,
    version: int | None,
    disposition: EndOfContract | None,
    request: pb.TerminateAgreementRequest,
) -> pb.Agreement:
    """Termination, and in the same step the return-or-deletion task that
    follows the controller's choice (Art. 28(3)(g); ``registry.tasks.closing``)."""
    row = ending.terminate(m, controller_id, version, disposition, request.reason, request.etag)
    closing.start_end_of_contract(m, controller_id)
    return to_proto(row)


class AgreementService(pb_grpc.AgreementServiceServicer):
    def RequestAgreement(
        self, request: pb.RequestAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id = lifecycle.parse_parent(request.parent)
        proposal = proposal_from(request.terms)
        return mutate(
            context,
            "RequestAgreement",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: to_proto(lifecycle.request(m, controller_id, proposal)),
        )

    def GetAgreement(
        self, request: pb.GetAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        return to_proto(lifecycle.get(auth.current_caller(), controller_id, version))

    def ListAgreements(
        self, request: pb.ListAgreementsRequest, context: grpc.ServicerContext
    ) -> pb.ListAgreementsResponse:
        controller_id = lifecycle.parse_parent(request.parent)
        scope = f"agreements:{controller_id}"
        page = paging.page(request.page_size, request.page_token, scope)
        rows = lifecycle.list_page(auth.current_caller(), controller_id, page)
        return pb.ListAgreementsResponse(
            agreements=[to_proto(r) for r in rows],
            next_page_token=page.next_token([lifecycle.page_key(r) for r in rows], scope),
        )

    def DraftAgreement(
        self, request: pb.DraftAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        override = proposal_from(request.terms)
        return mutate(
            context,
            "DraftAgreement",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: to_proto(lifecycle.draft(m, controller_id, version, request.etag, override)),
        )

    def SignAgreement(
        self, request: pb.SignAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        return mutate(
            context,
            "SignAgreement",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: to_proto(
                lifecycle.sign(m, controller_id, version, request.document_digest, request.etag)
            ),
        )

    def CountersignAgreement(
        self, request: pb.CountersignAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        caller = auth.current_caller()
        certificate = peer_certificate(context)
        return mutate(
            context,
            "CountersignAgreement",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: to_proto(
                lifecycle.countersign(
                    m,
                    controller_id,
                    version,
                    request.document_digest,
                    request.signature,
                    certificate,
                    trust_domain(caller),
                    request.etag,
                )
            ),
        )

    def TerminateAgreement(
        self, request: pb.TerminateAgreementRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        disposition = END_OF_CONTRACT_IN.get(request.disposition)
        return mutate(
            context,
            "TerminateAgreement",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: _terminate(m, controller_id, version, disposition, request),
        )

    def ConfirmDataDisposition(
        self, request: pb.ConfirmDataDispositionRequest, context: grpc.ServicerContext
    ) -> pb.Agreement:
        controller_id, version = lifecycle.parse_name(request.name)
        return mutate(
            context,
            "ConfirmDataDisposition",
            request,
            request.request_id,
            pb.Agreement,
            lambda m: to_proto(
                ending.confirm_disposition(m, controller_id, version, request.confirmation)
            ),
        )

    def RenderAgreement(
        self, request: pb.RenderAgreementRequest, context: grpc.ServicerContext
    ) -> pb.AgreementRendering:
        controller_id, version = lifecycle.parse_name(request.name)
        row, markdown = lifecycle.render(auth.current_caller(), controller_id, version)
        return pb.AgreementRendering(
            name=agreement_name(controller_id, row.version),
            media_type="text/markdown",
            content=markdown.encode(),
            document_digest=row.document_digest,
        )
