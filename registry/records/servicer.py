"""gRPC servicer for RecordService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import hashlib

import grpc

from dpa.registry.v1 import records_pb2 as pb
from dpa.registry.v1 import records_pb2_grpc as pb_grpc
from registry import auth, names, wire
from registry.records import formats, gather


class RecordService(pb_grpc.RecordServiceServicer):
    def GetProcessingRecord(
        self, request: pb.GetProcessingRecordRequest, context: grpc.ServicerContext
    ) -> pb.ProcessingRecord:
        controller_id = (
            names.parse(request.controller, "controllers", "controller")
            if request.controller
            else None
        )
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
