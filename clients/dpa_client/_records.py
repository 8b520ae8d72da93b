"""The Art. 30(2) record of processing activities."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import grpc

from dpa_client._base import BaseClient, new_request_id, translate
from dpa_client.errors import VerificationError
from dpa_client.types._convert import wire
from dpa_client.types.records import Contact, ProcessingRecord, ProcessorDetails
from dpa_registry_api.v1 import records_pb2 as pb
from dpa_registry_api.v1 import records_pb2_grpc as pb_grpc


def contact(
    name: str, email: str, *, phone: str = "", address: str = "", country: str = ""
) -> Contact:
    """A contact for ``update_processor_details`` (a DPO, a representative)."""
    return Contact(name=name, email=email, phone=phone, address=address, country=country)


class RecordsMixin(BaseClient):
    @property
    def _records(self) -> pb_grpc.RecordServiceStub:
        return pb_grpc.RecordServiceStub(self.channel)

    def processing_record(
        self, controller_id: str = "", *, revision: int = 0, format: str = "JSON"
    ) -> ProcessingRecord:
        """The record of one controller, or of the whole processor with ""
        (staff, auditors); ``format`` is JSON, CSV or HTML; ``revision`` 0
        means the current one."""
        request = pb.GetProcessingRecordRequest(
            controller=f"controllers/{controller_id}" if controller_id else "",
            revision=revision,
            format=wire(pb.RecordFormat, format),
        )
        return ProcessingRecord.from_proto(
            self._call(self._records.GetProcessingRecord, request, idempotent=True)
        )

    def processor_details(self) -> ProcessorDetails:
        """The processor's DPO and representative as the record shows them."""
        request = pb.GetProcessorDetailsRequest()
        return ProcessorDetails.from_proto(
            self._call(self._records.GetProcessorDetails, request, idempotent=True)
        )

    def update_processor_details(
        self,
        *,
        dpo: Contact | None = None,
        representative: Contact | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> ProcessorDetails:
        """Staff record the processor's DPO (Art. 37) and its representative in
        the Union (Art. 27; None when established in the Union); the whole
        replaces the last."""
        request = pb.UpdateProcessorDetailsRequest(
            details=pb.ProcessorDetails(
                dpo=dpo.to_proto() if dpo is not None else None,
                representative=representative.to_proto() if representative is not None else None,
                etag=etag,
            ),
            request_id=request_id or new_request_id(),
        )
        return ProcessorDetails.from_proto(
            self._call(self._records.UpdateProcessorDetails, request, idempotent=True)
        )

    def evidence_pack(
        self,
        controller_id: str = "",
        *,
        progress: Callable[[int, int], None] | None = None,
        timeout: float = 600.0,
    ) -> bytes:
        """The evidence pack (zip bytes) of one controller, or of the whole
        processor with "" (staff, auditors); ``progress(received, total)``
        after each chunk. Verify it with ``dpa_client.bundle.verify_bundle``."""
        request = pb.GetEvidencePackRequest(
            controller=f"controllers/{controller_id}" if controller_id else ""
        )
        received = bytearray()
        digest = ""
        try:
            for chunk in self._records.GetEvidencePack(
                request, timeout=timeout, metadata=self._metadata
            ):
                received += chunk.data
                digest = chunk.digest
                if progress is not None:
                    progress(len(received), chunk.total_size)
        except grpc.RpcError as err:
            raise translate(err) from None
        data = bytes(received)
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise VerificationError("the evidence pack arrived incomplete or altered")
        return data
