"""Server CPU time from the server process's own counter, read from outside.

Linux keeps every process's CPU time (all its threads, live and exited) in
nanoseconds and lets another process read it through the process's CPU
clock, ``clock_gettime`` on the clock id the C library's
``clock_getcpuclockid`` returns. ``/proc/<pid>/stat`` reports the same time
in clock ticks (10 ms here), too coarse for runs of a third of a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterable


def _clock_of(pid: int) -> int:
    """The CPU-time clock id of process ``pid`` (the kernel's
    ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``, which glibc's
    ``clock_getcpuclockid`` returns)."""
    return ((~pid) << 3) | 2


def seconds(pids: Iterable[int]) -> float:
    """CPU seconds the processes have used so far; a process that has
    already exited counts nothing."""
    total = 0
    for pid in pids:
        try:
            total += time.clock_gettime_ns(_clock_of(pid))
        except OSError:
            continue
    return total / 1e9
