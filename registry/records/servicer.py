"""gRPC servicer for RecordService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import grpc

from dpa_registry_api.v1 import records_pb2 as pb
from dpa_registry_api.v1 import records_pb2_grpc as pb_grpc
from registry import auth, names, rpc, wire
from registry.records import formats, gather, pack, processor

CHUNK = 1 << 20


def _controller(name: str) -> str | None:
    return names.parse(name, "controllers", "controller") if name else None


def _contact(msg: pb.Contact) -> processor.Contact:
    return processor.Contact(msg.name, msg.email, msg.phone, msg.address, msg.country)


def _contact_pb(c: processor.Contact | None) -> pb.Contact | None:
    if c is None:
        return None
    return pb.Contact(
        name=c.name, email=c.email, phone=c.phone, address=c.address, country=c.country
    )


def _details_pb(r: processor.Recorded) -> pb.ProcessorDetails:
    return pb.ProcessorDetails(
        name=processor.RESOURCE,
        dpo=_contact_pb(r.details.dpo),
        representative=_contact_pb(r.details.representative),
        etag=r.etag,
        update_time=wire.timestamp_of(r.update_time),
    )


class RecordService(pb_grpc.RecordServiceServicer):
    def GetProcessorDetails(
        self, request: pb.GetProcessorDetailsRequest, context: grpc.ServicerContext
    ) -> pb.ProcessorDetails:
        return _details_pb(processor.get())

    def UpdateProcessorDetails(
        self, request: pb.UpdateProcessorDetailsRequest, context: grpc.ServicerContext
    ) -> pb.ProcessorDetails:
        d = request.details
        details = processor.Details(
            dpo=_contact(d.dpo) if d.HasField("dpo") else None,
            representative=_contact(d.representative) if d.HasField("representative") else None,
        )
        return rpc.mutate(
            context,
            auth.current_caller(),
            "UpdateProcessorDetails",
            request.request_id,
            request,
            pb.ProcessorDetails,
            lambda m: _details_pb(processor.update(m, details, d.etag)),
        )

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
