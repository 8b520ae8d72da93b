"""Bounded latency histograms for the CheckTransfer hot path.

``DECISIONS`` times the decision inside the handler, after the revision
check: the answer memo, and on a miss request conversion, validation,
snapshot lookups and the pure ``decide``, by the wall clock: under load that
includes time the thread waits for the interpreter lock while other calls
run. ``DECISION_CPU`` times the same span by this thread's own CPU clock: the
decision's cost, whatever the machine is doing. Both sample one decision in
``SAMPLE_EVERY``: reading a thread's CPU clock is a system call (about 0.4
us in a quiet process; under load on a virtual machine two of them per call
measured about a tenth of a CheckTransfer's server CPU), and the other 15
decisions read no clock and take no lock (docs/transfers.md has what that
saved, measured side by side). A sample of one in 16 gives the same
quantiles over the thousands of calls a second the hot path serves. Buckets
are logarithmic (about 4.5 % wide), so memory stays fixed however many
calls are recorded; quantiles are read back with that resolution.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass

_BUCKETS = 400
_GROWTH = 1.045  # bucket i covers [GROWTH**i, GROWTH**(i+1)) nanoseconds
_SCALE = 1 / math.log(_GROWTH)
_lock = threading.Lock()
"""Guards every histogram here: a decision takes it once for both clocks."""


def _index(nanoseconds: int) -> int:
    index = int(math.log(nanoseconds if nanoseconds > 1 else 1) * _SCALE)
    return index if index < _BUCKETS else _BUCKETS - 1


@dataclass(frozen=True)
class Summary:
    count: int
    p50_us: float
    p99_us: float
    max_us: float


class Histogram:
    def __init__(self) -> None:
        self._counts = [0] * _BUCKETS
        self._max = 0

    def reset(self) -> None:
        with _lock:
            self._counts = [0] * _BUCKETS
            self._max = 0

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q``, in microseconds."""
        with _lock:
            counts = list(self._counts)
        total = sum(counts)
        if total == 0:
            return 0.0
        rank = q * total
        seen = 0
        for i, n in enumerate(counts):
            seen += n
            if seen >= rank:
                return float(_GROWTH ** (i + 1)) / 1000
        return self._max / 1000

    def summary(self) -> Summary:
        with _lock:
            count = sum(self._counts)
            top = self._max
        return Summary(count, self.quantile(0.5), self.quantile(0.99), top / 1000)


DECISIONS = Histogram()
DECISION_CPU = Histogram()


SAMPLE_EVERY = 16
_decisions = itertools.count()

Started = tuple[int, int]
"""The wall clock and this thread's CPU clock (ns) when a sampled decision began."""


def start() -> Started | None:
    """The clocks now when the decision about to start is one the histograms
    sample, else None (and no clock is read)."""
    if next(_decisions) % SAMPLE_EVERY:
        return None
    return time.perf_counter_ns(), time.thread_time_ns()


def record(started: Started | None) -> None:
    """Records a sampled decision (``started`` from :func:`start`) in both
    histograms, under one lock; a decision not sampled costs nothing here."""
    if started is None:
        return
    wall_ns = time.perf_counter_ns() - started[0]
    cpu_ns = time.thread_time_ns() - started[1]
    wall, cpu = _index(wall_ns), _index(cpu_ns)
    with _lock:
        DECISIONS._counts[wall] += 1
        DECISIONS._max = max(DECISIONS._max, wall_ns)
        DECISION_CPU._counts[cpu] += 1
        DECISION_CPU._max = max(DECISION_CPU._max, cpu_ns)


def decisions() -> int:
    """Decisions started since the process began, sampled or not."""
    # ``count`` shows its next value, and reading it so takes nothing from it.
    return int(repr(_decisions)[len("count(") : -1])
