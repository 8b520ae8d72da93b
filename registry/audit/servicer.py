"""gRPC servicer for AuditLogService."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from dpa_registry_api.v1 import audit_pb2 as pb
from dpa_registry_api.v1 import audit_pb2_grpc as pb_grpc
from registry import auth, keys, paging, rpc, visibility
from registry.audit import log, store, witnesses


def _signed(s: log.Signed) -> pb.SignedCheckpoint:
    cp = s.checkpoint
    cosigned = witnesses.cosignatures(cp.size)
    return pb.SignedCheckpoint(
        note=s.note,
        origin=cp.origin,
        size=cp.size,
        root_hash=cp.root_hash,
        cosignatures=[
            pb.Cosignature(witness=c.name, line=c.line, timestamp=c.timestamp)
            for c in cosigned.lines
        ],
        cosigned_note=cosigned.append_to(s.note),
    )


def _witness(w: witnesses.Witness) -> pb.WitnessKey:
    ts = Timestamp()
    ts.FromDatetime(w.registered_at)
    return pb.WitnessKey(name=w.name, vkey=w.vkey, register_time=ts)


class AuditLogService(pb_grpc.AuditLogServiceServicer):
    def GetLogInfo(
        self, request: pb.GetLogInfoRequest, context: grpc.ServicerContext
    ) -> pb.LogInfo:
        info = pb.LogInfo(origin=keys.active().name, size=store.size())
        for row in log.log_keys():
            ts = Timestamp()
            ts.FromDatetime(row.activate_time)
            info.keys.add(vkey=row.vkey, activated_index=row.activated_index, activate_time=ts)
        return info

    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.SignedCheckpoint:
        return _signed(log.latest_checkpoint())

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        page = paging.page(request.page_size, request.page_token, "checkpoints")
        after = int(page.after) if page.after is not None else -1
        items = log.list_checkpoints(after, page.size)
        return pb.ListCheckpointsResponse(
            checkpoints=[_signed(s) for s in items],
            next_page_token=page.next_token([str(s.checkpoint.size) for s in items], "checkpoints"),
        )

    def ListEntries(
        self, request: pb.ListEntriesRequest, context: grpc.ServicerContext
    ) -> pb.ListEntriesResponse:
        limit = paging.page(request.page_size or 100, "", "entries").size
        rows, next_index = log.list_entries(
            auth.current_caller(), request.start_index, limit, visibility.visible_resources
        )
        return pb.ListEntriesResponse(
            entries=[pb.Entry(index=i, body=body) for i, body in rows], next_index=next_index
        )

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.InclusionProof:
        hashes = log.inclusion_proof(
            auth.current_caller(), request.index, request.tree_size, visibility.visible_resources
        )
        return pb.InclusionProof(index=request.index, tree_size=request.tree_size, hashes=hashes)

    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.ConsistencyProof:
        hashes = log.consistency_proof(request.first_size, request.second_size)
        return pb.ConsistencyProof(
            first_size=request.first_size, second_size=request.second_size, hashes=hashes
        )

    def RegisterWitness(
        self, request: pb.RegisterWitnessRequest, context: grpc.ServicerContext
    ) -> pb.WitnessKey:
        return rpc.mutate(
            context,
            auth.current_caller(),
            "RegisterWitness",
            request.request_id,
            request,
            pb.WitnessKey,
            lambda m: _witness(witnesses.register(m, request.vkey)),
        )

    def ListWitnesses(
        self, request: pb.ListWitnessesRequest, context: grpc.ServicerContext
    ) -> pb.ListWitnessesResponse:
        return pb.ListWitnessesResponse(witnesses=[_witness(w) for w in witnesses.list_witnesses()])

    def AddCheckpoint(
        self, request: pb.AddCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.SignedCheckpoint:
        size = witnesses.add_checkpoint(
            request.old_size, list(request.consistency_proof), request.checkpoint
        )
        signed = witnesses.checkpoint_at(size)
        assert signed is not None  # add_checkpoint found it
        return _signed(signed)
