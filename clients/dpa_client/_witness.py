"""Witness keys, cosigning the registry's checkpoints, and witnessed verification."""

from __future__ import annotations

from dataclasses import dataclass

from dpa_client._audit import AuditMixin
from dpa_client._base import new_request_id
from dpa_client.audit import LogVerifier, Report
from dpa_client.errors import DpaError, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.cosignature import split_note
from dpa_client.transparency.note import Checkpoint
from dpa_client.types.audit import SignedCheckpoint, WitnessKey
from dpa_client.witness import (
    AddCheckpoint,
    ConflictingCheckpoint,
    OldSizeMismatch,
    Witness,
    WitnessPolicy,
)
from dpa_registry_api.v1 import audit_pb2 as pb


@dataclass(frozen=True)
class WitnessRun:
    """What one witness round did: the checkpoint, and whether it was cosigned."""

    checkpoint: Checkpoint
    cosigned: bool
    cosigners: tuple[str, ...]


class WitnessMixin(AuditMixin):
    def register_witness(self, vkey: str, *, request_id: str | None = None) -> WitnessKey:
        """Staff: registers a witness's cosignature/v1 verifier key (audited)."""
        return WitnessKey.from_proto(
            self._call(
                self._audit.RegisterWitness,
                pb.RegisterWitnessRequest(vkey=vkey, request_id=request_id or new_request_id()),
                idempotent=True,
            )
        )

    def list_witnesses(self) -> list[WitnessKey]:
        result: pb.ListWitnessesResponse = self._call(
            self._audit.ListWitnesses, pb.ListWitnessesRequest(), idempotent=True
        )
        return [WitnessKey.from_proto(w) for w in result.witnesses]

    def add_checkpoint(
        self, old_size: int, proof: list[bytes], cosigned_note: str
    ) -> SignedCheckpoint:
        """Hands the log a checkpoint carrying this witness's cosignature."""
        return SignedCheckpoint.from_proto(
            self._call(
                self._audit.AddCheckpoint,
                pb.AddCheckpointRequest(
                    old_size=old_size, consistency_proof=proof, checkpoint=cosigned_note
                ),
                idempotent=True,
            )
        )

    def witness_once(self, witness: Witness) -> WitnessRun:
        """One round: fetch the newest checkpoint and a consistency proof from the
        witness's last cosigned size, cosign it if consistent, hand the cosignature
        to the log. Raises ConflictingCheckpoint (both notes) on a split view."""
        for _ in range(3):
            signed = self.checkpoint()
            new = Checkpoint(signed.origin, signed.size, signed.root_hash)
            state = witness.state(signed.origin)
            old_size = state.size if state is not None else 0
            if state is not None and new.size < state.size:
                self._check_behind(state.note, signed.note, new, state.size)
                return WitnessRun(new, False, tuple(c.witness for c in signed.cosignatures))
            proof = self.consistency_proof(old_size, new.size) if old_size > 0 else []
            try:
                line = witness.add_checkpoint(AddCheckpoint(old_size, tuple(proof), signed.note))
            except OldSizeMismatch:
                continue  # another round of this witness ran meanwhile
            result = self.add_checkpoint(old_size, proof, signed.note + line)
            return WitnessRun(new, True, tuple(c.witness for c in result.cosignatures))
        raise VerificationError("the witness state kept changing; try again")

    def _check_behind(self, cosigned: str, offered: str, new: Checkpoint, size: int) -> None:
        """An older checkpoint than the witness cosigned: fine if it is a prefix."""
        old = Checkpoint.parse(split_note(cosigned)[0])
        try:
            proof = self.consistency_proof(new.size, size) if new.size > 0 else []
            merkle.verify_consistency(new.size, size, proof, new.root_hash, old.root_hash)
        except DpaError as err:
            raise ConflictingCheckpoint(
                f"split view: the log offers size {new.size}, which is not a prefix of "
                f"the cosigned size {size}: {err}",
                cosigned,
                offered,
            ) from err

    def verify_witnessed_log(
        self, verifier: LogVerifier, policy: WitnessPolicy, *, complete: bool = False
    ) -> Report:
        """``verify_log`` of a checkpoint that first met the witness policy."""
        signed = self.checkpoint()
        witnessed = policy.check(signed.cosigned_note or signed.note)
        report = self.verify_log(verifier, complete=complete, note=signed.note)
        report.notes.append(f"cosigned by {', '.join(witnessed.names)}")
        return report
