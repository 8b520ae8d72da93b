"""The tlog-tiles HTTPS read API, read by an independent client written from the spec."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from registry import clock, db, keys, pki
from registry.audit import store, tiles
from registry.audit.events import Change
from registry.config import Config
from tests import harness
from tests.independent_tiles import TilesClient, index_path, path, tiles_for_size

ORIGIN = Config().log_origin


@pytest.fixture
def served(dev_pki: pki.DevPki, database_url: str) -> Iterator[harness.Harness]:
    h = harness.start(dev_pki, database_url, tiles_listen="127.0.0.1:0")
    try:
        yield h
    finally:
        h.close()
        clock.reset()


def _client(h: harness.Harness, role: str, name: str) -> TilesClient:
    cert, key = h.pki.client(role, name)
    return TilesClient(f"https://localhost:{h.running.tiles_port}", h.pki.ca_cert, cert, key)


def _grow(n: int) -> None:
    changes = [Change("test.bulk", f"bulk/{i}", None, {"i": i}) for i in range(n)]
    with db.transaction():
        store.append(changes, "spiffe://7plus.one/service/test", "bulk", clock.now())


def test_spec_examples() -> None:
    assert index_path(1234067) == tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(0) == "000" and tiles.encode_index(1000) == "x001/000"
    shape = tiles_for_size(70_000)  # the spec's worked example
    assert shape[0] == [256] * 273 + [112]
    assert shape[1] == [256, 17] and shape[2] == [1]
    assert tiles_for_size(256) == {0: [256], 1: [1]}
    for good in ("/tile/0/000", "/tile/1/x001/234.p/17", "/tile/entries/000.p/3"):
        assert tiles.parse_path(good) is not None, good
    for bad in (
        "/tile/0/1",
        "/tile/0/x000/001",
        "/tile/0/000.p/256",
        "/tile/0/000.p/0",
        "/tile/00/000",
        "/tile/8/000",
        "/tile/0/000/",
    ):
        assert tiles.parse_path(bad) is None, bad


def test_independent_client_verifies_the_whole_log(served: harness.Harness) -> None:
    _grow(600)  # two full level-0 tiles, a partial one, a level-1 tile of width 2
    staff = served.staff
    signed = staff.checkpoint()
    vkey = keys.load(served.pki.signing_key, ORIGIN).vkey
    size, entries = _client(served, "staff", "admin").verify(vkey)
    assert size == signed.size >= 600
    assert entries == [e.body for e in staff.audit_entries()]
    # An auditor may read everything too.
    assert _client(served, "auditor", "audit1").verify(vkey)[0] == size


def test_controllers_read_hashes_but_not_other_tenants_entries(served: harness.Harness) -> None:
    _grow(10)
    size = served.staff.checkpoint().size
    acme = _client(served, "controller", "acme")
    assert acme.get("checkpoint").startswith(ORIGIN.encode())
    assert len(acme.get(path("0", 0, size))) == 32 * size
    assert acme.status(path("entries", 0, size)) == 403
    staff = _client(served, "staff", "admin")
    assert staff.status(path("entries", 0, size)) == 200
    assert staff.status(path("0", 0, size + 1)) == 404  # beyond the log
    assert staff.status(path("0", 0, 256)) == 404  # no full tile yet
    assert staff.status("tile/0/1") == 404
    assert staff.status("tile/0/x000/000") == 404
    assert staff.status("nothing") == 404


def test_a_client_without_certificate_is_refused(served: harness.Harness) -> None:
    context = ssl.create_default_context(cafile=str(served.pki.ca_cert))
    url = f"https://localhost:{served.running.tiles_port}/checkpoint"
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(url, context=context, timeout=30)
