"""Tests for dpa_client.transparency.merkle (RFC 9162 / RFC 6962 Merkle trees)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpa_client.errors import ConsistencyError, InclusionError, VerificationError
from dpa_client.transparency import (
    EMPTY_ROOT,
    MemoryNodes,
    append_batch,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_append,
    root_from_leaves,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --- Certificate Transparency reference vectors (RFC 6962 test suite, also used
# by transparency-dev/merkle): leaves, node hashes of the 8-leaf tree, roots.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODE_HASHES = [  # NODE_HASHES[level][index]
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
# (index, size, path); transparency-dev/merkle lists these with 1-based leaf numbers.
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


class CountingReader:
    """Wraps a reader and records every get_nodes call."""

    def __init__(self, inner: MemoryNodes) -> None:
        self.inner = inner
        self.calls: list[list[tuple[int, int]]] = []

    def get_nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(coords))
        return self.inner.get_nodes(coords)


def tree_of(entries: Sequence[bytes]) -> MemoryNodes:
    return MemoryNodes.from_leaf_hashes([leaf_hash(e) for e in entries])


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    return [salt + i.to_bytes(4, "big") for i in range(n)]


# --- Naive reference: RFC 6962 MTH, PATH and SUBPROOF straight from the leaves.


def naive(entries_: Sequence[bytes]) -> tuple[Callable[[int, int], bytes], int]:
    leaves = [leaf_hash(e) for e in entries_]

    @functools.cache
    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth, len(leaves)


def naive_path(mth: Callable[[int, int], bytes], m: int, lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = 1
    while k * 2 < hi - lo:
        k *= 2
    if m < k:
        return [*naive_path(mth, m, lo, lo + k), mth(lo + k, hi)]
    return [*naive_path(mth, m - k, lo + k, hi), mth(lo, lo + k)]


def naive_subproof(
    mth: Callable[[int, int], bytes], m: int, lo: int, hi: int, complete: bool
) -> list[bytes]:
    if m == hi - lo:
        return [] if complete else [mth(lo, hi)]
    k = 1
    while k * 2 < hi - lo:
        k *= 2
    if m <= k:
        return [*naive_subproof(mth, m, lo, lo + k, complete), mth(lo + k, hi)]
    return [*naive_subproof(mth, m - k, lo + k, hi, False), mth(lo, lo + k)]


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- Known answers.


def test_hashes_and_empty_root() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    # From the CT Python test suite.
    assert (
        leaf_hash(bytes.fromhex("101112131415161718191a1b1c1d1e1f")).hex()
        == "3bfb960453ebaebf33727da7a1f4db38acc051d381b6da20d6d4e88f0eabfd7a"
    )
    left = bytes.fromhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    right = bytes.fromhex("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
    assert (
        node_hash(left, right).hex()
        == "1a378704c17da31e2d05b6d121c2bb2c7d76f6ee6fa8f983e596c2d034963c57"
    )


@pytest.mark.parametrize("size", range(9))
def test_known_roots(size: int) -> None:
    assert root_from_leaves(LEAVES[:size]).hex() == ROOTS[size]
    assert root_hash(size, tree_of(LEAVES)).hex() == ROOTS[size]
    assert root_hash(size, tree_of(LEAVES[:size])).hex() == ROOTS[size]


def test_known_node_hashes() -> None:
    stored = tree_of(LEAVES).nodes
    expected = {
        (level, index): bytes.fromhex(h)
        for level, row in enumerate(NODE_HASHES)
        for index, h in enumerate(row)
    }
    assert stored == expected


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, size, tree_of(LEAVES))
    assert hexes(proof) == path
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, new, tree_of(LEAVES))
    assert hexes(proof) == path
    verify_consistency(old, new, proof, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]))


def test_known_consistency_proof_too_short_or_tampered() -> None:
    proof = [bytes.fromhex(h) for h in CONSISTENCY[2][2]]
    r6, r8 = bytes.fromhex(ROOTS[6]), bytes.fromhex(ROOTS[8])
    with pytest.raises(ConsistencyError):
        verify_consistency(6, 8, proof[:2], r6, r8)
    with pytest.raises(ConsistencyError):
        verify_consistency(6, 8, [proof[0], flip(proof[1], 0), proof[2]], r6, r8)
    with pytest.raises(ConsistencyError):
        verify_consistency(6, 8, proof, r8, r6)  # swapped roots


# --- Edge cases of the verifiers.


def test_inclusion_rejects_bad_shapes() -> None:
    mem = tree_of(LEAVES)
    root = bytes.fromhex(ROOTS[8])
    leaf = leaf_hash(LEAVES[5])
    proof = inclusion_proof(5, 8, mem)
    verify_inclusion(leaf, 5, 8, proof, root)
    bad: list[tuple[int, int, list[bytes]]] = [
        (4, 8, proof),
        (6, 8, proof),
        (5 ^ 2, 8, proof),
        (5, 16, proof),
        (5, 4, proof),
        (8, 8, proof),
        (-1, 8, proof),
        (5, 8, proof[:-1]),
        (5, 8, [*proof, root]),
        (5, 8, [root, *proof]),
        (5, 8, [*proof, b""]),
        (5, 8, [proof[0], EMPTY_ROOT, *proof[1:]]),
    ]
    for index, size, p in bad:
        with pytest.raises(InclusionError):
            verify_inclusion(leaf, index, size, p, root)
    for wrong_root in (EMPTY_ROOT, b"", root[:31]):
        with pytest.raises(InclusionError):
            verify_inclusion(leaf, 5, 8, proof, wrong_root)
    with pytest.raises(InclusionError):
        verify_inclusion(b"WrongLeaf", 5, 8, proof, root)
    # A single-leaf tree: root == leaf hash, empty proof.
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)
    for index, size in ((0, 0), (1, 0), (2, 1), (1, 1)):
        with pytest.raises(InclusionError):
            verify_inclusion(h, index, size, [], h)


def test_consistency_edge_cases() -> None:
    r1, r2 = bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[2])
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, bytes.fromhex(ROOTS[5]))
    verify_consistency(1, 1, [], r1, r1)
    bad: list[tuple[int, int, list[bytes], bytes, bytes]] = [
        (1, 1, [], r1, r2),  # equal sizes, different roots
        (1, 1, [r1], r1, r1),  # equal sizes, non-empty proof
        (0, 1, [r1], EMPTY_ROOT, r1),  # empty tree, non-empty proof
        (0, 1, [], r1, r1),  # wrong root for the empty tree
        (2, 1, [], r2, r1),  # going back in time
        (1, 2, [], r1, r2),  # empty proof
        (1, 2, [b"short"], r1, r2),
        (1, 2, [r1], b"short", r2),
    ]
    for old, new, proof, old_root, new_root in bad:
        with pytest.raises(ConsistencyError):
            verify_consistency(old, new, proof, old_root, new_root)


def test_errors_are_verification_errors() -> None:
    assert issubclass(InclusionError, VerificationError)
    assert issubclass(ConsistencyError, VerificationError)


def test_proof_generation_rejects_bad_arguments() -> None:
    mem = tree_of(LEAVES)
    for index, size in ((0, 0), (8, 8), (-1, 3)):
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_proof(index, size, mem)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(5, 4, mem)
    with pytest.raises(ValueError, match="negative"):
        root_hash(-1, mem)
    assert consistency_proof(0, 8, mem) == []
    assert consistency_proof(8, 8, mem) == []


# --- Exhaustive tamper checks on small trees: every bit of every input.


@pytest.mark.parametrize("n", range(1, 9))
def test_every_bit_flip_breaks_inclusion(n: int) -> None:
    data = entries(n)
    mem, root = tree_of(data), root_from_leaves(data)
    for i in range(n):
        leaf, proof = leaf_hash(data[i]), inclusion_proof(i, n, mem)
        verify_inclusion(leaf, i, n, proof, root)
        for bit in range(256):
            with pytest.raises(InclusionError):
                verify_inclusion(flip(leaf, bit), i, n, proof, root)
            with pytest.raises(InclusionError):
                verify_inclusion(leaf, i, n, proof, flip(root, bit))
            for j in range(len(proof)):
                bad = [*proof[:j], flip(proof[j], bit), *proof[j + 1 :]]
                with pytest.raises(InclusionError):
                    verify_inclusion(leaf, i, n, bad, root)


@pytest.mark.parametrize("n", range(2, 9))
def test_every_bit_flip_breaks_consistency(n: int) -> None:
    data = entries(n)
    mem, new_root = tree_of(data), root_from_leaves(data)
    for m in range(1, n):
        old_root, proof = root_from_leaves(data[:m]), consistency_proof(m, n, mem)
        verify_consistency(m, n, proof, old_root, new_root)
        for bit in range(256):
            with pytest.raises(ConsistencyError):
                verify_consistency(m, n, proof, flip(old_root, bit), new_root)
            with pytest.raises(ConsistencyError):
                verify_consistency(m, n, proof, old_root, flip(new_root, bit))
            for j in range(len(proof)):
                bad = [*proof[:j], flip(proof[j], bit), *proof[j + 1 :]]
                with pytest.raises(ConsistencyError):
                    verify_consistency(m, n, bad, old_root, new_root)


# --- Properties over random trees.


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), salt=st.binary(max_size=8))
def test_all_proofs_verify_and_match_naive(n: int, salt: bytes) -> None:
    data = entries(n, salt)
    root = root_from_leaves(data)
    mth, _ = naive(data)
    assert mth(0, n) == root
    mem = tree_of(data)
    assert root_hash(n, mem) == root
    for i in range(n):
        proof = inclusion_proof(i, n, mem)
        assert proof == naive_path(mth, i, 0, n)
        verify_inclusion(leaf_hash(data[i]), i, n, proof, root)
    for m in range(n + 1):
        proof = consistency_proof(m, n, mem)
        if 0 < m < n:
            assert proof == naive_subproof(mth, m, 0, n, True)
        else:
            assert proof == []
        old_root = mth(0, m) if m else EMPTY_ROOT
        assert root_hash(m, mem) == old_root
        verify_consistency(m, n, proof, old_root, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 300))
def test_random_bit_flip_breaks_inclusion(data: st.DataObject, n: int) -> None:
    leaves = entries(n)
    i = data.draw(st.integers(0, n - 1))
    mem, root = tree_of(leaves), root_from_leaves(leaves)
    leaf, proof = leaf_hash(leaves[i]), inclusion_proof(i, n, mem)
    bit = data.draw(st.integers(0, 255))
    target = data.draw(st.integers(-2, len(proof) - 1))
    if target == -2:
        leaf = flip(leaf, bit)
    elif target == -1:
        root = flip(root, bit)
    else:
        proof[target] = flip(proof[target], bit)
    with pytest.raises(InclusionError):
        verify_inclusion(leaf, i, n, proof, root)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(2, 300))
def test_random_bit_flip_breaks_consistency(data: st.DataObject, n: int) -> None:
    leaves = entries(n)
    m = data.draw(st.integers(1, n - 1))
    mem = tree_of(leaves)
    old_root, new_root = root_from_leaves(leaves[:m]), root_from_leaves(leaves)
    proof = consistency_proof(m, n, mem)
    bit = data.draw(st.integers(0, 255))
    target = data.draw(st.integers(-2, len(proof) - 1))
    if target == -2:
        old_root = flip(old_root, bit)
    elif target == -1:
        new_root = flip(new_root, bit)
    else:
        proof[target] = flip(proof[target], bit)
    with pytest.raises(ConsistencyError):
        verify_consistency(m, n, proof, old_root, new_root)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 300))
def test_proof_for_another_index_fails(n: int) -> None:
    leaves = entries(n)
    mem, root = tree_of(leaves), root_from_leaves(leaves)
    for i in range(n):
        proof = inclusion_proof(i, n, mem)
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                with pytest.raises(InclusionError):
                    verify_inclusion(leaf_hash(leaves[i]), j, n, proof, root)
                with pytest.raises(InclusionError):
                    verify_inclusion(leaf_hash(leaves[j]), i, n, proof, root)


# --- Storage: appends and batched reads.


def perfect_subtrees(data: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree hash, straight from MTH of its leaves."""
    out: dict[tuple[int, int], bytes] = {}
    level = 0
    while 1 << level <= len(data):
        width = 1 << level
        for index in range(len(data) // width):
            out[level, index] = root_from_leaves(data[index * width : (index + 1) * width])
        level += 1
    return out


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 200))
def test_nodes_for_append_produces_the_perfect_subtrees(n: int) -> None:
    data = entries(n)
    mem = MemoryNodes()
    for i, entry in enumerate(data):
        reader = CountingReader(mem)
        rows = nodes_for_append(i, leaf_hash(entry), reader)
        trailing_ones = (i ^ (i + 1)).bit_length() - 1
        assert [(lvl, idx) for lvl, idx, _ in rows] == [
            (lvl, i >> lvl) for lvl in range(trailing_ones + 1)
        ]
        assert len(reader.calls) == (1 if trailing_ones else 0)
        assert sum(len(c) for c in reader.calls) == trailing_ones
        mem.put(rows)
    assert mem.nodes == perfect_subtrees(data)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(0, 200))
def test_append_batch_in_chunks(data: st.DataObject, n: int) -> None:
    leaves = entries(n)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6)))
    mem = MemoryNodes()
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        reader = CountingReader(mem)
        rows = append_batch(lo, [leaf_hash(e) for e in leaves[lo:hi]], reader)
        assert len(reader.calls) <= 1
        assert sum(len(c) for c in reader.calls) <= max(lo, 1).bit_length()
        assert all(lvl == 0 or (idx << lvl) + (1 << lvl) > lo for lvl, idx, _ in rows)
        mem.put(rows)
    assert mem.nodes == perfect_subtrees(leaves)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 5000))
def test_proofs_use_one_batched_read_of_log_n_nodes(data: st.DataObject, n: int) -> None:
    mem = MemoryNodes.from_leaf_hashes([leaf_hash(e) for e in entries(n)])
    bound = 2 * n.bit_length()
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(0, n))
    for run in (
        lambda r: root_hash(n, r),
        lambda r: inclusion_proof(i, n, r),
        lambda r: consistency_proof(m, n, r),
    ):
        reader = CountingReader(mem)
        run(reader)
        assert len(reader.calls) <= 1
        assert all(len(c) <= bound for c in reader.calls)
    reader = CountingReader(mem)
    assert root_hash(n, reader) == root_from_leaves(entries(n))
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) == n.bit_count()


def test_large_tree_reads_only_a_few_nodes() -> None:
    """A tree of ~10**12 identical leaves: level-l nodes all hash alike."""
    n = 10**12 + 12345
    by_level = [leaf_hash(b"x")]
    while len(by_level) <= n.bit_length():
        by_level.append(node_hash(by_level[-1], by_level[-1]))

    class Synthetic:
        def __init__(self) -> None:
            self.calls = 0

        def get_nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
            self.calls += 1
            assert len(coords) <= 2 * n.bit_length()
            assert all((idx + 1) << lvl <= n for lvl, idx in coords)
            return [by_level[lvl] for lvl, _ in coords]

    reader = Synthetic()
    root = root_hash(n, reader)
    i = 987654321
    proof = inclusion_proof(i, n, reader)
    verify_inclusion(by_level[0], i, n, proof, root)
    m = 10**11 + 7
    old_root = root_hash(m, reader)
    verify_consistency(m, n, consistency_proof(m, n, reader), old_root, root)
    assert reader.calls == 4
