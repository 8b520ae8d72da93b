"""Data Processing Agreements, documented instructions and the processing check."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from dpa_client import documents
from dpa_client._base import BaseClient, consistency, new_request_id
from dpa_client._checks import ProcessingDecision
from dpa_registry_api.v1 import agreements_pb2 as pb
from dpa_registry_api.v1 import agreements_pb2_grpc as pb_grpc

Agreement = pb.Agreement
AgreementTerms = pb.AgreementTerms
Instruction = pb.Instruction

_MODES = {"SPECIFIC": pb.AUTHORIZATION_MODE_SPECIFIC, "GENERAL": pb.AUTHORIZATION_MODE_GENERAL}
_ENDS = {"RETURN": pb.END_OF_CONTRACT_RETURN, "DELETE": pb.END_OF_CONTRACT_DELETE}


def operation_value(name: str) -> pb.ProcessingOperation.ValueType:
    """``"STORE"`` -> ``PROCESSING_OPERATION_STORE``."""
    return pb.ProcessingOperation.Value(f"PROCESSING_OPERATION_{name.upper()}")


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
) -> pb.AgreementTerms:
    """Proposed DPA terms; anything left out takes the processor template's default.

    ``authorization_mode`` is ``"SPECIFIC"`` or ``"GENERAL"``; ``end_of_contract``
    ``"RETURN"`` or ``"DELETE"``; ``nature`` lists operations such as ``"STORE"``.
    """
    msg = pb.AgreementTerms(
        subject_matter=subject_matter,
        duration=duration,
        nature=[operation_value(n) for n in nature],
        purposes=list(purposes),
        data_categories=list(data_categories),
        data_subjects=list(data_subjects),
        measures=list(measures),
    )
    if retention_days is not None:
        msg.retention_days = retention_days
    if notice_days is not None:
        msg.notice_days = notice_days
    if objection_days is not None:
        msg.objection_days = objection_days
    if breach_notification_hours is not None:
        msg.breach_notification_hours = breach_notification_hours
    if dsr_assistance_days is not None:
        msg.dsr_assistance_days = dsr_assistance_days
    if authorization_mode is not None:
        msg.authorization_mode = _MODES[authorization_mode.upper()]
    if end_of_contract is not None:
        msg.end_of_contract = _ENDS[end_of_contract.upper()]
    return msg


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
        proposal: pb.AgreementTerms | None = None,
        *,
        request_id: str | None = None,
    ) -> pb.Agreement:
        """Requests a DPA (or an amendment: a new version). Safe to retry."""
        request = pb.RequestAgreementRequest(
            parent=f"controllers/{controller_id}",
            terms=proposal or pb.AgreementTerms(),
            request_id=request_id or new_request_id(),
        )
        result: pb.Agreement = self._call(
            self._agreements.RequestAgreement, request, idempotent=True
        )
        return result

    def get_agreement(self, controller_id: str, version: int | str = "-") -> pb.Agreement:
        """One version; ``"-"`` is the latest."""
        request = pb.GetAgreementRequest(name=agreement_name(controller_id, version))
        result: pb.Agreement = self._call(self._agreements.GetAgreement, request, idempotent=True)
        return result

    def list_agreements(
        self, controller_id: str, *, page_size: int = 100
    ) -> Iterator[pb.Agreement]:
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
            yield from page.agreements
            token = page.next_page_token
            if not token:
                return

    def draft_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        adjust: pb.AgreementTerms | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> pb.Agreement:
        """Staff: fixes the document from the template; ``adjust`` overrides terms."""
        request = pb.DraftAgreementRequest(
            name=agreement_name(controller_id, version),
            terms=adjust or pb.AgreementTerms(),
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        result: pb.Agreement = self._call(self._agreements.DraftAgreement, request, idempotent=True)
        return result

    def sign_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        document_digest: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> pb.Agreement:
        """Staff: the processor signs the drafted document's canonical bytes."""
        request = pb.SignAgreementRequest(
            name=agreement_name(controller_id, version),
            document_digest=document_digest,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        result: pb.Agreement = self._call(self._agreements.SignAgreement, request, idempotent=True)
        return result

    def countersign_agreement(
        self,
        controller_id: str,
        version: int | str = "-",
        *,
        key: str | Path | None = None,
        pinned_processor_keys: Sequence[str] = (),
        request_id: str | None = None,
    ) -> pb.Agreement:
        """Controller: countersigns with the key of this client's certificate.

        Downloads the version, checks the processor's signature first when
        ``pinned_processor_keys`` are given, signs the exact document bytes
        (ECDSA P-256/SHA-256) with ``key`` (default: the key this client
        connects with) and sends the signature; the registry verifies it
        against the certificate of this connection and keeps that certificate.
        """
        agreement = self.get_agreement(controller_id, version)
        if pinned_processor_keys:
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
        result: pb.Agreement = self._call(
            self._agreements.CountersignAgreement, request, idempotent=True
        )
        return result

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
    ) -> pb.Agreement:
        """Ends the ACTIVE DPA; ``disposition`` ``"RETURN"``/``"DELETE"`` (default: the DPA's)."""
        request = pb.TerminateAgreementRequest(
            name=agreement_name(controller_id, version),
            disposition=(
                _ENDS[disposition.upper()] if disposition else pb.END_OF_CONTRACT_UNSPECIFIED
            ),
            reason=reason,
            etag=etag,
            request_id=request_id or new_request_id(),
        )
        result: pb.Agreement = self._call(
            self._agreements.TerminateAgreement, request, idempotent=True
        )
        return result

    def confirm_data_disposition(
        self,
        controller_id: str,
        version: int | str,
        confirmation: str,
        *,
        request_id: str | None = None,
    ) -> pb.Agreement:
        """Staff: attaches the evidence that the data were returned or deleted."""
        request = pb.ConfirmDataDispositionRequest(
            name=agreement_name(controller_id, version),
            confirmation=confirmation,
            request_id=request_id or new_request_id(),
        )
        result: pb.Agreement = self._call(
            self._agreements.ConfirmDataDisposition, request, idempotent=True
        )
        return result

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
    ) -> pb.Instruction:
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
        result: pb.Instruction = self._call(
            self._instructions.IssueInstruction, request, idempotent=True
        )
        return result

    def get_instruction(self, controller_id: str, version: int | str = "-") -> pb.Instruction:
        """One version; ``"-"`` is the one in force."""
        request = pb.GetInstructionRequest(name=instruction_name(controller_id, version))
        result: pb.Instruction = self._call(
            self._instructions.GetInstruction, request, idempotent=True
        )
        return result

    def list_instructions(
        self, controller_id: str, *, page_size: int = 100
    ) -> Iterator[pb.Instruction]:
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
            yield from page.instructions
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
    ) -> pb.Instruction:
        """Staff: marks an instruction as possibly infringing the law (Art. 28(3)(h))."""
        request = pb.FlagInstructionRequest(
            name=instruction_name(controller_id, version),
            reason=reason,
            request_id=request_id or new_request_id(),
        )
        result: pb.Instruction = self._call(
            self._instructions.FlagInstruction, request, idempotent=True
        )
        return result

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
