"""Bounded latency histograms for the CheckTransfer hot path.

``DECISIONS`` times the decision inside the handler, after the revision
check: the answer memo, and on a miss request conversion, validation,
snapshot lookups and the pure ``decide``, by the wall clock: under load that
includes time the thread waits for the interpreter lock while other calls
run. ``DECISION_CPU`` times the same span by this thread's own CPU clock: the
decision's cost, whatever the machine is doing. Buckets are
logarithmic (about 4.5 % wide), so memory stays fixed however many calls are
recorded; quantiles are read back with that resolution.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

_BUCKETS = 400
_GROWTH = 1.045  # bucket i covers [GROWTH**i, GROWTH**(i+1)) nanoseconds
_LOG_GROWTH = math.log(_GROWTH)


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
        self._lock = threading.Lock()

    def record(self, nanoseconds: int) -> None:
        index = min(_BUCKETS - 1, int(math.log(max(nanoseconds, 1)) / _LOG_GROWTH))
        with self._lock:
            self._counts[index] += 1
            self._max = max(self._max, nanoseconds)

    def reset(self) -> None:
        with self._lock:
            self._counts = [0] * _BUCKETS
            self._max = 0

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding quantile ``q``, in microseconds."""
        with self._lock:
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
        with self._lock:
            count = sum(self._counts)
            top = self._max
        return Summary(count, self.quantile(0.5), self.quantile(0.99), top / 1000)


DECISIONS = Histogram()
DECISION_CPU = Histogram()
