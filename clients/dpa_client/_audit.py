"""Audit log reads and online verification of the caller's view."""

from __future__ import annotations

from collections.abc import Iterator

from dpa_client._base import BaseClient
from dpa_client._checks import DecisionReceipt
from dpa_client.audit import LogVerifier, Report, TruncatedLog, truncated
from dpa_client.errors import InvalidArgument, TamperedEntry
from dpa_client.transparency.note import Checkpoint
from dpa_client.types.audit import Entry, LogInfo, SignedCheckpoint
from dpa_registry_api.v1 import audit_pb2 as pb
from dpa_registry_api.v1 import audit_pb2_grpc as pb_grpc


class AuditMixin(BaseClient):
    @property
    def _audit(self) -> pb_grpc.AuditLogServiceStub:
        return pb_grpc.AuditLogServiceStub(self.channel)

    def log_info(self) -> LogInfo:
        return LogInfo.from_proto(
            self._call(self._audit.GetLogInfo, pb.GetLogInfoRequest(), idempotent=True)
        )

    def checkpoint(self) -> SignedCheckpoint:
        return SignedCheckpoint.from_proto(
            self._call(self._audit.GetCheckpoint, pb.GetCheckpointRequest(), idempotent=True)
        )

    def audit_entries(self, start_index: int = 0, *, page_size: int = 1000) -> Iterator[Entry]:
        """Every entry the caller may see, from ``start_index`` on."""
        index = start_index
        while True:
            page: pb.ListEntriesResponse = self._call(
                self._audit.ListEntries,
                pb.ListEntriesRequest(start_index=index, page_size=page_size),
                idempotent=True,
            )
            yield from (Entry.from_proto(e) for e in page.entries)
            if not page.entries or page.next_index <= index:
                return
            index = page.next_index

    def checkpoints(self) -> Iterator[SignedCheckpoint]:
        token = ""
        while True:
            page: pb.ListCheckpointsResponse = self._call(
                self._audit.ListCheckpoints,
                pb.ListCheckpointsRequest(page_size=1000, page_token=token),
                idempotent=True,
            )
            yield from (SignedCheckpoint.from_proto(c) for c in page.checkpoints)
            token = page.next_page_token
            if not token:
                return

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        result: pb.InclusionProof = self._call(
            self._audit.GetInclusionProof,
            pb.GetInclusionProofRequest(index=index, tree_size=tree_size),
            idempotent=True,
        )
        return list(result.hashes)

    def decision_receipt(self, revision: int) -> DecisionReceipt:
        """A receipt binding a decision at ``revision`` to the signed log:
        the newest signed checkpoint and the consistency proof from the tree
        of size ``revision`` to it (``dpa_client.verify_receipt``)."""
        signed = self.checkpoint()
        proof = self.consistency_proof(revision, signed.size) if 0 < revision < signed.size else []
        return DecisionReceipt(revision, signed.note, tuple(proof))

    def consistency_proof(self, first_size: int, second_size: int) -> list[bytes]:
        result: pb.ConsistencyProof = self._call(
            self._audit.GetConsistencyProof,
            pb.GetConsistencyProofRequest(first_size=first_size, second_size=second_size),
            idempotent=True,
        )
        return list(result.hashes)

    def verify_log(
        self,
        verifier: LogVerifier,
        *,
        start_index: int = 0,
        complete: bool = False,
        note: str | None = None,
    ) -> Report:
        """Verifies the caller's view: checkpoint signature, consistency with the
        trusted state, then every visible entry's inclusion. ``complete`` (for
        auditors and staff, who see every entry) also requires every index up
        to the checkpoint's size to be present. A server that cannot prove a
        tree it signed (its log was cut back) fails with ``TruncatedLog``."""
        note = self.checkpoint().note
        new = verifier.open(note)
        old = verifier.trusted()
        proof: list[bytes] = []
        if old is not None and 0 < old.size < new.size:
            try:
                proof = self.consistency_proof(old.size, new.size)
            except InvalidArgument as err:
                raise self._truncated(new, err) from err
        checkpoint = verifier.advance(note, proof)
        report = Report(checkpoint, checkpoints_verified=1)
        entries = [e for e in self.audit_entries(start_index) if e.index < checkpoint.size]
        if complete:
            for expected, entry in enumerate(entries, start=start_index):
                if entry.index != expected:
                    raise TamperedEntry(f"entry {expected} is missing from the log", expected)
            end = start_index + len(entries)
            if end < checkpoint.size:
                raise truncated(checkpoint, end)
        for entry in entries:
            try:
                proof = self.inclusion_proof(entry.index, checkpoint.size)
            except InvalidArgument as err:
                raise self._truncated(checkpoint, err) from err
            verifier.verify_entry(entry.index, entry.body, checkpoint, proof)
            report.entries_verified += 1
        return report

    def _truncated(self, checkpoint: Checkpoint, err: InvalidArgument) -> TruncatedLog:
        """The server cannot prove a tree it signed: it no longer holds it."""
        return truncated(checkpoint, self.log_info().size, f"the server says: {err.message}")
