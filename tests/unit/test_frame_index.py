"""The in-memory frame index: filtered search is exact, adding a frame twice keeps one copy."""

from __future__ import annotations

import numpy as np

from indexing.frame_columns import Box, FrameKey
from indexing.shards import ShardKey
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter


def _random_index(n: int, dim: int, cameras: int, seed: int) -> tuple[FrameIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [FrameRecord(f"cam-{i % cameras}", 1000 * i, 1000 * i + 1000, "s", 0, 1, "t") for i in range(n)]
    index = FrameIndex(dim)
    index.add(records, vectors)
    return index, vectors


def test_filtered_search_fills_top_k_with_the_best_allowed_frames() -> None:
    index, vectors = _random_index(2000, 32, cameras=10, seed=1)
    query = vectors[7] + 0.1
    where = SearchFilter(camera_ids=frozenset({"cam-3"}), start_ms=200_000, end_ms=1_500_000)
    hits = index.search(query, 10, where)
    allowed = [i for i, r in enumerate(index.records()) if where.allows(r)]
    exact = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:10]
    assert [h.record.time_ms for h in hits] == [1000 * i for i in exact]


def test_adding_the_same_frames_twice_keeps_one_copy() -> None:
    index, vectors = _random_index(50, 8, cameras=2, seed=2)
    assert index.add(list(index.records()), vectors) == 0
    assert len(index) == 50


def test_what_ingest_and_model_switches_ask_is_answered_frame_by_frame_and_shard_by_shard() -> None:
    """A keyframe is indexed when a stored keyframe's span covers its time (deduplicated static
    footage), a region only when that exact box is stored; a shard's records come alone."""
    day = 86_400_000
    box = Box.snapped(0.1, 0.1, 0.3, 0.4)
    records = [FrameRecord("cam-a", day - 2000, day + 5000, "s", 0, 1, "t"),  # spans midnight
               FrameRecord("cam-a", day + 9000, day + 10_000, "s", 0, 1, "t"),
               FrameRecord("cam-a", day + 9000, day + 10_000, "s", 0, 1, "t", box)]
    index = FrameIndex(8)
    index.add(records, np.eye(8, dtype=np.float32)[:3])
    other = Box.snapped(0.5, 0.5, 0.6, 0.6)
    asked = [FrameKey("cam-a", day + 3000), FrameKey("cam-a", day + 6000), FrameKey("cam-b", day + 3000),
             FrameKey("cam-a", day + 9000, box), FrameKey("cam-a", day + 9000, other), records[1].key]
    assert index.indexed(asked) == [True, False, False, True, False, True]
    assert [k.day for k in index.shard_keys()] == [0, 1]
    assert index.records([ShardKey("", 1)]) == records[1:] and index.records([ShardKey("", 7)]) == []
