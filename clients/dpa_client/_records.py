"""The Art. 30(2) record of processing activities."""

from __future__ import annotations

from dpa.registry.v1 import records_pb2 as pb
from dpa.registry.v1 import records_pb2_grpc as pb_grpc
from dpa_client._base import BaseClient

ProcessingRecord = pb.ProcessingRecord


class RecordsMixin(BaseClient):
    @property
    def _records(self) -> pb_grpc.RecordServiceStub:
        return pb_grpc.RecordServiceStub(self.channel)

    def processing_record(
        self, controller_id: str = "", *, revision: int = 0, format: str = "JSON"
    ) -> pb.ProcessingRecord:
        """The record of one controller, or of the whole processor with ""
        (staff, auditors); ``format`` is JSON, CSV or HTML; ``revision`` 0
        means the current one."""
        request = pb.GetProcessingRecordRequest(
            controller=f"controllers/{controller_id}" if controller_id else "",
            revision=revision,
            format=pb.RecordFormat.Value(f"RECORD_FORMAT_{format}"),
        )
        result: pb.ProcessingRecord = self._call(
            self._records.GetProcessingRecord, request, idempotent=True
        )
        return result
