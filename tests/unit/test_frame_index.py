"""The in-memory frame index: filtered search is exact, adding a frame twice keeps one copy."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.errors import VectorsElsewhereError
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


def test_a_records_only_index_knows_what_is_indexed_but_holds_no_vector() -> None:
    """A partitioned front end's index: what ingest, retention and model switches ask of it works,
    in RAM it keeps the records alone, and a search through it is refused by name."""
    whole, vectors = _random_index(3000, 32, cameras=3, seed=3)
    records = list(whole.records())
    index = FrameIndex(32, vectors=False)
    assert index.add(records, vectors) == 3000
    assert index.add(records[:10], vectors[:10]) == 0  # the same frames again: none new
    assert len(index) == 3000 and index.contains("cam-1", 1000) and index.holds(records[5])
    assert not index.contains("cam-1", 2000)  # that time is cam-2's frame
    assert index.delete_range("cam-1", 0, 300_000) == 100
    assert len(index) == 2900 and not index.contains("cam-1", 1000)
    assert list(index.records()) == [r for r in records
                                     if not (r.camera_id == "cam-1" and r.time_ms < 300_000)]
    stats = index.shard_stats()
    assert {s.tier for s in stats} == {"records"} and sum(s.bytes + s.disk_bytes for s in stats) == 0
    assert sum(s.record_bytes for s in stats) > 0
    for call in (lambda: index.search(vectors[0], 5), lambda: index.vector("cam-0", 0),
                 lambda: index.sample(10)):
        with pytest.raises(VectorsElsewhereError, match="shard servers"):
            call()
