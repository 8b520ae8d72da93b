"""gRPC servicer for InstructionService: documented instructions (Art.
28(3)(a)) and CheckProcessing; it only translates."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import agreements_pb2 as pb
from dpa_registry_api.v1 import agreements_pb2_grpc as pb_grpc
from registry import auth, consistency, paging
from registry.agreements import check, instructions, lifecycle
from registry.agreements.convert import (
    OPERATION_IN,
    decision_to_proto,
    instruction_to_proto,
    mutate,
    operations,
)
from registry.agreements.decision import ProcessingRequest
from registry.ledger import Mutation


class InstructionService(pb_grpc.InstructionServiceServicer):
    def IssueInstruction(
        self, request: pb.IssueInstructionRequest, context: grpc.ServicerContext
    ) -> pb.Instruction:
        controller_id = lifecycle.parse_parent(request.parent)
        msg = request.instruction
        content = instructions.Content(
            purposes=tuple(msg.purposes),
            data_categories=tuple(msg.data_categories),
            data_subjects=tuple(msg.data_subjects),
            operations=operations(msg.operations, "instruction.operations"),
            countries=tuple(msg.countries),
            retention_days=msg.retention_days,
            note=msg.note,
        )

        def apply(m: Mutation) -> pb.Instruction:
            row = instructions.issue(m, controller_id, content)
            return instruction_to_proto(row, row.version)

        return mutate(
            context, "IssueInstruction", request, request.request_id, pb.Instruction, apply
        )

    def GetInstruction(
        self, request: pb.GetInstructionRequest, context: grpc.ServicerContext
    ) -> pb.Instruction:
        controller_id, version = instructions.parse_name(request.name)
        row = instructions.get(auth.current_caller(), controller_id, version)
        return instruction_to_proto(row, instructions.current_version(controller_id))

    def ListInstructions(
        self, request: pb.ListInstructionsRequest, context: grpc.ServicerContext
    ) -> pb.ListInstructionsResponse:
        controller_id = lifecycle.parse_parent(request.parent)
        scope = f"instructions:{controller_id}"
        page = paging.page(request.page_size, request.page_token, scope)
        rows = instructions.list_page(auth.current_caller(), controller_id, page)
        current = instructions.current_version(controller_id)
        return pb.ListInstructionsResponse(
            instructions=[instruction_to_proto(r, current) for r in rows],
            next_page_token=page.next_token([str(r.version) for r in rows], scope),
        )

    def FlagInstruction(
        self, request: pb.FlagInstructionRequest, context: grpc.ServicerContext
    ) -> pb.Instruction:
        controller_id, version = instructions.parse_name(request.name)

        def apply(m: Mutation) -> pb.Instruction:
            row = instructions.flag(m, controller_id, version, request.reason)
            return instruction_to_proto(row, instructions.current_version(controller_id))

        return mutate(
            context, "FlagInstruction", request, request.request_id, pb.Instruction, apply
        )

    def CheckProcessing(
        self, request: pb.CheckProcessingRequest, context: grpc.ServicerContext
    ) -> pb.ProcessingDecision:
        controller_id = check.controller_of(request.controller)
        operation = OPERATION_IN.get(request.operation)
        categories = tuple(request.data_categories)
        subjects = tuple(request.data_subjects)
        country = request.country or None
        check.validate_request(request.purpose, categories, operation, country, subjects)
        assert operation is not None  # validate_request refused it otherwise
        wanted = request.consistency
        requirement = consistency.from_wire(wanted.mode, wanted.at_least_revision)
        decision = check.check(
            ProcessingRequest(
                controller_id=controller_id,
                purpose=request.purpose,
                data_categories=categories,
                operation=operation,
                country=country,
                data_subjects=subjects,
            ),
            requirement,
        )
        return decision_to_proto(controller_id, decision)
