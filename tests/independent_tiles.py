"""An independent C2SP tlog-tiles client, written from the specification alone
(c2sp.org/tlog-tiles, RFC 6962 section 2.1) and sharing no code with the
registry or dpa_client: it fetches the checkpoint, every hash tile and every
entry bundle over HTTPS and recomputes the tree."""

from __future__ import annotations

import hashlib
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from tests import independent_tlog


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def index_path(n: int) -> str:
    """Zero-padded 3-digit elements, all but the last prefixed with x."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def path(level: str, n: int, width: int) -> str:
    return f"tile/{level}/{index_path(n)}" + ("" if width == 256 else f".p/{width}")


def tiles_for_size(size: int) -> dict[int, list[int]]:
    """Level -> the widths of the tiles a tree of ``size`` is made of."""
    out: dict[int, list[int]] = {}
    level = 0
    while size >> (8 * level):
        count = size >> (8 * level)  # hashes at this level
        widths = [256] * (count // 256)
        if count % 256:
            widths.append(count % 256)
        out[level] = widths
        level += 1
    return out


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1 Merkle Tree Hash over leaf *hashes*."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


class TilesClient:
    def __init__(self, base_url: str, ca: Path, cert: Path, key: Path) -> None:
        self.base = base_url.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

    def get(self, rel: str) -> bytes:
        with urllib.request.urlopen(f"{self.base}/{rel}", context=self.context) as r:
            data: bytes = r.read()
            return data

    def status(self, rel: str) -> int:
        try:
            self.get(rel)
        except urllib.error.HTTPError as err:
            return err.code
        return 200

    def verify(self, vkey: str) -> tuple[int, list[bytes]]:
        """Verifies the whole log; returns its size and every entry."""
        origin, size, root = independent_tlog.verify_note(self.get("checkpoint").decode(), vkey)
        del origin
        shape = tiles_for_size(size)
        levels: dict[int, list[bytes]] = {}
        for level, widths in shape.items():
            hashes: list[bytes] = []
            for n, width in enumerate(widths):
                data = self.get(path(str(level), n, width))
                assert len(data) == 32 * width, (level, n, width, len(data))
                hashes += [data[i : i + 32] for i in range(0, len(data), 32)]
            levels[level] = hashes
        for level in range(1, len(levels)):
            below = levels[level - 1]
            for i, h in enumerate(levels[level]):
                assert mth(below[256 * i : 256 * (i + 1)]) == h, (level, i)
        entries: list[bytes] = []
        for n, width in enumerate(shape.get(0, [])):
            data = self.get(path("entries", n, width))
            pos = 0
            while pos < len(data):
                length = int.from_bytes(data[pos : pos + 2], "big")
                entries.append(data[pos + 2 : pos + 2 + length])
                pos += 2 + length
        assert len(entries) == size
        leaves = [_h(b"\x00" + e) for e in entries]
        assert leaves == levels.get(0, []), "an entry does not hash to its level-0 tile hash"
        assert (mth(leaves) if leaves else _h(b"")) == root, "tiles do not match the checkpoint"
        return size, entries
