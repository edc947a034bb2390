"""A search's shards scanned side by side (`indexing.concurrency.fan_out`): results in the calls'
order, an error raised only once every call has ended (the caller's view lock covers them all),
and a fan-out from a search thread runs inline instead of waiting on its own pool."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from indexing import concurrency
from indexing.concurrency import fan_out
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from storage.timeutil import DAY_MS


def test_results_come_in_the_order_of_the_calls() -> None:
    calls = [lambda i=i: (time.sleep(0.01 * (5 - i)), i)[1] for i in range(6)]
    assert fan_out(calls) == list(range(6))


def test_an_error_is_raised_after_every_call_has_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(concurrency, "SEARCH_THREADS", 4)
    ended = threading.Event()

    def slow() -> int:
        time.sleep(0.2)
        ended.set()
        return 1

    def fail() -> int:
        raise ValueError("shard broke")

    with pytest.raises(ValueError, match="shard broke"):
        fan_out([fail, slow])
    assert ended.is_set()


def test_a_fan_out_inside_a_fan_out_runs_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(concurrency, "SEARCH_THREADS", 2)  # one pool thread: nesting would deadlock
    inner = [lambda: fan_out([lambda: 1, lambda: 2]) for _ in range(3)]
    assert fan_out(inner) == [[1, 2]] * 3


def test_a_search_over_several_day_shards_equals_exact_search() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    records = [FrameRecord(f"cam-{i % 7}", (i % 5) * DAY_MS + 1000 * i, (i % 5) * DAY_MS + 1000 * i + 1,
                           "s", 0, 1, "t") for i in range(len(x))]
    index = FrameIndex(32)
    index.add(records, x)
    assert len(index.shard_stats()) == 5
    for q in x[:20] + 0.05:
        hits = index.search(q, 10, SearchFilter(camera_ids=frozenset({"cam-2", "cam-3"})))
        allowed = [i for i, r in enumerate(records) if r.camera_id in {"cam-2", "cam-3"}]
        best = sorted(allowed, key=lambda i: -float(x[i] @ q))[:10]
        assert [(h.record.camera_id, h.record.time_ms) for h in hits] == [
            (records[i].camera_id, records[i].time_ms) for i in best]
