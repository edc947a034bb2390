"""The IVF list rule (`ShardPolicy.nlist`: ≈ 4·√n lists, at least 2 per camera, at least 39
vectors per list, in [16, 8192]), the default probes, and what a node upgraded to the rule does
with trained indexes saved under another list count."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from indexing.frame_columns import CameraCodes, FrameColumns
from indexing.shards import ShardKey, ShardPolicy, ShardTier, TrainedIndex
from indexing.trained_cache import TrainedCache
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from storage.timeutil import DAY_MS
from tests.memory_store import MemoryStore

DIM = 32
DAY0 = 20_000 * DAY_MS
POLICY = ShardPolicy()


@pytest.mark.parametrize(("n", "cameras", "lists"), [
    (50_000, 0, 1024),  # 4·√n = 894: the nearest power of two
    (100_000, 100, 1024),  # 4·√n = 1,265; 2 per camera (200) is fewer
    (143_000, 0, 2048),  # 4·√n = 1,513 (the √n rule gave 512)
    (143_000, 1000, 2048),  # the out-of-distribution benchmark's day shard: 2 lists per camera
    (250_000, 100, 2048),  # the search benchmark's day shard
    (200_000, 1500, 4096),  # 4·√n alone: 2,048 for 1,500 cameras; 2 per camera asks for 3,000
    (60_000, 3000, 1024),  # 2 per camera would be 8,192: ≥ 39 vectors per list caps it at 1,538
    (2_000, 0, 32),  # 4·√n = 179, but 2,000 / 39 = 51
    (100, 0, 16),  # the lower clamp
    (1_000_000, 5000, 8192),  # 2 per camera would be 16,384: the upper clamp
    (100_000_000, 0, 8192),
])
def test_the_list_rule_at_its_boundaries(n: int, cameras: int, lists: int) -> None:
    assert POLICY.nlist(n, cameras) == lists


def test_lists_are_powers_of_two_that_grow_with_vectors_and_cameras() -> None:
    sizes = [624, 1_000, 5_000, 24_000, 50_000, 143_000, 250_000, 1_000_000, 5_000_000, 10**8]
    for cameras in (0, 10, 100, 1_000, 4_000, 10_000):
        got = [POLICY.nlist(n, cameras) for n in sizes]
        assert got == sorted(got)
        for n, lists in zip(sizes, got, strict=True):
            assert lists & (lists - 1) == 0 and 16 <= lists <= 8192
            assert n // lists >= POLICY.min_per_list  # k-means has enough vectors per centroid
    for n in (100_000, 1_000_000):
        by_cameras = [POLICY.nlist(n, c) for c in (0, 100, 1_000, 2_000, 4_000)]
        assert by_cameras == sorted(by_cameras)
    assert POLICY.nlist(1_000_000, 2_000) >= 2 * 2_000  # where the shard is large enough


def test_an_unfiltered_search_probes_a_sixteenth_of_the_lists_and_at_least_nprobe() -> None:
    assert [POLICY.probes(n) for n in (16, 256, 512, 1024, 2048, 8192)] == [16, 16, 32, 64, 128, 512]
    assert ShardPolicy(nprobe=8).probes(16) == 8
    assert ShardPolicy(nprobe=64).probes(32) == 32  # never more lists than there are


def _frames(n: int, cameras: int, seed: int) -> tuple[list[FrameRecord], np.ndarray]:
    world = np.random.default_rng(99)
    scenes = world.standard_normal((cameras, DIM))
    rng = np.random.default_rng(seed)
    cam = np.arange(n) % cameras
    x = scenes[cam] + 0.7 * rng.standard_normal((n, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return [FrameRecord(f"cam-{c}", DAY0 + 1000 * i, DAY0 + 1000 * i + 1000, "s", 0, 1, "t")
            for i, c in enumerate(cam)], x


def test_a_shard_gets_more_lists_when_its_frames_come_from_more_cameras() -> None:
    # √n lists (64 for 4,000 vectors), 2 per camera, ≥ 10 vectors per list (at most 256)
    policy = ShardPolicy(exact_below=2_000, lists_per_root=1.0, min_per_list=10, nprobe=4)
    lists = {}
    for cameras in (4, 40, 100):
        records, x = _frames(4_000, cameras, seed=cameras)
        index = FrameIndex(DIM, policy=policy)
        index.add(records, x)
        index.settle()
        [stats] = index.shard_stats()
        lists[cameras] = stats.lists
        assert stats.ivf and index.search(x[5], 1)[0].record == records[5]
    assert lists == {4: 64, 40: 128, 100: 256}


def test_cameras_are_counted_from_live_frames_only() -> None:
    columns = FrameColumns(DAY0, CameraCodes())
    columns.append([FrameRecord(f"cam-{i % 3}", DAY0 + 1000 * i, DAY0 + 1000 * i + 1000, "s", 0, 1, "t")
                    for i in range(9)])
    assert columns.camera_count() == 3
    columns.remove(np.array([1, 4, 7]))  # every frame of cam-1
    assert columns.camera_count() == 2


@dataclass(frozen=True)
class _SqrtRule(ShardPolicy):
    """The list rule before issue #19: the power of two nearest √n, in [16, 8192]."""

    def nlist(self, n: int, cameras: int = 0) -> int:
        return int(np.clip(2 ** round(np.log2(np.sqrt(max(n, 1)))), 16, 8192))


class _Counting(TrainedCache):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store, "model-a")
        self.loaded: list[tuple[int, bool]] = []

    def load(self, key: ShardKey, tier: ShardTier, nlist: int) -> TrainedIndex | None:
        found = super().load(key, tier, nlist)
        self.loaded.append((nlist, found is not None))
        return found


def test_a_node_upgraded_to_the_list_rule_trains_once_and_keeps_one_trained_index(tmp_path: Path) -> None:
    records, x = _frames(8_000, cameras=40, seed=5)
    store = MemoryStore()
    settings = {"exact_below": 2_000, "compressed_from": 4_000, "pq_m": 8, "pq_train_min": 4_096}
    old = FrameIndex(DIM, policy=_SqrtRule(**settings), vector_cache_dir=tmp_path,
                     trained=TrainedCache(store, "model-a"))
    old.add(records, x)
    old.settle()
    assert old.shard_stats()[0].lists == 64  # √8,000 = 89
    trained = sorted(k for k in store.objects if "/trained/" in k)
    assert [k.rpartition("/")[2] for k in trained] == ["ivf-pq-64.faiss"]
    old.close()

    cache = _Counting(store)  # the upgraded node restarts on the same bucket
    new = FrameIndex(DIM, policy=ShardPolicy(**settings), vector_cache_dir=tmp_path, trained=cache)
    new.add(records, x)
    new.settle()
    [stats] = new.shard_stats()
    assert stats.tier == "ivf-pq" and stats.lists == 128  # 4·√8,000 = 358, 8,000 / 39 = 205
    assert cache.loaded == [(128, False)]  # the old index is not loaded: trained again
    assert [k.rpartition("/")[2] for k in store.objects if "/trained/" in k] == ["ivf-pq-128.faiss"]
    one_camera = SearchFilter(camera_ids=frozenset({"cam-3"}))
    for i in (3, 43, 7_963):
        assert new.search(x[i], 1)[0].record == records[i]
        assert new.search(x[i], 1, one_camera)[0].record == records[i]
    new.close()

    again = _Counting(store)  # a second restart loads what the first one saved
    restarted = FrameIndex(DIM, policy=ShardPolicy(**settings), vector_cache_dir=tmp_path,
                           trained=again)
    restarted.add(records, x)
    restarted.settle()
    assert again.loaded == [(128, True)]
    restarted.close()


def _recall(index: FrameIndex, records: list[FrameRecord], x: np.ndarray, queries: np.ndarray) -> float:
    found = 0
    for q in queries:
        true = {records[i].time_ms for i in np.argsort(-(x @ q))[:10]}
        found += len(true & {h.record.time_ms for h in index.search(q, 10)})
    return found / (10 * len(queries))


def test_candidates_within_the_pq_error_of_the_kth_are_re_ranked(tmp_path: Path) -> None:
    """Random directions score every frame alike, so PQ's error reorders them: a fixed 10
    candidates miss a third of the true top 10; those within the margin find them."""
    records, x = _frames(8_000, cameras=40, seed=5)
    queries = np.random.default_rng(3).standard_normal((60, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = {}
    for margin in (0.0, ShardPolicy().rerank_margin):
        policy = ShardPolicy(exact_below=2_000, compressed_from=4_000, pq_m=8, pq_train_min=4_096, rerank=10,
                             rerank_per_hit=1, probe_share=1.0, rerank_margin=margin)  # every list probed
        index = FrameIndex(DIM, policy=policy, vector_cache_dir=tmp_path)
        index.add(records, x)
        index.settle()
        assert index.shard_stats()[0].tier == "ivf-pq"
        recall[margin] = _recall(index, records, x, queries)
        index.close()
    assert recall[0.0] < 0.8 and recall[ShardPolicy().rerank_margin] >= 0.95, recall
