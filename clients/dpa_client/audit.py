"""Offline verification of the registry's audit log (RFC 9162, C2SP checkpoints).

Nothing here trusts the server: checkpoints must carry a valid signature by a
pinned verifier key (checked first); entries must be included in the tree
the checkpoint commits to; a new checkpoint must be consistent with the last
one this client trusted (kept in a small state file), so a rollback or a fork
is detected and reported with both checkpoints.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpa_client.errors import (
    ConsistencyError,
    InclusionError,
    TamperedEntry,
    VerificationError,
)
from dpa_client.transparency import merkle
from dpa_client.transparency.note import Checkpoint, NoteVerifier, open_checkpoint

EXPORT_FORMAT = "dpa-registry-audit-export/1"


class RollbackError(ConsistencyError):
    """The log offers a smaller tree than one this client already trusted."""


class ForkError(ConsistencyError):
    """Two checkpoints cannot both be views of one append-only log."""


def _describe(cp: Checkpoint) -> str:
    return f"{cp.origin} size {cp.size} root {base64.b64encode(cp.root_hash).decode()}"


class CompactRange:
    """Streaming RFC 9162 tree root over leaf hashes appended in order."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (height, hash), perfect subtrees
        self.size = 0

    def append(self, leaf: bytes) -> None:
        height, digest = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            digest = merkle.node_hash(left, digest)
            height += 1
        self._stack.append((height, digest))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return merkle.EMPTY_ROOT
        digest = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            digest = merkle.node_hash(left, digest)
        return digest


@dataclass
class Report:
    """What a verification established."""

    checkpoint: Checkpoint
    entries_verified: int = 0
    checkpoints_verified: int = 0
    notes: list[str] = field(default_factory=list)


class LogVerifier:
    """Verifies checkpoints, entries and proofs against pinned keys."""

    def __init__(
        self, vkeys: Sequence[str], origin: str | None = None, state_file: Path | None = None
    ) -> None:
        if not vkeys:
            raise VerificationError("at least one pinned verifier key is required")
        self.verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
        self.origin = origin
        self.state_file = state_file

    # -- checkpoints ---------------------------------------------------------

    def open(self, note: str) -> Checkpoint:
        """Signature first: a checkpoint not signed by a pinned key is rejected."""
        return open_checkpoint(note, self.verifiers, self.origin)

    def trusted(self) -> Checkpoint | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        data = json.loads(self.state_file.read_text())
        return self.open(data["note"])

    def advance(self, note: str, proof_from_trusted: Sequence[bytes]) -> Checkpoint:
        """Accepts a newer checkpoint if consistent with the trusted one."""
        new = self.open(note)
        old = self.trusted()
        if old is not None:
            check_consistent(old, new, proof_from_trusted)
        if self.state_file is not None and (old is None or new.size >= old.size):
            _write_state(self.state_file, note)
        return new

    # -- entries ---------------------------------------------------------------

    @staticmethod
    def verify_entry(
        index: int, body: bytes, checkpoint: Checkpoint, proof: Sequence[bytes]
    ) -> None:
        """The entry's exact bytes are leaf ``index`` of the checkpoint's tree."""
        _check_seq(index, body)
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(body), index, checkpoint.size, proof, checkpoint.root_hash
            )
        except InclusionError as err:
            raise TamperedEntry(f"entry {index} is not in the signed tree: {err}", index) from err

    # -- full exports ----------------------------------------------------------

    def verify_export(self, export: dict[str, Any]) -> Report:
        """Verifies a self-contained export: every entry against every checkpoint."""
        if export.get("format") != EXPORT_FORMAT:
            raise VerificationError(f"not a {EXPORT_FORMAT} export")
        checkpoints = sorted((self.open(n) for n in export["checkpoints"]), key=lambda c: c.size)
        if not checkpoints:
            raise VerificationError("the export holds no signed checkpoint")
        entries: list[dict[str, Any]] = export["entries"]
        hints: list[str] = export.get("leaf_hashes", [])
        latest = checkpoints[-1]
        tree = CompactRange()
        pending = iter(checkpoints)
        target: Checkpoint | None = next(pending)
        verified = 0
        bodies: list[bytes] = []
        for position, entry in enumerate(entries[: latest.size]):
            body = base64.b64decode(entry["body"])
            if int(entry["index"]) != position:
                raise TamperedEntry(
                    f"entry at position {position} claims index {entry['index']}", position
                )
            _check_seq(position, body)
            bodies.append(body)
            tree.append(merkle.leaf_hash(body))
            while target is not None and tree.size == target.size:
                if tree.root() != target.root_hash:
                    first = target.size - 1
                    for i, b in enumerate(bodies):
                        if i < len(hints) and base64.b64decode(hints[i]) != merkle.leaf_hash(b):
                            first = i
                            break
                    raise TamperedEntry(
                        f"entries do not match the checkpoint signed at size {target.size}; "
                        f"first bad index {first}",
                        first,
                    )
                verified += 1
                target = next(pending, None)
        if len(entries) < latest.size:
            raise TamperedEntry(
                f"log truncated: {len(entries)} entries but a checkpoint signs "
                f"{latest.size}; first missing index {len(entries)}",
                len(entries),
            )
        report = Report(latest, entries_verified=latest.size, checkpoints_verified=verified)
        if len(entries) > latest.size:
            report.notes.append(
                f"{len(entries) - latest.size} entries are newer than any checkpoint"
            )
        return report


def check_consistent(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raises RollbackError or ForkError naming both checkpoints."""
    if new.size < old.size:
        raise RollbackError(f"rollback: trusted {_describe(old)}, offered {_describe(new)}")
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except ConsistencyError as err:
        raise ForkError(
            f"fork: trusted {_describe(old)} is inconsistent with {_describe(new)}: {err}"
        ) from err


def _check_seq(index: int, body: bytes) -> None:
    try:
        seq = json.loads(body)["seq"]
    except (ValueError, KeyError, TypeError):
        raise TamperedEntry(f"entry {index} is not a registry event", index) from None
    if seq != index:
        raise TamperedEntry(f"entry at index {index} records seq {seq}", index)


def _write_state(path: Path, note: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    with os.fdopen(fd, "w") as f:
        json.dump({"note": note}, f)
    Path(tmp).replace(path)


def load_export(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def entries_in_order(rows: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    return sorted(rows)
