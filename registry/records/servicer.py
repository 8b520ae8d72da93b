"""gRPC servicer for RecordService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import grpc

from dpa_registry_api.v1 import records_pb2 as pb
from dpa_registry_api.v1 import records_pb2_grpc as pb_grpc
from registry import auth, names, wire
from registry.records import formats, gather, pack

CHUNK = 1 << 20


def _controller(name: str) -> str | None:
    return names.parse(name, "controllers", "controller") if name else None


class RecordService(pb_grpc.RecordServiceServicer):
    def GetProcessingRecord(
        self, request: pb.GetProcessingRecordRequest, context: grpc.ServicerContext
    ) -> pb.ProcessingRecord:
        controller_id = _controller(request.controller)
        chosen = wire.enum_name("format", request.format, pb.RecordFormat, "RECORD_FORMAT_")
        fmt = formats.Format.JSON if chosen == "UNSPECIFIED" else formats.Format[chosen]
        built = gather.build(auth.current_caller(), controller_id, request.revision)
        content = formats.render(built, fmt)
        return pb.ProcessingRecord(
            revision=built["revision"],
            media_type=fmt.media_type,
            content=content,
            digest="sha256:" + hashlib.sha256(content).hexdigest(),
        )

    def GetEvidencePack(
        self, request: pb.GetEvidencePackRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.EvidencePackChunk]:
        data, revision = pack.build(auth.current_caller(), _controller(request.controller))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        for start in range(0, len(data), CHUNK):
            yield pb.EvidencePackChunk(
                data=data[start : start + CHUNK],
                total_size=len(data),
                digest=digest,
                revision=revision,
            )
