"""``make bench-independent``: the three hot-path ratios of ``bench.hotpath``
measured by two load generators on different gRPC stacks, side by side in
one run: this process's grpc.aio and ``bench/loadgen.js`` (Node.js,
@grpc/grpc-js). Issue 12 counts the table as met only when they agree
within 0.05.

    make bench-independent           # installs the Node packages into .tools/loadgen
    python -m bench.independent      # once they are there (about 3 minutes)

Per backend (SQLite; PostgreSQL when DPA_TEST_POSTGRES_URL is set) one
seeding and one server process pinned to CPU 0, as ``bench.hotpath``; both
generators run on CPU 1 against that same server through
``hotpath.figures``: the same requests, calls in flight, connections and
runs, each run on one generator and then the other, so that both see the
same machine. Server CPU per call comes from the server process's own
counters in both cases; rates and latencies are each generator's own. The
server's busy share at each maximum (rate x CPU per call) shows whether the
server or the generator set it: a maximum well below the server's share of
its core is the generator's, or the machine's.

grpc-js spends about as much CPU per call as the server does on Health/Check,
so from one core it kept the server only about 80 % busy: its maxima then
measured the generator, and its throughput ratio came out near 1. While the
maxima are measured the server therefore gets at most ``SERVER_SHARE`` of its
core (a cgroup CPU quota, ``bench.cpucap``), which both generators can keep
busy; the figures at half rate run without a quota. Where no cgroup can be
made (not root) the server runs uncapped and the table says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from bench import cpucap, hotpath
from bench.transfers import _requests, seed
from registry import pki

ROOT = Path(__file__).resolve().parent.parent
LOADGEN = ROOT / "bench" / "loadgen.js"
NODE_MODULES = ROOT / ".tools" / "loadgen" / "node_modules"
AGREE = 0.05
BUSY = 0.9
SERVER_SHARE = 0.6
"""The server's CPU quota while maxima are measured, as a share of one core."""


class NodeGenerator:
    """``bench/loadgen.js`` in a child process, one command at a time."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc

    @classmethod
    @contextmanager
    def started(
        cls, made: pki.DevPki, server: hotpath.Server, tmp: Path
    ) -> Iterator[NodeGenerator]:
        on = datetime.now(UTC).date()
        requests = [
            json_format.MessageToDict(r, preserving_proto_field_name=True)
            for r in _requests(hotpath.CONTROLLERS, hotpath.SUBPROCESSORS, on, hotpath.REQUESTS)
        ]
        (tmp / "requests.json").write_text(json.dumps(requests))
        cert, key = made.client("service", "checker")
        config = {
            "target": f"127.0.0.1:{server.port}",  # the certificate names localhost too
            "protos": str(ROOT / "protos"),
            "ca": str(made.ca_cert),
            "cert": str(cert),
            "key": str(key),
            "requests": str(tmp / "requests.json"),
            "in_flight": hotpath.IN_FLIGHT,
            "connections": hotpath.CONNECTIONS,
        }
        (tmp / "loadgen.json").write_text(json.dumps(config))
        proc = subprocess.Popen(
            ["node", str(LOADGEN), str(tmp / "loadgen.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        )
        try:
            yield cls(proc)
        finally:
            assert proc.stdin
            proc.stdin.close()
            proc.wait(timeout=30)

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the Node load generator stopped (its error is above)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def closed_loop(self, name: str, seconds: float) -> tuple[float, int, int]:
        a = await asyncio.to_thread(self._ask, {"op": "closed", "call": name, "seconds": seconds})
        return float(a["rate"]), int(a["done"]), int(a["refused"])

    async def open_loop(
        self, names: Sequence[str], rate: float, seconds: float
    ) -> tuple[dict[str, list[float]], int]:
        command = {"op": "open", "calls": list(names), "rate": rate, "seconds": seconds}
        a = await asyncio.to_thread(self._ask, command)
        latencies = {name: [float(ms) for ms in found] for name, found in a["latencies"].items()}
        return latencies, int(a["failed"])


Figures = dict[str, float]

# The table's ratios: (name, numerator, denominator, unit) over ``hotpath.figures``.
RATIOS = (
    ("max throughput, Check / Health", "check", "health", "{:,.0f}/s"),
    ("server CPU per call, Check / Health", "cpu_check_us", "cpu_health_us", "{:.0f} us"),
    (
        "p99 at half of Check's max rate, Check / Health",
        "p99_check_ms",
        "p99_health_ms",
        "{:.1f} ms",
    ),
)


def _busy(f: Figures) -> tuple[float, float]:
    """The server's busy share of what it may use at the two maxima: calls/s
    x CPU per call, over its quota (one core when uncapped)."""
    share = f["share"]
    return (
        f["check"] * f["cpu_check_us"] / 1e6 / share,
        f["health"] * f["cpu_health_us"] / 1e6 / share,
    )


_PAIRED = {
    ("check", "health"): "rate_ratio",
    ("cpu_check_us", "cpu_health_us"): "cpu_ratio",
    ("p99_check_ms", "p99_health_ms"): "p99_ratio",
}
"""Ratios ``hotpath.figures`` gives as medians of its rounds' own ratios."""


def _ratio(f: Figures, top: str, bottom: str) -> float:
    paired = _PAIRED.get((top, bottom))
    return f[paired] if paired else f[top] / max(f[bottom], 1e-9)


async def _both(
    made: pki.DevPki, server: hotpath.Server, tmp: Path, cap: cpucap.CpuCap | None
) -> list[Figures]:
    async with hotpath.aio_generator(made, server) as python:
        with NodeGenerator.started(made, server, tmp) as node:
            found = await hotpath.figures(server, python, node, cap=cap, share=SERVER_SHARE)
    share = 1.0 if cap is None else SERVER_SHARE
    return [{**f, "share": share} for f in found]


def measure_all() -> list[tuple[str, Figures, Figures]]:
    """(backend, Python generator, Node generator) per backend."""
    from tests import harness

    rows = []
    with (
        hotpath.on_generator_cpu(),
        tempfile.TemporaryDirectory() as tmp_name,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmp_name)
        made = harness.make_pki(tmp / "pki")
        for backend, url in hotpath._backends(tmp, stack).items():
            seed(url, hotpath.CONTROLLERS, hotpath.SUBPROCESSORS)
            server = hotpath.start_server(url, made, 1, tmp)
            with cpucap.capped(server.pids()) as cap:
                try:
                    python, node = asyncio.run(_both(made, server, tmp, cap))
                finally:
                    server.stop()
            print(f"  {backend}, Python grpc.aio: {python}", flush=True)
            print(f"  {backend}, Node grpc-js: {node}", flush=True)
            rows.append((backend, python, node))
    return rows


def report(
    rows: list[tuple[str, Figures, Figures]], load: tuple[tuple[float, ...], tuple[float, ...]]
) -> None:
    print()
    print(
        f"CheckTransfer vs grpc.health.v1 Health/Check, {hotpath.CONTROLLERS:,} controllers, "
        f"{hotpath.SUBPROCESSORS} sub-processors, {hotpath.REQUESTS:,} distinct requests, "
        f"{hotpath.IN_FLIGHT} in flight over {hotpath.CONNECTIONS} connections, mTLS, one "
        f"server process on CPU 0, each generator on CPU 1, {hotpath.SECONDS:.0f} s per figure"
    )
    shares = {f["share"] for _, *both in rows for f in both}
    print(
        "maxima with the server capped at "
        + " / ".join(f"{share:.0%}" for share in sorted(shares))
        + " of its core (100 %: no quota could be set); half rate uncapped"
    )
    print("| backend | ratio | Python grpc.aio | Node grpc-js | difference |")
    print("|---|---|---|---|---|")
    for backend, py, js in rows:
        for label, top, bottom, unit in RATIOS:

            def cell(f: Figures, top: str = top, bottom: str = bottom, unit: str = unit) -> str:
                return (
                    f"{_ratio(f, top, bottom):.2f} "
                    f"({unit.format(f[top])} / {unit.format(f[bottom])})"
                )

            diff = _ratio(js, top, bottom) - _ratio(py, top, bottom)
            verdict = "within" if abs(diff) <= AGREE else "beyond"
            print(
                f"| {backend} | {label} | {cell(py)} | {cell(js)} "
                f"| {diff:+.2f} ({verdict} {AGREE}) |"
            )
        busy = [" / ".join(f"{share:.0%}" for share in _busy(f)) for f in (py, js)]
        print(
            f"| {backend} | server busy at the maxima, of its quota, Check / Health "
            f"| {' | '.join(busy)} | |"
        )
        print(
            f"| {backend} | calls refused or failed | {py['failed']:.0f} | {js['failed']:.0f} | |"
        )
    if any(min(_busy(f)) < BUSY for _, *both in rows for f in both):
        print(
            f"A maximum with the server under {BUSY:.0%} of its quota busy was set by the "
            f"generator or by the machine (other processes on the server's core), not by the "
            f"server: its ratios do not measure the server."
        )
    (b1, b5, b15), (a1, a5, a15) = load
    print(
        f"load average before {b1:.2f} {b5:.2f} {b15:.2f}, after {a1:.2f} {a5:.2f} {a15:.2f} "
        f"({os.cpu_count()} cores)"
    )


def main() -> None:
    if shutil.which("node") is None or not (NODE_MODULES / "@grpc" / "grpc-js").is_dir():
        print("bench.independent skipped: needs node and `make bench-independent` (npm packages)")
        return
    load_before = os.getloadavg()
    rows = measure_all()
    report(rows, (load_before, os.getloadavg()))


if __name__ == "__main__":
    main()
