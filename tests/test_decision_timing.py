"""The CheckTransfer decision histograms sample one decision in
``SAMPLE_EVERY`` on both clocks, and count every decision."""

from __future__ import annotations

from registry.transfers import timing


def test_one_decision_in_sample_every_is_timed_and_every_one_is_counted() -> None:
    timing.DECISIONS.reset()
    timing.DECISION_CPU.reset()
    before = timing.decisions()
    started = [timing.start() for _ in range(2 * timing.SAMPLE_EVERY)]
    for s in started:
        timing.record(s)
    sampled = [s for s in started if s is not None]
    assert len(sampled) == 2
    assert timing.decisions() == before + 2 * timing.SAMPLE_EVERY
    assert timing.DECISIONS.summary().count == 2
    assert timing.DECISION_CPU.summary().count == 2
    wall_started, cpu_started = sampled[0]
    assert wall_started > 0 and cpu_started > 0


def test_a_decision_not_sampled_records_nothing() -> None:
    timing.DECISIONS.reset()
    timing.DECISION_CPU.reset()
    timing.record(None)
    assert timing.DECISIONS.summary().count == 0
    assert timing.DECISION_CPU.summary().count == 0
