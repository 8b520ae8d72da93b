"""A CPU quota for the bench server's processes (Linux control groups, v2 or
v1), so that a load generator slower per call than the server can still keep
it saturated: ``bench.independent`` caps the server at a share of one core
while it measures maximum throughput.

    with capped(server.pids()) as cap:    # None: no cgroup could be made here
        cap.set(0.6)                      # at most 60 % of one core
        cap.set(None)                     # no quota

Needs write access to the cgroup file system (root, or a delegated
subtree); without it ``capped`` yields None and says why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
"""The quota's period, CFS's default. A 10 ms period held the server back
more often, mid-call, and raised CheckTransfer's CPU per call more than
Health's (ratio 1.26 against 1.11 at 100 ms, side by side)."""


class CpuCap:
    """One control group holding the processes given to :func:`capped`."""

    def __init__(self, path: Path, v2: bool) -> None:
        self.path = path
        self._v2 = v2

    def set(self, share: float | None) -> None:
        """At most ``share`` of one core for the group; None: no quota."""
        quota = None if share is None else max(1000, int(PERIOD_US * share))
        if self._v2:
            (self.path / "cpu.max").write_text(f"{quota or 'max'} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota or -1))

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))


def _make() -> CpuCap:
    name = f"dpa-bench-{os.getpid()}"
    if (ROOT / "cgroup.controllers").exists():  # v2, unified
        if "cpu" not in (ROOT / "cgroup.subtree_control").read_text().split():
            (ROOT / "cgroup.subtree_control").write_text("+cpu")
        path = ROOT / name
        path.mkdir()
        return CpuCap(path, v2=True)
    path = ROOT / "cpu" / name
    path.mkdir()
    return CpuCap(path, v2=False)


@contextmanager
def capped(pids: Sequence[int]) -> Iterator[CpuCap | None]:
    """A new control group holding ``pids`` (no quota yet), removed after
    the processes in it have ended; None, with the reason printed, when this
    machine does not let this process make one."""
    try:
        cap = _make()
    except OSError as err:
        print(f"  no CPU quota for the server ({err}): it runs uncapped", flush=True)
        yield None
        return
    try:
        try:
            for pid in pids:
                cap.add(pid)
        except OSError as err:
            print(f"  no CPU quota for the server ({err}): it runs uncapped", flush=True)
            yield None
            return
        yield cap
    finally:
        with suppress(OSError):
            cap.set(None)
        # Empty once the server has stopped; a process still in it keeps it.
        with suppress(OSError):
            cap.path.rmdir()
