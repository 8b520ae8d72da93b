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
from collections.abc import Callable, Iterable, Sequence
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


Progress = Callable[[int, int], None]
"""Called with (entries done, entries in all) while a large log is verified."""


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
        self,
        vkeys: Sequence[str],
        origin: str | None = None,
        state_file: Path | None = None,
        pinned: str | None = None,
    ) -> None:
        """``pinned``: a signed checkpoint note trusted out of band, like the state file's."""
        if not vkeys:
            raise VerificationError("at least one pinned verifier key is required")
        self.verifiers = [NoteVerifier.from_vkey(v) for v in vkeys]
        self.origin = origin
        self.state_file = state_file
        self.pinned = self.open(pinned) if pinned is not None else None

    # -- checkpoints ---------------------------------------------------------

    def open(self, note: str) -> Checkpoint:
        """Signature first: a checkpoint not signed by a pinned key is rejected."""
        return open_checkpoint(note, self.verifiers, self.origin)

    def trusted(self) -> Checkpoint | None:
        """The largest checkpoint trusted so far: the state file's or the pinned one."""
        known = [] if self.pinned is None else [self.pinned]
        if self.state_file is not None and self.state_file.exists():
            data = json.loads(self.state_file.read_text())
            known.append(self.open(data["note"]))
        return max(known, key=lambda c: c.size, default=None)

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

    def verify_export(self, export: dict[str, Any], progress: Progress | None = None) -> Report:
        """Verifies a self-contained export: every entry against every checkpoint.

        Every leaf hash is recomputed from the entry's bytes and the tree is
        rebuilt here; a failure names the first entry that no signed
        checkpoint vouches for. The export's stored node hashes are only hints:
        one is used only once it hashes up to a signed root. With a trusted
        checkpoint (state file or pinned), an export with a smaller tree is a
        rollback and one with a different tree a fork.
        """
        if export.get("format") != EXPORT_FORMAT:
            raise VerificationError(f"not a {EXPORT_FORMAT} export")
        notes: dict[Checkpoint, str] = {}
        for note in export["checkpoints"]:
            cp = self.open(note)
            notes[cp] = note
        checkpoints = sorted(notes, key=lambda c: c.size)
        if not checkpoints:
            raise VerificationError("the export holds no signed checkpoint")
        latest = checkpoints[-1]
        trusted = self.trusted()
        leaves, malformed = _leaves(export["entries"], progress)
        sizes = {c.size for c in checkpoints} | ({trusted.size} if trusted else set())
        roots = _roots_at(leaves, sizes)
        vouched = first_unvouched(checkpoints, leaves, roots, _hints(export))
        if malformed is not None and malformed.index < min(vouched, latest.size):
            raise malformed
        if vouched < latest.size:
            if vouched == len(leaves):
                raise truncated(latest, len(leaves))
            raise TamperedEntry(
                f"entry {vouched} is not vouched for by any signed checkpoint "
                f"(the entries do not rebuild {_describe(latest)}); first bad index {vouched}",
                vouched,
            )
        if malformed is not None:
            raise malformed
        if trusted is not None:
            if latest.size < trusted.size:
                raise RollbackError(
                    f"rollback: trusted {_describe(trusted)}, the export's newest is "
                    f"{_describe(latest)}"
                )
            if roots[trusted.size] != trusted.root_hash:
                raise ForkError(
                    f"fork: trusted {_describe(trusted)} is not a prefix of the export's "
                    f"{_describe(latest)}"
                )
        if self.state_file is not None and (trusted is None or latest.size >= trusted.size):
            _write_state(self.state_file, notes[latest])
        report = Report(latest, entries_verified=latest.size, checkpoints_verified=len(checkpoints))
        if len(leaves) > latest.size:
            report.notes.append(
                f"{len(leaves) - latest.size} entries are newer than any checkpoint"
            )
        return report


class TruncatedLog(TamperedEntry, RollbackError):
    """Entries a signed checkpoint covers are gone: the log was cut back."""


def truncated(checkpoint: Checkpoint, held: int, detail: str = "") -> TruncatedLog:
    """The log holds ``held`` entries although ``checkpoint`` signs more."""
    why = f" ({detail})" if detail else ""
    return TruncatedLog(
        f"rollback: log truncated to {held} entries but {_describe(checkpoint)} is signed"
        f"{why}; first missing index {held}",
        held,
    )


PROGRESS_EVERY = 5000


def _leaves(
    entries: Sequence[dict[str, Any]], progress: Progress | None = None
) -> tuple[list[bytes], TamperedEntry | None]:
    """Leaf hashes recomputed from the entries' bytes, and the first malformed entry."""
    leaves: list[bytes] = []
    malformed: TamperedEntry | None = None
    for position, entry in enumerate(entries):
        if progress is not None and position % PROGRESS_EVERY == 0:
            progress(position, len(entries))
        try:
            body = base64.b64decode(entry["body"], validate=True)
        except (KeyError, TypeError, ValueError):
            body = b""
            malformed = malformed or TamperedEntry(f"entry {position} has no body", position)
        leaves.append(merkle.leaf_hash(body))
        if malformed is not None:
            continue
        if entry.get("index") != position:
            malformed = TamperedEntry(
                f"entry at position {position} claims index {entry.get('index')}", position
            )
            continue
        try:
            _check_seq(position, body)
        except TamperedEntry as err:
            malformed = err
    if progress is not None:
        progress(len(entries), len(entries))
    return leaves, malformed


def _roots_at(leaves: Sequence[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The root of the rebuilt tree at each size the leaves reach (streamed)."""
    wanted = sorted(s for s in set(sizes) if s <= len(leaves))
    roots: dict[int, bytes] = {}
    tree = CompactRange()
    for size in wanted:
        while tree.size < size:
            tree.append(leaves[tree.size])
        roots[size] = tree.root()
    return roots


def _hints(export: dict[str, Any]) -> merkle.MemoryNodes:
    """The export's stored node hashes; malformed ones are dropped (never trusted)."""
    hints = merkle.MemoryNodes()
    for item in export.get("nodes", []):
        try:
            level, index, b64 = item
            digest = base64.b64decode(b64, validate=True)
            if isinstance(level, int) and isinstance(index, int) and len(digest) == 32:
                hints.nodes[level, index] = digest
        except (TypeError, ValueError):
            continue
    return hints


def first_unvouched(
    checkpoints: Sequence[Checkpoint],
    leaves: Sequence[bytes],
    roots: dict[int, bytes],
    hints: merkle.NodeReader,
) -> int:
    """The first index no checkpoint vouches for, given leaf hashes rebuilt from bytes.

    A checkpoint whose root the rebuilt tree reproduces vouches for all its
    entries; one it does not reproduce still vouches for the prefix that
    :func:`vouched_prefix` proves. Returns at least the latest size when every
    checkpoint holds.
    """
    best = 0
    rebuilt: merkle.MemoryNodes | None = None
    for cp in checkpoints:
        if roots.get(cp.size) == cp.root_hash:
            best = max(best, cp.size)
            continue
        if rebuilt is None:  # only on failure: the whole rebuilt tree
            rebuilt = merkle.MemoryNodes.from_leaf_hashes(leaves)
        best = max(best, vouched_prefix(cp, rebuilt, len(leaves), hints))
    return best


def _joins(left: bytes | None, right: bytes | None, parent: bytes) -> bool:
    return left is not None and right is not None and merkle.node_hash(left, right) == parent


def vouched_prefix(
    cp: Checkpoint, rebuilt: merkle.NodeReader, known: int, hints: merkle.NodeReader
) -> int:
    """How many leading entries checkpoint ``cp`` provably vouches for.

    Walks down RFC 9162's recursion from the signed root, keeping as *trusted*
    only hashes proven to hash up to it: a rebuilt subtree (from the entries'
    bytes, ``known`` leaves) or a hint whose sibling pair reproduces the
    trusted parent. Stops where neither holds; every leaf left of that point
    is proven, the leaf there is not.
    """
    lo, hi, trusted = 0, cp.size, cp.root_hash

    def rebuilt_hash(a: int, b: int) -> bytes | None:
        return merkle.range_hash(a, b, rebuilt) if b <= known else None

    def hint(a: int, b: int) -> bytes | None:
        try:
            return merkle.range_hash(a, b, hints)
        except LookupError:
            return None

    while hi - lo > 1:
        mid = lo + (1 << ((hi - lo - 1).bit_length() - 1))
        left, right = rebuilt_hash(lo, mid), rebuilt_hash(mid, hi)
        hint_left, hint_right = hint(lo, mid), hint(mid, hi)
        if _joins(left, hint_right, trusted) and hint_right is not None:
            lo, trusted = mid, hint_right  # the left half is proven: look right
        elif hint_left is not None and (
            _joins(hint_left, hint_right, trusted) or _joins(hint_left, right, trusted)
        ):
            hi, trusted = mid, hint_left  # the first bad leaf is in the left half
        else:
            break
    return lo


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
