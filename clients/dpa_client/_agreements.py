"""Data Processing Agreements, documented instructions and the processing check."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from dpa_client import documents
from dpa_client._base import BaseClient, consistency, new_request_id
from dpa_client._checks import ProcessingDecision
from dpa_client.errors import BadSignature
from dpa_client.types._convert import wire
from dpa_client.types.agreements import (
    Agreement,
    AgreementTerms,
    AuthorizationMode,
    EndOfContract,
    Instruction,
    ProcessingOperation,
)
from dpa_registry_api.v1 import agreements_pb2 as pb
from dpa_registry_api.v1 import agreements_pb2_grpc as pb_grpc


def operation_value(name: str) -> pb.ProcessingOperation.ValueType:
    """``"STORE"`` -> ``PROCESSING_OPERATION_STORE``."""
    return wire(pb.ProcessingOperation, name)


def agreement_name(controller_id: str, version: int | str = "-") -> str:
    return f"controllers/{controller_id}/agreements/{version}"


def instruction_name(controller_id: str, version: int | str = "-") -> str:
    return f"controllers/{controller_id}/instructions/{version}"


def terms(
    *,
    subject_matter: str = "",
    duration: str = "",
    nature: Sequence[str] = (),
    purposes: Sequence[str] = (),
    data_categories: Sequence[str] = (),
    data_subjects: Sequence[str] = (),
    retention_days: int | None = None,
    authorization_mode: str | None = None,
    notice_days: int | None = None,
    objection_days: int | None = None,
    breach_notification_hours: int | None = None,
    end_of_contract: str | None = None,
    measures: Sequence[str] = (),
    dsr_assistance_days: int | None = None,
) -> AgreementTerms:
    """Proposed DPA terms; anything left out takes the processor template's default.

    ``authorization_mode`` is ``"SPECIFIC"`` or ``"GENERAL"`` (or an
    :class:`AuthorizationMode`); ``end_of_contract`` ``"RETURN"`` or
    ``"DELETE"``; ``nature`` lists operations such as ``"STORE"``.
    """
    return AgreementTerms(
        subject_matter=subject_matter,
        duration=duration,
        nature=tuple(ProcessingOperation(n.upper()) for n in nature),
        purposes=tuple(purposes),
        data_categories=tuple(data_categories),
        data_subjects=tuple(data_subjects),
        retention_days=retention_days,
        authorization_mode=AuthorizationMode((authorization_mode or "UNSPECIFIED").upper()),
        notice_days=notice_days,
        objection_days=objection_days,
        breach_notification_hours=breach_notification_hours,
        end_of_contract=EndOfContract((end_of_contract or "UNSPECIFIED").upper()),
        measures=tuple(measures),
        dsr_assistance_days=dsr_assistance_days,
    )


def _terms(proposal: AgreementTerms | None) -> pb.AgreementTerms:
    return proposal.to_proto() if proposal is not None else pb.AgreementTerms()


class AgreementsMixin(BaseClient):
    @property
    def _agreements(self) -> pb_grpc.AgreementServiceStub:
        return pb_grpc.AgreementServiceStub(self.channel)

    @property
    def _instructions(self) -> pb_grpc.InstructionServiceStub:
        return pb_grpc.InstructionServiceStub(self.channel)

    # -- DPA lifecycle -----------------------------------------------------

    def request_agreement(
        self,
        controller_id: str,
        proposal: AgreementTerms | None = None,
        *,
        request_id: str | None = None,
    ) -> Agreement:
        """Requests a DPA (or an amendment: a new version). Safe to retry."""
        request = pb.RequestAgreementRequest(
            parent=f"controllers/{controller_id}",
            terms=_terms(proposal),
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.RequestAgreement, request, idempotent=True)
        )

    def get_agreement(self, controller_id: str, version: int | str = "-") -> Agreement:
        """One version; ``"-"`` is the latest."""
        request = pb.GetAgreementRequest(name=agreement_name(controller_id, version))
        return Agreement.from_proto(
            self._call(self._agreements.GetAgreement, request, idempotent=True)
        )

    def list_agreements(self, controller_id: str, *, page_size: int = 100) -> Iterator[Agreement]:
        """Every version, newest first."""
        token = ""
        while True:
            page: pb.ListAgreementsResponse = self._call(
                self._agreements.ListAgreements,
                pb.ListAgreementsRequest(
                    parent=f"controllers/{controller_id}", page_size=page_size, page_token=token
                ),
                idempotent=True,
            )
            yield from (Agreement.from_proto(a) for a in page.agreements)
            token = page.next_page_token
            if not token:
                return

    def draft_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        adjust: AgreementTerms | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> Agreement:
        """Staff: fixes the document from the template; ``adjust`` overrides terms."""
        request = pb.DraftAgreementRequest(
            name=agreement_name(controller_id, version),
            terms=_terms(adjust),
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.DraftAgreement, request, idempotent=True)
        )

    def sign_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        document_digest: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> Agreement:
        """Staff: the processor signs the drafted document's canonical bytes."""
        request = pb.SignAgreementRequest(
            name=agreement_name(controller_id, version),
            document_digest=document_digest,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.SignAgreement, request, idempotent=True)
        )

    def countersign_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        key: str | Path | None = None,
        pinned_processor_keys: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Agreement:
        """Controller: countersigns with the key of this client's certificate.

        Downloads the version, checks the processor's signature first when
        ``pinned_processor_keys`` are given, signs the exact document bytes
        (ECDSA P-256/SHA-256) with ``key`` (default: the key this client
        connects with) and sends the signature; the registry verifies it
        against the certificate of this connection and keeps that certificate.
        """
        agreement = self.get_agreement(controller_id, version)
        if pinned_processor_keys:
            if agreement.processor_signature is None:
                raise BadSignature(f"{agreement.name} is not signed by the processor")
            documents.verify_processor_signature(
                agreement.document,
                agreement.processor_signature.signature,
                agreement.processor_signature.key,
                pinned_processor_keys,
            )
        key_path = Path(key) if key is not None else self.key_path
        if key_path is None:
            raise ValueError("countersigning needs the client's private key (key=...)")
        signature = documents.sign_document(agreement.document, key_path.read_bytes())
        request = pb.CountersignAgreementRequest(
            name=agreement.name,
            document_digest=agreement.document_digest,
            signature=signature,
            etag=agreement.etag,
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.CountersignAgreement, request, idempotent=True)
        )

    def verify_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        pinned_processor_keys: Sequence[str],
        ca: str | Path,
    ) -> documents.VerifiedAgreement:
        """Downloads a version and verifies both signatures offline
        (:func:`dpa_client.documents.verify_downloaded`)."""
        agreement = self.get_agreement(controller_id, version)
        return documents.verify_downloaded(
            agreement,
            pinned_processor_keys=pinned_processor_keys,
            ca_pem=Path(ca).read_bytes(),
            controller_id=controller_id,
        )

    def terminate_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        disposition: str | None = None,
        reason: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> Agreement:
        """Ends the ACTIVE DPA; ``disposition`` ``"RETURN"``/``"DELETE"`` (default: the DPA's)."""
        request = pb.TerminateAgreementRequest(
            name=agreement_name(controller_id, version),
            disposition=wire(pb.EndOfContract, disposition or "UNSPECIFIED"),
            reason=reason,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.TerminateAgreement, request, idempotent=True)
        )

    def confirm_data_disposition(
        self,
        controller_id: str,
        version: int | str,
        confirmation: str,
        *,
        request_id: str | None = None,
    ) -> Agreement:
        """Staff: attaches the evidence that the data were returned or deleted."""
        request = pb.ConfirmDataDispositionRequest(
            name=agreement_name(controller_id, version),
            confirmation=confirmation,
            request_id=request_id or new_request_id(),
        )
        return Agreement.from_proto(
            self._call(self._agreements.ConfirmDataDisposition, request, idempotent=True)
        )

    def render_agreement(self, controller_id: str, version: int | str = "-") -> str:
        """The Markdown rendering of a drafted version."""
        request = pb.RenderAgreementRequest(name=agreement_name(controller_id, version))
        result: pb.AgreementRendering = self._call(
            self._agreements.RenderAgreement, request, idempotent=True
        )
        return result.content.decode()

    # -- Documented instructions -------------------------------------------

    def issue_instruction(
        self,
        controller_id: str,
        *,
        purposes: Sequence[str],
        data_categories: Sequence[str],
        data_subjects: Sequence[str],
        operations: Sequence[str],
        countries: Sequence[str],
        retention_days: int,
        note: str = "",
        request_id: str | None = None,
    ) -> Instruction:
        """Controller: a new version of its documented instructions (Art. 28(3)(a))."""
        request = pb.IssueInstructionRequest(
            parent=f"controllers/{controller_id}",
            instruction=pb.Instruction(
                purposes=list(purposes),
                data_categories=list(data_categories),
                data_subjects=list(data_subjects),
                operations=[operation_value(o) for o in operations],
                countries=list(countries),
                retention_days=retention_days,
                note=note,
            ),
            request_id=request_id or new_request_id(),
        )
        return Instruction.from_proto(
            self._call(self._instructions.IssueInstruction, request, idempotent=True)
        )

    def get_instruction(self, controller_id: str, version: int | str = "-") -> Instruction:
        """One version; ``"-"`` is the one in force."""
        request = pb.GetInstructionRequest(name=instruction_name(controller_id, version))
        return Instruction.from_proto(
            self._call(self._instructions.GetInstruction, request, idempotent=True)
        )

    def list_instructions(
        self, controller_id: str, *, page_size: int = 100
    ) -> Iterator[Instruction]:
        """Every version, newest first."""
        token = ""
        while True:
            page: pb.ListInstructionsResponse = self._call(
                self._instructions.ListInstructions,
                pb.ListInstructionsRequest(
                    parent=f"controllers/{controller_id}", page_size=page_size, page_token=token
                ),
                idempotent=True,
            )
            yield from (Instruction.from_proto(i) for i in page.instructions)
            token = page.next_page_token
            if not token:
                return

    def flag_instruction(
        self,
        controller_id: str,
        version: int | str,
        reason: str,
        *,
        request_id: str | None = None,
    ) -> Instruction:
        """Staff: marks an instruction as possibly infringing the law (Art. 28(3)(h))."""
        request = pb.FlagInstructionRequest(
            name=instruction_name(controller_id, version),
            reason=reason,
            request_id=request_id or new_request_id(),
        )
        return Instruction.from_proto(
            self._call(self._instructions.FlagInstruction, request, idempotent=True)
        )

    def check_processing(
        self,
        controller_id: str,
        *,
        purpose: str,
        data_categories: Sequence[str],
        operation: str,
        country: str = "",
        data_subjects: Sequence[str] = (),
        at_least_revision: int | None = None,
        minimize_latency: bool = False,
    ) -> ProcessingDecision:
        """Internal services: may this processing go ahead? Every reason is
        listed. Consistency as in ``check_transfer``."""
        request = pb.CheckProcessingRequest(
            controller=f"controllers/{controller_id}",
            purpose=purpose,
            data_categories=list(data_categories),
            operation=operation_value(operation),
            country=country,
            data_subjects=list(data_subjects),
            consistency=consistency(at_least_revision, minimize_latency),
        )
        result: pb.ProcessingDecision = self._call(
            self._instructions.CheckProcessing, request, idempotent=True
        )
        return ProcessingDecision.from_proto(result)
