"""Merkle Tree Hash, inclusion and consistency proofs of RFC 9162 section 2.1.

This is the same tree as RFC 6962 (SHA-256, 0x00 leaf prefix, 0x01 node prefix).
Everything here is pure: storage is reached through :class:`NodeReader`, which
returns the hashes of *perfect* subtrees.  Node ``(level, index)`` covers the
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 node ``i`` is the
leaf hash of entry ``i``.  A tree of any size is a list of such perfect
subtrees (one per set bit of the size), so roots and proofs need O(log n)
stored nodes, fetched with a single batched ``get_nodes`` call.

"leaf" parameters are always leaf *hashes* (``leaf_hash(entry)``), as in the
RFC's verification algorithms; only :func:`root_from_leaves` takes raw entries.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from dpa_client.errors import ConsistencyError, InclusionError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodes",
    "NodeReader",
    "Row",
    "append_batch",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_for_append",
    "range_hash",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Coord = tuple[int, int]
"""``(level, index)`` of a perfect subtree."""
Row = tuple[int, int, bytes]
"""``(level, index, hash)`` of a perfect subtree, as stored."""
_Range = tuple[int, int]
"""Leaves ``[lo, hi)`` of a subtree that appears in the RFC's recursion."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeReader(Protocol):
    """Batched access to stored perfect-subtree hashes."""

    def get_nodes(self, coords: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        """The hashes of the nodes ``(level, index)``, in the order asked."""
        ...


class MemoryNodes:
    """A :class:`NodeReader` over a dict; also a handy in-memory tree."""

    def __init__(self, nodes: Mapping[tuple[int, int], bytes] | None = None) -> None:
        self.nodes: dict[tuple[int, int], bytes] = dict(nodes or {})

    def get_nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self.nodes[c] for c in coords]

    def put(self, rows: Iterable[Row]) -> None:
        for level, index, digest in rows:
            self.nodes[level, index] = digest

    @classmethod
    def from_leaf_hashes(cls, leaves: Sequence[bytes]) -> MemoryNodes:
        """Every perfect-subtree hash of the tree with these leaf hashes."""
        mem = cls()
        mem.put(append_batch(0, leaves, mem))
        return mem


def _read(coords: Sequence[Coord], read: NodeReader) -> dict[Coord, bytes]:
    """One batched read (none at all when nothing is needed)."""
    if not coords:
        return {}
    got = read.get_nodes(coords)
    if len(got) != len(coords):
        raise ValueError(f"get_nodes returned {len(got)} hashes for {len(coords)} nodes")
    return dict(zip(coords, got, strict=True))


def append_batch(start_index: int, leaves: Sequence[bytes], read: NodeReader) -> list[Row]:
    """Rows for every perfect subtree completed by appending ``leaves``.

    ``leaves`` are leaf hashes for indices ``start_index, start_index + 1, ...``.
    Left siblings from before the batch (at most one per level) are read with a
    single ``get_nodes`` call; those inside the batch come from the batch.
    """
    if start_index < 0:
        raise ValueError("negative leaf index")
    end = start_index + len(leaves)
    needed: list[Coord] = []
    for i in range(start_index, end):
        level = 0
        while (i >> level) & 1:  # leaf i completes one subtree per trailing 1 bit
            sibling = (level, (i >> level) - 1)  # ends at (i >> level) << level
            if (i >> level) << level <= start_index and sibling not in needed:
                needed.append(sibling)
            level += 1
    known = _read(needed, read)
    rows: list[Row] = []
    for i, digest in zip(range(start_index, end), leaves, strict=True):
        rows.append((0, i, digest))
        known[0, i] = digest
        level, h = 0, digest
        while (i >> level) & 1:
            h = node_hash(known[level, (i >> level) - 1], h)
            level += 1
            known[level, i >> level] = h
            rows.append((level, i >> level, h))
    return rows


def nodes_for_append(index: int, leaf: bytes, read: NodeReader) -> list[Row]:
    """Rows for every perfect subtree completed by appending leaf hash ``leaf`` at ``index``."""
    return append_batch(index, [leaf], read)


def _pieces(lo: int, hi: int) -> list[Coord]:
    """The perfect subtrees, left to right, that make up leaves ``[lo, hi)``."""
    out: list[Coord] = []
    pos, size = lo, hi - lo
    for level in range(size.bit_length() - 1, -1, -1):
        if (size >> level) & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect pieces: the pieces are combined right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _hash_ranges(ranges: Sequence[_Range], read: NodeReader) -> list[bytes]:
    """MTH of each range, with one batched read of all their pieces."""
    pieces = [_pieces(lo, hi) for lo, hi in ranges]
    known = _read(list(dict.fromkeys(c for p in pieces for c in p)), read)
    return [_fold([known[c] for c in p]) for p in pieces]


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size >= 2``)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_hash(size: int, read: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves."""
    if size < 0:
        raise ValueError("negative tree size")
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], read)[0]


def range_hash(lo: int, hi: int, read: NodeReader) -> bytes:
    """MTH of the leaves ``[lo, hi)`` (a subtree of RFC 9162's recursion when it is one)."""
    if not 0 <= lo < hi:
        raise ValueError(f"no leaves in [{lo}, {hi})")
    return _hash_ranges([(lo, hi)], read)[0]


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """``PATH(index, D[size])`` of RFC 6962 / RFC 9162 2.1.3.1, deepest sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} not in a tree of size {size}")
    siblings: list[_Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
    siblings.reverse()
    return _hash_ranges(siblings, read)


def consistency_proof(old_size: int, new_size: int, read: NodeReader) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` of RFC 6962 / RFC 9162 2.1.4.1.

    Empty when ``old_size`` is 0 or equal to ``new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    parts: list[_Range] = []
    m, lo, hi, complete = old_size, 0, new_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            parts.append((lo + k, hi))
            hi = lo + k
        else:
            parts.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    if not complete:
        parts.append((lo, hi))
    parts.reverse()
    return _hash_ranges(parts, read)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reference ``MTH(D[n])`` of the raw entries ``leaves`` (hashes every entry)."""
    level = [leaf_hash(d) for d in leaves]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _check_hashes(what: str, hashes: Iterable[bytes], error: type[Exception]) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise error(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 2.1.3.2); raises InclusionError."""
    if not 0 <= index < size:
        raise InclusionError(f"leaf index {index} not in a tree of size {size}")
    _check_hashes("leaf", [leaf], InclusionError)
    _check_hashes("proof element", proof, InclusionError)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InclusionError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionError("inclusion proof is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf hash ``leaf`` is entry ``index`` of the tree ``(size, root)``."""
    _check_hashes("root", [root], InclusionError)
    if not hmac.compare_digest(root_from_inclusion_proof(leaf, index, size, proof), root):
        raise InclusionError(f"leaf {index} is not included in the tree of size {size}")


def root_from_consistency_proof(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes
) -> bytes:
    """The new root implied by a consistency proof from ``(old_size, old_root)``.

    Follows RFC 9162 2.1.4.2 for ``0 < old_size < new_size``; raises
    ConsistencyError if the proof is malformed or does not reproduce ``old_root``.
    """
    if not 0 < old_size < new_size:
        raise ConsistencyError(f"no consistency proof from size {old_size} to {new_size}")
    _check_hashes("root", [old_root], ConsistencyError)
    _check_hashes("proof element", proof, ConsistencyError)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    if not path:
        raise ConsistencyError("consistency proof is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyError("consistency proof is too short")
    if not hmac.compare_digest(fr, old_root):
        raise ConsistencyError(f"consistency proof does not match the root of size {old_size}")
    return sr


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that tree ``(new_size, new_root)`` extends tree ``(old_size, old_root)``.

    Equal sizes need equal roots and an empty proof; the empty tree is a prefix
    of every tree (its root must be ``EMPTY_ROOT`` and the proof empty).
    """
    _check_hashes("root", [old_root, new_root], ConsistencyError)
    if not 0 <= old_size <= new_size:
        raise ConsistencyError(f"size {new_size} cannot extend size {old_size}")
    if old_size in (0, new_size):
        if proof:
            raise ConsistencyError("consistency proof must be empty")
        if old_size == 0 and not hmac.compare_digest(old_root, EMPTY_ROOT):
            raise ConsistencyError("the root of the empty tree is wrong")
        if old_size == new_size and not hmac.compare_digest(old_root, new_root):
            raise ConsistencyError(f"two different roots for size {old_size}")
        return
    computed = root_from_consistency_proof(old_size, new_size, proof, old_root)
    if not hmac.compare_digest(computed, new_root):
        raise ConsistencyError(f"size {new_size} does not extend size {old_size}")
