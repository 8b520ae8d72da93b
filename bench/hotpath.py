"""The hot-path table of issue 12: CheckTransfer against grpc.health.v1
Health/Check on the same server, 1 and 2 server processes, SQLite and
(when DPA_TEST_POSTGRES_URL is set) PostgreSQL.

    python -m bench.hotpath            # or: make bench (runs every bench module)

Per configuration: 1,000 controllers and 100 sub-processors seeded in bulk,
20,000 distinct CheckTransfer requests cycling, mutual TLS, 64 calls in
flight over 8 connections. The server (``dpa-registry serve --processes N``,
16 workers) runs in its own processes: with one process pinned to CPU 0 and
the load generator (grpc.aio, this process) to CPU 1; with two processes the
servers may use every core and the load generator stays on CPU 1.

Figures, each from one run: maximum throughput (closed loop, the median of
48 rounds of one short run per call, the calls alternating) and its ratio to
Health/Check (the median of the rounds' own ratios); server CPU per call
from the server processes' own counters (their CPU clocks, ``bench.cputime``,
over calls), and its ratio likewise; p99 latency of both at half
of CheckTransfer's maximum rate (open loop, the two calls taking turns in one
stream, six runs) and its ratio (the median of the runs' own); the p99 of the server's own
decision histogram (``registry/transfers/timing.py``, worst process); the
server's cyclic collections while measured (count and longest, per
generation); the machine's load average before and after. ``bench.independent`` measures
the same figures with a second load generator on another gRPC stack.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import cputime
from bench.cpucap import CpuCap
from bench.transfers import _p, _requests, seed
from dpa_registry_api.v1 import transfers_pb2_grpc as tpb_grpc
from registry import pki

CONTROLLERS = 1000
SUBPROCESSORS = 100
REQUESTS = 20_000
IN_FLIGHT = 64
CONNECTIONS = 8
SECONDS = float(os.environ.get("DPA_BENCH_SECONDS", "5"))
ROUNDS = 48
"""Rounds of the maxima, each one closed-loop run per call of ``SECONDS / 16``:
the two runs of a round a third of a second apart, so that a swing of the
machine's speed lands on both. Measured on one server (SQLite), one round's
CPU ratio scattered by 0.12-0.25 (standard deviation) in rounds of 1.25 s and
0.14-0.15 in rounds of 0.31 s, so 48 short rounds put the median about three
times closer to its centre than 12 long ones, in the same time."""
P99_ROUNDS = 6
WORKERS = 16


# --- the server: `serve --processes N`, reporting its decision histogram ----------------


def serve(url: str, pki_dir: str, port: str, processes: str, out_dir: str) -> int:
    """Runs ``server.serve`` as ``dpa-registry serve`` does; each server
    process writes its decision histogram summary on the way out."""
    from registry import server
    from registry.transfers import timing
    from registry.transfers.cache import shared_cache
    from tests import harness

    made = pki.DevPki(Path(pki_dir))
    config = replace(
        harness.server_config(made, url),
        listen=f"127.0.0.1:{port}",
        workers=WORKERS,
        # No Watch streams here: keep the thread pool, and with it the
        # PostgreSQL connections (one per thread), at 2 x 32 at most.
        max_watchers=16,
        processes=int(processes),
    )
    original = server.serve_one
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - began[0]) * 1000)

    def serve_and_report(cfg: Any, **kw: Any) -> None:
        gc.callbacks.append(on_gc)
        original(cfg, **kw)
        s, cpu = timing.DECISIONS.summary(), timing.DECISION_CPU.summary()
        Path(out_dir, f"decisions-{os.getpid()}.json").write_text(
            json.dumps(
                {
                    "count": s.count,
                    "p50_us": s.p50_us,
                    "p99_us": s.p99_us,
                    "cpu_p99_us": cpu.p99_us,
                    "gc": {g: (len(p), max(p, default=0.0)) for g, p in pauses.items()},
                    "checks": timing.decisions(),
                    "queries": shared_cache().queries,
                }
            )
        )

    server.serve_one = serve_and_report  # type: ignore[assignment]

    # Inherited by forked children: SIGUSR1 resets the histogram.
    def reset(*_: object) -> None:
        timing.DECISIONS.reset()
        timing.DECISION_CPU.reset()
        for p in pauses.values():
            p.clear()

    signal.signal(signal.SIGUSR1, reset)
    return server.serve(config)


def _children(parent: int) -> list[int]:
    from tests import harness

    return harness.children(parent)


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    processes: int
    out_dir: Path

    def pids(self) -> list[int]:
        return [self.proc.pid, *_children(self.proc.pid)]

    def cpu_seconds(self) -> float:
        return cputime.seconds(self.pids())

    def reset_histograms(self) -> None:
        for pid in self.pids() if self.processes == 1 else _children(self.proc.pid):
            os.kill(pid, signal.SIGUSR1)

    def stop(self, *, quiet: bool = False) -> tuple[float, float]:
        """Stops every process; the worst decision p99 (us) among them, by
        the wall clock and by the thread's CPU clock. Unless ``quiet``, prints
        each process's cyclic collections and freshness queries."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        found = [json.loads(p.read_text()) for p in self.out_dir.glob("decisions-*.json")]
        if not found:
            raise RuntimeError(f"bench server failed: {err[-2000:]}")
        for f in [] if quiet else found:
            collections = ", ".join(
                f"gen{g} {n}x (max {top:.1f} ms)" for g, (n, top) in sorted(f["gc"].items())
            )
            print(f"  server cyclic GC while measured: {collections}", flush=True)
            print(
                f"  freshness proved by a query in {f['queries']:,} of {f['checks']:,} checks"
                " (the rest by the revision map)",
                flush=True,
            )
        counted = [f for f in found if f["count"]]
        if not counted:
            return 0.0, 0.0
        return max(float(f["p99_us"]) for f in counted), max(
            float(f["cpu_p99_us"]) for f in counted
        )


def _pin(cpus: set[int]) -> Callable[[], None]:
    return lambda: os.sched_setaffinity(0, cpus)


def start_server(url: str, made: pki.DevPki, processes: int, tmp: Path) -> Server:
    from tests import harness

    port = harness.free_port()
    out_dir = Path(tempfile.mkdtemp(dir=tmp))
    cpus = {0} if processes == 1 else set(range(os.cpu_count() or 1))
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "bench.hotpath", "--serve",
            url, str(made.directory), str(port), str(processes), str(out_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_pin(cpus),  # noqa: PLW1509 - no threads in this process yet
    )  # fmt: skip
    server = Server(proc, port, processes, out_dir)
    deadline = time.monotonic() + 120
    with _channels(made, port, 1) as (channel,):
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bench server did not start: {proc.communicate()[1][-2000:]}")
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                break
            except grpc.RpcError:
                time.sleep(0.2)
    while len(server.pids()) < processes + (processes > 1):
        time.sleep(0.1)
    return server


@contextmanager
def _channels(made: pki.DevPki, port: int, count: int) -> Iterator[list[grpc.Channel]]:
    cert, key = made.client("service", "checker")
    creds = grpc.ssl_channel_credentials(
        made.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    opts = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.secure_channel(f"localhost:{port}", creds, opts) for _ in range(count)]
    try:
        yield channels
    finally:
        for c in channels:
            c.close()


# --- the load generator (this process, CPU 1) ------------------------------------------


def _aio_channels(made: pki.DevPki, port: int) -> list[grpc.aio.Channel]:
    cert, key = made.client("service", "checker")
    creds = grpc.ssl_channel_credentials(
        made.ca_cert.read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    # Separate connections, so that the kernel can spread them over processes.
    opts = [("grpc.use_local_subchannel_pool", 1)]
    return [grpc.aio.secure_channel(f"localhost:{port}", creds, opts) for _ in range(CONNECTIONS)]


Call = Callable[[int], Any]


def _calls(channels: list[grpc.aio.Channel]) -> dict[str, Call]:
    on = datetime.now(UTC).date()
    requests = _requests(CONTROLLERS, SUBPROCESSORS, on, REQUESTS)
    checks = [tpb_grpc.TransferServiceStub(c) for c in channels]  # type: ignore[no-untyped-call]
    healths = [health_pb2_grpc.HealthStub(c) for c in channels]  # type: ignore[no-untyped-call]
    empty = health_pb2.HealthCheckRequest()
    n, k = len(requests), len(channels)
    return {
        "health": lambda i: healths[i % k].Check(empty),
        "check": lambda i: checks[i % k].CheckTransfer(requests[i % n]),
    }


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The load generator's own cyclic collector off while it measures: its
    full runs over the requests and channels it holds stalled it for tens of
    milliseconds, and every call in flight (both RPCs alike) took the pause
    as latency, and the calls due meanwhile then went out in one burst that
    could pass the server's concurrency limit (counted as refused). What it
    made before is frozen out of later runs; a run's garbage is collected
    after it."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


async def _closed_loop(call: Call, seconds: float) -> tuple[float, int, int]:
    """IN_FLIGHT callers back to back: (calls/s, calls, calls refused)."""
    end = time.perf_counter() + seconds
    done = refused = 0

    async def worker(w: int) -> None:
        nonlocal done, refused
        i = w
        while time.perf_counter() < end:
            try:
                await call(i)
                done += 1
            except grpc.RpcError:
                refused += 1
            i += IN_FLIGHT

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(IN_FLIGHT)))
    return done / (time.perf_counter() - started), done, refused


async def _open_loop(
    calls: dict[str, Call], names: Sequence[str], rate: float, seconds: float
) -> tuple[dict[str, list[float]], int]:
    """Calls issued at a fixed rate regardless of replies, the named calls
    taking turns (call i is ``names[i % len(names)]``): (latencies in ms by
    name, calls refused or failed). Interleaved, every call sees the same
    machine: a stall of the server's core (tens of milliseconds on this kind
    of machine, the whole of a p99) lands on both alike. A busy machine can
    stall the server long enough for the backlog to pass its concurrency
    limit: counted, not fatal."""
    latencies: dict[str, list[float]] = {name: [] for name in names}
    failed = 0
    interval = 1.0 / rate
    start = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal failed
        name = names[i % len(names)]
        t = time.perf_counter()
        try:
            await calls[name](i // len(names))
        except grpc.RpcError:
            failed += 1
            return
        latencies[name].append((time.perf_counter() - t) * 1000)

    tasks = []
    i = 0
    while (due := start + i * interval) - start <= seconds:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(i)))
        i += 1
    await asyncio.gather(*tasks)
    return latencies, failed


@dataclass
class Row:
    backend: str
    processes: int
    health: float
    check: float
    cpu_health_us: float
    cpu_check_us: float
    p99_health_ms: float
    p99_check_ms: float
    failed: int
    rate_ratio: float
    """Check/Health throughput: the median of the rounds' own ratios."""
    cpu_ratio: float
    """Check/Health server CPU per call, likewise."""
    p99_ratio: float
    """Check/Health p99 at half rate: the median of the runs' own ratios."""
    decision_p99_us: float
    decision_cpu_p99_us: float


class Generator(Protocol):
    """A load generator: runs the named call ("health" or "check") closed
    loop, or the named calls in turns open loop, as ``_closed_loop`` and
    ``_open_loop`` do."""

    async def closed_loop(self, name: str, seconds: float) -> tuple[float, int, int]: ...

    async def open_loop(
        self, names: Sequence[str], rate: float, seconds: float
    ) -> tuple[dict[str, list[float]], int]: ...


@dataclass
class AioGenerator:
    """This process's generator: grpc.aio over ``CONNECTIONS`` channels."""

    calls: dict[str, Call]

    async def closed_loop(self, name: str, seconds: float) -> tuple[float, int, int]:
        with _collector_paused():
            return await _closed_loop(self.calls[name], seconds)

    async def open_loop(
        self, names: Sequence[str], rate: float, seconds: float
    ) -> tuple[dict[str, list[float]], int]:
        with _collector_paused():
            return await _open_loop(self.calls, names, rate, seconds)


async def figures(
    server: Server,
    *generators: Generator,
    cap: CpuCap | None = None,
    share: float | None = None,
) -> list[dict[str, Any]]:
    """The table's figures through each generator: maximum throughput of each
    call with server CPU per call, from ``ROUNDS`` rounds of two closed-loop
    runs of ``SECONDS / 16`` each, one per call (which goes first alternates);
    then the p99 of each at half of CheckTransfer's maximum rate (the
    generator's own). Every step runs on each generator in turn, so that all
    see the same machine. Each figure is a median over the rounds, and each
    Check/Health ratio is the median of the rounds' own ratios: the two runs
    of one round see nearly the same machine, and on this kind of virtual
    machine its speed moves by a tenth or more within seconds (the calls'
    medians taken apart let such a swing land on one call only; the best of
    a few runs picks out whichever call had a lucky stretch).
    With ``cap``, the server gets at most ``share`` of a core while the
    maxima are measured (``bench.cpucap``), and no quota at half rate."""
    if cap is not None:
        cap.set(share)
    for generator in generators:  # warm up
        await generator.closed_loop("health", 1.0)
        await generator.closed_loop("check", 1.0)
    server.reset_histograms()
    runs: list[dict[str, list[tuple[float, float]]]] = [
        {"health": [], "check": []} for _ in generators
    ]
    failed = [0 for _ in generators]
    for round_ in range(ROUNDS):
        for name in ("health", "check") if round_ % 2 == 0 else ("check", "health"):
            for k, generator in enumerate(generators):
                before = server.cpu_seconds()
                rate, done, refused = await generator.closed_loop(name, SECONDS / 16)
                failed[k] += refused
                per_call = (server.cpu_seconds() - before) / max(done, 1) * 1e6
                runs[k][name].append((rate, per_call))
    typical = [
        {
            name: (
                statistics.median(rate for rate, _ in measured),
                statistics.median(cpu for _, cpu in measured),
            )
            for name, measured in r.items()
        }
        for r in runs
    ]
    paired = [
        {
            "rate_ratio": statistics.median(
                c[0] / h[0] for h, c in zip(r["health"], r["check"], strict=True)
            ),
            "cpu_ratio": statistics.median(
                c[1] / h[1] for h, c in zip(r["health"], r["check"], strict=True)
            ),
        }
        for r in runs
    ]
    if cap is not None:
        cap.set(None)
    # At half rate: P99_ROUNDS runs of 2 * SECONDS / P99_ROUNDS each, the
    # two calls taking turns in one stream (which goes first alternates); each
    # call's p99 over every run, and the ratio the median of the runs' own.
    # Run one call after the other, a stall of the server's core fell in one
    # call's run only, and the p99 ratio swung between 0.5 and 1.3 from run
    # to run; over two pooled runs, one generator's ratio still moved by 0.07
    # from the other's.
    seen: list[dict[str, list[float]]] = [{"check": [], "health": []} for _ in generators]
    p99_ratios: list[list[float]] = [[] for _ in generators]
    for round_ in range(P99_ROUNDS):
        names = ("check", "health") if round_ % 2 == 0 else ("health", "check")
        for k, generator in enumerate(generators):
            rate = typical[k]["check"][0] / 2
            latencies, no = await generator.open_loop(names, rate, 2 * SECONDS / P99_ROUNDS)
            failed[k] += no
            for name, ms in latencies.items():
                seen[k][name] += ms
            p99_ratios[k].append(
                _p(latencies.get("check") or [0.0], 0.99)
                / max(_p(latencies.get("health") or [0.0], 0.99), 1e-9)
            )
    p99 = [{name: _p(ms or [0.0], 0.99) for name, ms in s.items()} for s in seen]
    for k, ratios in enumerate(p99_ratios):
        paired[k]["p99_ratio"] = statistics.median(ratios)
    return [
        {
            "health": b["health"][0],
            "check": b["check"][0],
            "cpu_health_us": b["health"][1],
            "cpu_check_us": b["check"][1],
            "p99_health_ms": p["health"],
            "p99_check_ms": p["check"],
            "failed": f,
            **ratios,
        }
        for b, p, f, ratios in zip(typical, p99, failed, paired, strict=True)
    ]


@asynccontextmanager
async def aio_generator(made: pki.DevPki, server: Server) -> AsyncIterator[AioGenerator]:
    """This process's generator on ``server``, warmed up."""
    channels = _aio_channels(made, server.port)
    calls = _calls(channels)
    for i in range(REQUESTS // 10):  # warm up: snapshot, connections, part of the memo
        await calls["check"](i)
    try:
        yield AioGenerator(calls)
    finally:
        for c in channels:
            await c.close()


async def _measure(made: pki.DevPki, server: Server) -> dict[str, Any]:
    async with aio_generator(made, server) as generator:
        (measured,) = await figures(server, generator)
        return measured


def _backends(tmp: Path, stack: ExitStack) -> dict[str, str]:
    """Backend -> database URL, SQLite and, when configured, PostgreSQL (its
    schema kept until ``stack`` closes)."""
    from tests import harness

    urls = {"SQLite": f"sqlite:///{tmp}/hotpath.db"}
    if harness.postgres_url():
        urls["PostgreSQL"] = stack.enter_context(harness.postgres_schema())
    return urls


Config = tuple[str, int]
"""(backend, server processes)."""


async def paired_maxima(made: pki.DevPki, servers: dict[Config, Server]) -> dict[Config, float]:
    """CheckTransfer's maximum throughput on each server relative to the first
    one's: ``ROUNDS`` rounds of one closed-loop run per server (the order
    rotating), each ratio the median of the rounds' own. The servers run side
    by side, idle while another is measured, so a ratio between two of them
    does not depend on where the machine's speed drifted between their own
    runs (PostgreSQL over SQLite came out 0.80 and 1.00 in two runs taken
    minutes apart, each of which had its own ratios to Health within goal)."""
    keys = list(servers)
    rates: dict[Config, list[float]] = {k: [] for k in keys}
    async with AsyncExitStack() as stack:
        generators = {
            k: await stack.enter_async_context(aio_generator(made, servers[k])) for k in keys
        }
        for round_ in range(ROUNDS):
            turn = round_ % len(keys)
            for k in keys[turn:] + keys[:turn]:
                rate, _, _ = await generators[k].closed_loop("check", SECONDS / 16)
                rates[k].append(rate)
    first = rates[keys[0]]
    return {
        k: statistics.median(r / base for r, base in zip(rates[k], first, strict=True))
        for k in keys
    }


def report(measured: Measured, load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    rows, relative = measured.rows, measured.relative
    print()
    print(
        f"CheckTransfer vs grpc.health.v1 Health/Check, {CONTROLLERS:,} controllers, "
        f"{SUBPROCESSORS} sub-processors, {REQUESTS:,} distinct requests, "
        f"{IN_FLIGHT} in flight, mTLS, {SECONDS:.0f} s per figure"
    )
    print(
        "| backend | processes | Health/s | Check/s | ratio (goal >= 0.90 SQLite, 0.85 PG) "
        "| CPU/call Health / Check (ratio, goal <= 1.15) "
        "| p99 at half max rate Health / Check (ratio, goal <= 1.2) "
        "| calls refused | decision p99 (goal <= 50 us) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.backend} | {r.processes} | {r.health:,.0f} | {r.check:,.0f} "
            f"| {r.rate_ratio:.2f} "
            f"| {r.cpu_health_us:.0f} / {r.cpu_check_us:.0f} us "
            f"({r.cpu_ratio:.2f}) "
            f"| {r.p99_health_ms:.1f} / {r.p99_check_ms:.1f} ms "
            f"({r.p99_ratio:.2f}) "
            f"| {r.failed} | {r.decision_cpu_p99_us:.0f} us CPU ({r.decision_p99_us:.0f} us wall) |"
        )
    for backend in sorted({r.backend for r in rows}):
        two_over_one = relative[backend, 2] / relative[backend, 1]
        print(f"{backend}: 2 processes / 1, CheckTransfer throughput {two_over_one:.2f}x")
    if ("PostgreSQL", 1) in relative:
        share = relative["PostgreSQL", 1]
        print(f"PostgreSQL / SQLite CheckTransfer throughput (1 process): {share:.2f}")
    (b1, b5, b15), (a1, a5, a15) = load
    print(
        f"load average before {b1:.2f} {b5:.2f} {b15:.2f}, after {a1:.2f} {a5:.2f} {a15:.2f} "
        f"({os.cpu_count()} cores)"
    )


@contextmanager
def on_generator_cpu() -> Iterator[None]:
    """Pins this process (the load generator) and what it starts from now on
    to CPU 1, the one-process server having CPU 0; every core again after."""
    pin = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1
    if pin:
        os.sched_setaffinity(0, {1})
    try:
        yield
    finally:
        if pin:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


@dataclass(frozen=True)
class Measured:
    rows: list[Row]
    """One row per configuration, its ratios to Health from its own run."""
    relative: dict[Config, float]
    """CheckTransfer's maximum throughput per configuration over SQLite's
    with one process, from ``paired_maxima``."""


def measure_all() -> Measured:
    """Every configuration (SQLite, then PostgreSQL when configured; 1 and 2
    server processes), each figure from one run; then CheckTransfer on all of
    them side by side (``paired_maxima``)."""
    from tests import harness

    rows: list[Row] = []
    with on_generator_cpu(), tempfile.TemporaryDirectory() as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        made = harness.make_pki(tmp / "pki")
        urls = _backends(tmp, stack)
        configs = [(backend, processes) for backend in urls for processes in (1, 2)]
        for backend, processes in configs:
            if processes == 1:
                seed(urls[backend], CONTROLLERS, SUBPROCESSORS)
            server = start_server(urls[backend], made, processes, tmp)
            try:
                measured = asyncio.run(_measure(made, server))
            finally:
                wall_p99, cpu_p99 = server.stop()
            rows.append(
                Row(
                    backend,
                    processes,
                    decision_p99_us=wall_p99,
                    decision_cpu_p99_us=cpu_p99,
                    **measured,
                )
            )
            print(f"  {backend}, {processes} process(es): {measured}", flush=True)
        servers: dict[Config, Server] = {}
        try:
            for backend, processes in configs:
                servers[backend, processes] = start_server(urls[backend], made, processes, tmp)
            relative = asyncio.run(paired_maxima(made, servers))
        finally:
            for server in servers.values():
                server.stop(quiet=True)
        print(f"  side by side, CheckTransfer over SQLite's: {relative}", flush=True)
    return Measured(rows, relative)


def main() -> None:
    load_before = os.getloadavg()
    measured = measure_all()
    report(measured, (load_before, os.getloadavg()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(*sys.argv[2:7]))
    main()
