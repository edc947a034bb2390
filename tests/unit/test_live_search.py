"""The live-capacity benchmark's search for the largest K a node holds (pure logic, no streams)."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.live import Trial, search


def _node_holding(capacity: int) -> tuple[list[int], Callable[[int], Trial]]:
    tried: list[int] = []

    def run(k: int) -> Trial:
        tried.append(k)
        return Trial(k, held=k <= capacity)

    return tried, run


def test_doubling_then_bisection_ends_within_an_eighth_of_the_capacity() -> None:
    tried, run = _node_holding(27)
    held, trials = search(run, max_k=64, max_trials=10)
    assert tried[:6] == [1, 2, 4, 8, 16, 32] and len(trials) == len(tried)
    assert held <= 27 and 27 - held <= held // 8 and held in tried


def test_the_doubling_may_start_higher_and_still_bisect_below_its_start() -> None:
    tried, run = _node_holding(12)
    held, _ = search(run, max_k=64, max_trials=10, min_k=16)
    assert tried[0] == 16 and held <= 12 and 12 - held <= max(1, held // 8)


def test_the_search_stops_at_its_trial_budget_with_the_largest_k_seen_held() -> None:
    tried, run = _node_holding(1000)
    held, trials = search(run, max_k=64, max_trials=3, min_k=8)
    assert tried == [8, 16, 32] and held == 32 and len(trials) == 3
