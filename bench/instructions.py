"""Server instructions per call, CheckTransfer against grpc.health.v1
Health/Check: the hot-path CPU ratio in a unit this machine's noise cannot
move.

    python -m bench.instructions     # needs valgrind; skipped without it

The server (``bench.hotpath``'s, one process, SQLite, the same 1,000
controllers, 100 sub-processors and 20,000 distinct requests, mutual TLS)
runs under callgrind with instrumentation off until every request has been
answered once; then each call runs ``CALLS`` times, 8 in flight, in
``ROUNDS`` alternating rounds (CheckTransfer with the same first ``CALLS``
requests each round: requests differ in size), and callgrind's own counter
is read per round.
Callgrind counts every instruction the server process executes in user
space, in every thread, whatever else the machine is doing: the same
figures twice within about 1 %, where CPU time per call on this kind of
virtual machine moves by a tenth within seconds. Its background loops
(delivery, scheduler) are slowed to once an hour so that their polls, which
take far longer under callgrind, do not land in the rounds.

Instructions are not time: kernel work (about a quarter of a call's server
CPU here: sockets, futexes, context switches) is not counted, and code runs
at different instructions per cycle (gRPC's TLS crypto far above the
interpreter's), so the ratio here sits below the CPU-time ratio of
``bench.hotpath``. It is the figure to compare two versions of the code by:
a cut of a few hundred instructions per call shows in one run.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import hotpath
from bench.transfers import _requests, seed
from dpa_registry_api.v1 import transfers_pb2_grpc as tpb_grpc
from registry import pki

CALLS = 2000
ROUNDS = 5
IN_FLIGHT = 8
QUIET_SECONDS = 3600.0


def serve(*args: str) -> int:
    """``bench.hotpath``'s server with the background loops slowed down."""
    from registry.subprocessors import scheduler

    os.environ["DPA_DELIVERY_INTERVAL_SECONDS"] = str(QUIET_SECONDS)
    scheduler.INTERVAL = QUIET_SECONDS
    return hotpath.serve(*args)


def _start(url: str, made: pki.DevPki, tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    from tests import harness

    port = harness.free_port()
    out = tmp / "callgrind"
    out.mkdir()
    proc = subprocess.Popen(
        [
            "valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.%p",
            sys.executable, "-m", "bench.instructions", "--serve",
            url, str(made.directory), str(port), "1", str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),  # noqa: PLW1509 - no threads yet
    )  # fmt: skip
    return proc, port, out


def _control(proc: subprocess.Popen[bytes], *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(proc.pid)], check=True, capture_output=True)


def _total(dump: Path) -> int:
    found = re.search(r"^summary: (\d+)", dump.read_text(), re.M)
    if found is None:
        raise RuntimeError(f"no summary in {dump}")
    return int(found.group(1))


def measure() -> dict[str, list[float]]:
    """Instructions per call (thousands), by call, one entry per round."""
    from tests import harness

    with hotpath.on_generator_cpu(), tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        made = harness.make_pki(tmp / "pki")
        url = f"sqlite:///{tmp}/instructions.db"
        seed(url, hotpath.CONTROLLERS, hotpath.SUBPROCESSORS)
        proc, port, out = _start(url, made, tmp)
        try:
            return _rounds(proc, port, out, made)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rounds(
    proc: subprocess.Popen[bytes], port: int, out: Path, made: pki.DevPki
) -> dict[str, list[float]]:
    with hotpath._channels(made, port, 1) as (channel,):
        health = health_pb2_grpc.HealthStub(channel)
        checks = tpb_grpc.TransferServiceStub(channel)
        deadline = time.monotonic() + 600
        while True:
            try:
                health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                break
            except grpc.RpcError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server under callgrind did not start") from None
                time.sleep(1)
        requests = _requests(
            hotpath.CONTROLLERS, hotpath.SUBPROCESSORS, datetime.now(UTC).date(), hotpath.REQUESTS
        )
        empty = health_pb2.HealthCheckRequest()
        calls: dict[str, Callable[[int], Any]] = {
            "health": lambda i: health.Check(empty, timeout=600),
            "check": lambda i: checks.CheckTransfer(requests[i % len(requests)], timeout=600),
        }

        def run(name: str, count: int) -> None:
            with concurrent.futures.ThreadPoolExecutor(IN_FLIGHT) as pool:
                list(pool.map(calls[name], range(count)))

        print(f"  answering {len(requests):,} requests once, uninstrumented", flush=True)
        run("check", len(requests))
        _control(proc, "-i", "on")
        run("health", CALLS // 4)  # the instrumented code translated once
        run("check", CALLS // 4)
        found: dict[str, list[float]] = {"health": [], "check": []}
        for round_ in range(ROUNDS):
            for name in ("health", "check") if round_ % 2 == 0 else ("check", "health"):
                _control(proc, "-z")
                run(name, CALLS)
                _control(proc, "-d", f"{name}-{round_}")
                dump = max(out.glob("callgrind.*.*"), key=lambda p: int(p.suffix[1:]))
                found[name].append(_total(dump) / CALLS / 1000)
                print(f"  round {round_}, {name}: {found[name][-1]:,.1f}k", flush=True)
        _control(proc, "-i", "off")
        return found


def ratios(found: dict[str, list[float]]) -> list[float]:
    """CheckTransfer / Health, per round."""
    return [c / h for h, c in zip(found["health"], found["check"], strict=True)]


def report(found: dict[str, list[float]]) -> None:
    health, check = found["health"], found["check"]
    print()
    print(
        f"Server instructions per call (callgrind, user space, every thread), one server "
        f"process, SQLite, {hotpath.REQUESTS:,} distinct remembered requests, "
        f"{IN_FLIGHT} in flight, {CALLS:,} calls per round"
    )
    print("| call | per round | median |")
    print("|---|---|---|")
    for label, values in (("Health/Check", health), ("CheckTransfer", check)):
        rounds = " / ".join(f"{v:,.1f}k" for v in values)
        print(f"| {label} | {rounds} | {statistics.median(values):,.1f}k |")
    print(
        f"| CheckTransfer - Health | "
        f"{' / '.join(f'{c - h:,.1f}k' for h, c in zip(health, check, strict=True))} "
        f"| {statistics.median(c - h for h, c in zip(health, check, strict=True)):,.1f}k |"
    )
    print(
        f"| ratio | {' / '.join(f'{r:.3f}' for r in ratios(found))} "
        f"| {statistics.median(ratios(found)):.3f} |"
    )


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def main() -> None:
    if not available():
        print("bench.instructions skipped: needs valgrind (callgrind)")
        return
    report(measure())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(*sys.argv[2:7]))
    main()
