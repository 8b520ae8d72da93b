"""Witnesses and witness policies for the registry's audit log.

A *witness* (C2SP ``tlog-witness``, https://c2sp.org/tlog-witness) cosigns a
checkpoint only if it is consistent with the last one it cosigned for that
log, so a log that shows two parties two different trees (a *split view*)
cannot get both cosigned by one honest witness. :class:`Witness` implements
the ``add-checkpoint`` semantics over a state file per log; it refuses a
conflicting checkpoint with :class:`ConflictingCheckpoint`, which carries both
signed notes as evidence. :class:`WitnessPolicy` is the verifier side: k of n
named witness keys must have cosigned a checkpoint before it is trusted.

The core does no network I/O; ``dpa-verify witness`` feeds it from the registry.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dpa_client.audit import ForkError
from dpa_client.errors import ConsistencyError, VerificationError
from dpa_client.transparency import merkle
from dpa_client.transparency.cosignature import (
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    split_note,
    verify_cosignatures,
)
from dpa_client.transparency.note import Checkpoint, NoteVerifier, open_checkpoint

__all__ = [
    "AddCheckpoint",
    "ConflictingCheckpoint",
    "NotWitnessed",
    "OldSizeMismatch",
    "UnknownLog",
    "Witness",
    "WitnessPolicy",
    "WitnessState",
    "Witnessed",
]

MAX_PROOF_LINES = 63
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class UnknownLog(VerificationError):
    """The witness is not configured for this checkpoint's origin (HTTP 404)."""


class OldSizeMismatch(VerificationError):
    """``old`` is not the size the witness last cosigned (HTTP 409, text/x.tlog.size)."""

    def __init__(self, latest_size: int) -> None:
        super().__init__(f"old size does not match the latest cosigned size {latest_size}")
        self.latest_size = latest_size


class ConflictingCheckpoint(ForkError):
    """A checkpoint inconsistent with one the witness cosigned: evidence of a split view.

    ``cosigned_note`` is the witness's last cosigned checkpoint, ``offered_note``
    the conflicting one; both are signed by the log, so together they prove
    that it published two views.
    """

    def __init__(self, message: str, cosigned_note: str, offered_note: str) -> None:
        super().__init__(message)
        self.cosigned_note = cosigned_note
        self.offered_note = offered_note

    def evidence(self) -> dict[str, str]:
        return {"reason": str(self), "cosigned": self.cosigned_note, "offered": self.offered_note}


class NotWitnessed(VerificationError):
    """A checkpoint without the cosignatures the witness policy requires."""


# -- the add-checkpoint message -----------------------------------------------


@dataclass(frozen=True)
class AddCheckpoint:
    """The C2SP ``add-checkpoint`` request: old size, consistency proof, checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def encode(self) -> str:
        lines = [f"old {self.old_size}"]
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> AddCheckpoint:
        """Strictly parses the request body; raises ValueError (HTTP 400)."""
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise ValueError("add-checkpoint: no empty line before the checkpoint")
        lines = head.split("\n")
        if not lines[0].startswith("old ") or not _DECIMAL.fullmatch(lines[0][4:]):
            raise ValueError("add-checkpoint: malformed old size line")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise ValueError("add-checkpoint: too many consistency proof lines")
        proof = []
        for line in lines[1:]:
            try:
                raw = base64.b64decode(line, validate=True)
            except ValueError:
                raise ValueError("add-checkpoint: malformed proof line") from None
            if len(raw) != merkle.HASH_SIZE:
                raise ValueError("add-checkpoint: proof line is not a 32-byte hash")
            proof.append(raw)
        return cls(int(lines[0][4:]), tuple(proof), checkpoint)


# -- the witness ----------------------------------------------------------------


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint a witness cosigned for one log."""

    size: int
    root_hash: bytes
    note: str

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "note": self.note,
        }


def _state_name(origin: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", origin)[:64]
    return f"{slug}-{hashlib.sha256(origin.encode()).hexdigest()[:12]}.json"


class Witness:
    """A tlog-witness over a directory of JSON state files, one per log.

    ``logs`` maps each origin the witness follows to the log's verifier keys.
    Checking the old size and recording the new checkpoint happen under an
    exclusive file lock, so concurrent requests cannot roll the state back.
    """

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[NoteVerifier]],
        state_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state_dir = state_dir
        self._clock = clock

    def state_path(self, origin: str) -> Path:
        return self.state_dir / _state_name(origin)

    def state(self, origin: str) -> WitnessState | None:
        path = self.state_path(origin)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return WitnessState(
            int(data["size"]), base64.b64decode(data["root_hash"]), str(data["note"])
        )

    @contextlib.contextmanager
    def _locked(self, origin: str) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = self.state_path(origin).with_suffix(".lock")
        with lock.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _open(self, note: str) -> Checkpoint:
        origin = Checkpoint.parse(split_note(note)[0]).origin
        keys = self.logs.get(origin)
        if keys is None:
            raise UnknownLog(f"this witness does not follow the log {origin!r}")
        return open_checkpoint(note, keys, origin)  # BadSignature: HTTP 403

    def add_checkpoint(self, request: AddCheckpoint) -> str:
        """Verifies ``request`` against the recorded state, records the checkpoint
        and returns the cosignature line (see module doc for the errors)."""
        new = self._open(request.checkpoint)
        if request.old_size > new.size:
            raise ValueError("add-checkpoint: old size is larger than the checkpoint")
        with self._locked(new.origin):
            old = self.state(new.origin)
            latest = old.size if old is not None else 0
            if request.old_size != latest:
                raise OldSizeMismatch(latest)
            if old is not None:
                self._check_consistent(old, new, request)
            elif request.proof:
                raise ValueError("add-checkpoint: the proof must be empty from size 0")
            if old is None or new.size > old.size:
                _write_json(
                    self.state_path(new.origin),
                    WitnessState(new.size, new.root_hash, request.checkpoint).to_json(),
                )
        return self.cosigner.cosign(new.body(), int(self._clock()))

    @staticmethod
    def _check_consistent(old: WitnessState, new: Checkpoint, request: AddCheckpoint) -> None:
        try:
            merkle.verify_consistency(
                old.size, new.size, request.proof, old.root_hash, new.root_hash
            )
        except ConsistencyError as err:
            old_cp = Checkpoint.parse(split_note(old.note)[0])
            raise ConflictingCheckpoint(
                f"split view: cosigned {_describe(old_cp)} is inconsistent with "
                f"offered {_describe(new)}: {err}",
                old.note,
                request.checkpoint,
            ) from err


def _describe(cp: Checkpoint) -> str:
    return f"{cp.origin} size {cp.size} root {base64.b64encode(cp.root_hash).decode()}"


def _write_json(path: Path, data: Mapping[str, object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    Path(tmp).replace(path)


def write_evidence(directory: Path, conflict: ConflictingCheckpoint) -> Path:
    """Stores both notes of a conflict for the witness operator; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(conflict.offered_note.encode()).hexdigest()[:16]
    path = directory / f"conflict-{digest}.json"
    _write_json(path, conflict.evidence())
    return path


# -- the verifier's policy ------------------------------------------------------


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint that met the policy, and who cosigned it."""

    checkpoint_note: str
    cosignatures: tuple[Cosignature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cosignatures)


@dataclass(frozen=True)
class WitnessPolicy:
    """At least ``threshold`` of the named ``witnesses`` must cosign a checkpoint."""

    threshold: int
    witnesses: tuple[CosignatureVerifier, ...]

    def __post_init__(self) -> None:
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise VerificationError("a witness policy names each witness once")
        if not 1 <= self.threshold <= len(self.witnesses):
            raise VerificationError(
                f"witness policy threshold {self.threshold} is not in 1..{len(self.witnesses)}"
            )

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WitnessPolicy:
        """``{"threshold": 2, "witnesses": ["<name>+<id>+<key>", ...]}``."""
        vkeys = data.get("witnesses")
        threshold = data.get("threshold")
        if not isinstance(vkeys, list) or not isinstance(threshold, int):
            raise VerificationError("a witness policy needs 'threshold' and 'witnesses'")
        return cls(threshold, tuple(CosignatureVerifier.from_vkey(str(v)) for v in vkeys))

    @classmethod
    def load(cls, path: Path) -> WitnessPolicy:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise VerificationError(f"{path} is not a witness policy")
        return cls.from_json(data)

    def check(self, note: str) -> Witnessed:
        """Raises NotWitnessed unless enough named witnesses validly cosigned ``note``;
        a named witness's line that does not verify raises BadSignature."""
        found = verify_cosignatures(note, self.witnesses)
        if len(found) < self.threshold:
            body, _ = split_note(note)
            cp = Checkpoint.parse(body)
            have = ", ".join(sorted(found)) or "none"
            raise NotWitnessed(
                f"checkpoint {_describe(cp)} has {len(found)} of the {self.threshold} "
                f"required cosignatures (cosigned by: {have}; policy: "
                f"{', '.join(w.name for w in self.witnesses)}):\n{note}"
            )
        return Witnessed(note, tuple(found[w.name] for w in self.witnesses if w.name in found))
