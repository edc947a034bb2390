"""The sharded index: IVF shards, filtered recall, routing by day and group, growth, replay,
the compressed tier (IVF-PQ re-ranked against a float16 vector file), searches during
background rebuilds, and trained indexes reused after a restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np

from indexing.shards import ShardKey, ShardPolicy, ShardTier, TrainedIndex
from indexing.stored_index import IndexLog
from indexing.trained_cache import TrainedCache
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from storage.object_store import ObjectInfo, ObjectStore
from storage.timeutil import DAY_MS
from tests.memory_store import MemoryStore

DIM = 32
SMALL = ShardPolicy(exact_below=2_000, nprobe=8)
# IVF-SQ8 from 2k vectors, IVF-PQ (8 bytes a vector) + re-rank from 4k, when a cache directory is given
COMPRESSED = ShardPolicy(exact_below=2_000, compressed_from=4_000, nprobe=8, pq_m=8, pq_train_min=4_096)
DAY0 = 20_000 * DAY_MS  # a UTC midnight


def _clustered(n: int, cameras: int, seed: int) -> tuple[list[FrameRecord], np.ndarray]:
    """Vectors near their camera's scene plus one of 50 shared concepts, like CCTV embeddings."""
    world = np.random.default_rng(99)
    scenes, concepts = world.standard_normal((cameras, DIM)), world.standard_normal((50, DIM))
    rng = np.random.default_rng(seed)
    cam = np.arange(n) % cameras
    x = scenes[cam] + 0.7 * concepts[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    records = [FrameRecord(f"cam-{c}", DAY0 + 1000 * i, DAY0 + 1000 * i + 1000, "s", 0, 1, "t")
               for i, c in enumerate(cam)]
    return records, x


def _recall(index: FrameIndex, records: list[FrameRecord], x: np.ndarray, queries: np.ndarray,
            where: SearchFilter) -> float:
    allowed = np.array([i for i, r in enumerate(records) if where.allows(r)])
    found = 0
    for q in queries:
        exact = {records[i].time_ms for i in allowed[np.argsort(-(x[allowed] @ q))[:10]]}
        found += len(exact & {h.record.time_ms for h in index.search(q, 10, where)})
    return found / (10 * len(queries))


def test_filtered_ivf_recall_matches_unfiltered_recall() -> None:
    records, x = _clustered(20_000, cameras=20, seed=1)
    index = FrameIndex(DIM, policy=SMALL)
    index.add(records, x)
    assert [s.ivf for s in index.shard_stats()] == [True]
    queries = _clustered(100, cameras=20, seed=2)[1]
    unfiltered = _recall(index, records, x, queries, SearchFilter())
    one_camera = SearchFilter(camera_ids=frozenset({"cam-3"}))
    window = SearchFilter(camera_ids=frozenset({"cam-3", "cam-4"}), start_ms=DAY0, end_ms=DAY0 + 5_000_000)
    half = SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, 20, 2)))  # too many to scan all
    assert unfiltered >= 0.9
    for where in (one_camera, window, half):
        assert _recall(index, records, x, queries, where) >= unfiltered - 0.02


def test_filtered_search_fills_top_k_in_an_ivf_shard() -> None:
    records, x = _clustered(5_000, cameras=50, seed=3)
    index = FrameIndex(DIM, policy=SMALL)
    index.add(records, x)
    hits = index.search(x[0], 10, SearchFilter(camera_ids=frozenset({"cam-7"})))
    assert len(hits) == 10 and {h.record.camera_id for h in hits} == {"cam-7"}


def test_shards_split_by_day_and_group_and_searches_go_only_where_frames_can_match() -> None:
    records, x = _clustered(400, cameras=4, seed=4)
    moved = [FrameRecord(r.camera_id, r.time_ms + (i % 2) * DAY_MS, r.end_ms + (i % 2) * DAY_MS,
                         "s", 0, 1, "t") for i, r in enumerate(records)]
    index = FrameIndex(DIM, group_of=lambda camera: "north" if camera in {"cam-0", "cam-1"} else "south")
    index.add(moved, x)
    assert [(s.group, s.day) for s in index.shard_stats()] == [
        ("north", DAY0 // DAY_MS), ("north", DAY0 // DAY_MS + 1),
        ("south", DAY0 // DAY_MS), ("south", DAY0 // DAY_MS + 1)]
    day1 = SearchFilter(camera_ids=frozenset({"cam-1", "cam-2"}), start_ms=DAY0 + DAY_MS)
    hits = index.search(x[5], 400, day1)
    assert len(hits) == sum(day1.allows(r) for r in moved) and all(day1.allows(h.record) for h in hits)
    assert len(index.search(x[5], 1000)) == 400


def test_a_growing_shard_is_retrained_and_keeps_its_recall() -> None:
    records, x = _clustered(9_000, cameras=10, seed=5)
    index = FrameIndex(DIM, policy=SMALL)
    for start in range(0, 9_000, 500):  # crosses 2k (IVF), 4k and 8k (retrains)
        index.add(records[start:start + 500], x[start:start + 500])
    assert len(index) == 9_000 and index.shard_stats()[0].ivf
    assert _recall(index, records, x, _clustered(50, 10, seed=6)[1], SearchFilter()) >= 0.9


def test_deleted_frames_leave_an_ivf_shard() -> None:
    records, x = _clustered(4_000, cameras=4, seed=7)
    index = FrameIndex(DIM, policy=SMALL)
    index.add(records, x)
    assert index.delete_range("cam-1", DAY0, DAY0 + DAY_MS) == 1_000
    assert len(index) == 3_000 and not index.contains("cam-1", records[1].time_ms)
    assert all(h.record.camera_id != "cam-1" for h in index.search(x[1], 50))


class _MemoryStore:
    """The three `ObjectStore` calls `IndexLog` makes, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return iter([ObjectInfo(k, len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)])


def test_replay_rebuilds_ivf_shards_from_the_log() -> None:
    records, x = _clustered(5_000, cameras=5, seed=8)
    log = IndexLog(cast(ObjectStore, _MemoryStore()), "m")
    live = FrameIndex(DIM, policy=SMALL)
    for start in range(0, 5_000, 1_000):
        log.append(f"b{start:05d}", records[start:start + 1_000], x[start:start + 1_000])
        live.add(records[start:start + 1_000], x[start:start + 1_000])
    log.delete_range(live, "cam-2", DAY0, DAY0 + DAY_MS)
    restarted = FrameIndex(DIM, policy=SMALL)
    assert log.replay(restarted) == 4_000
    restarted.settle()  # retrains run in the background: when they happen depends on timing
    assert restarted.shard_stats()[0].ivf
    for i, v in enumerate(x[:20]):
        hits = restarted.search(v, 5)
        assert all(h.record.camera_id != "cam-2" for h in hits)
        if records[i].camera_id != "cam-2":
            assert hits[0].record == records[i] == live.search(v, 5)[0].record


def test_nprobe_is_per_call_and_leaves_the_shared_index_alone() -> None:
    records, x = _clustered(10_000, cameras=20, seed=9)
    index = FrameIndex(DIM, policy=SMALL)
    index.add(records, x)
    queries = _clustered(50, cameras=20, seed=10)[1]
    before = [[h.record for h in index.search(q, 10)] for q in queries]
    assert _recall(index, records, x, queries, SearchFilter()) > 0.9
    narrow = sum(len({h.record for h in index.search(q, 10, nprobe=1)} & set(b))
                 for q, b in zip(queries, before, strict=True))
    assert narrow < 10 * len(queries)  # one list finds less than the default's eight
    assert [[h.record for h in index.search(q, 10)] for q in queries] == before


def test_compressed_tier_recall_matches_exact_search_with_and_without_filters(tmp_path: Path) -> None:
    records, x = _clustered(20_000, cameras=20, seed=11)
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)
    index.add(records, x)
    [stats] = index.shard_stats()
    assert stats.tier == "ivf-pq" and stats.disk_bytes == 20_000 * DIM * 2
    assert stats.bytes < 20_000 * (DIM + 8)  # less RAM than SQ8 codes and ids alone
    queries = _clustered(100, cameras=20, seed=12)[1]
    one_camera = SearchFilter(camera_ids=frozenset({"cam-3"}))
    window = SearchFilter(camera_ids=frozenset({"cam-3", "cam-4"}), start_ms=DAY0, end_ms=DAY0 + 5_000_000)
    half = SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, 20, 2)))
    for where in (SearchFilter(), one_camera, window, half):
        assert _recall(index, records, x, queries, where) >= 0.95
    hits = index.search(queries[0], 10, one_camera)
    assert len(hits) == 10 and {h.record.camera_id for h in hits} == {"cam-3"}
    best = index.search(x[7], 1)[0]  # scores are exact inner products, not PQ estimates
    assert best.record == records[7] and abs(best.score - 1.0) < 1e-3


def test_a_growing_shard_moves_to_the_compressed_tier_and_keeps_its_recall(tmp_path: Path) -> None:
    records, x = _clustered(9_000, cameras=10, seed=13)
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)
    tiers = []
    for start in range(0, 9_000, 1_000):  # 2k: SQ8; 4k: PQ; 8k: PQ retrained from the file
        index.add(records[start:start + 1_000], x[start:start + 1_000])
        index.settle()
        tiers.append(index.shard_stats()[0].tier)
    assert tiers[:4] == ["exact", "ivf-sq8", "ivf-sq8", "ivf-pq"] and set(tiers[4:]) == {"ivf-pq"}
    assert len(index) == 9_000
    assert _recall(index, records, x, _clustered(50, 10, seed=14)[1], SearchFilter()) >= 0.95


def test_deleted_frames_leave_a_compressed_shard(tmp_path: Path) -> None:
    records, x = _clustered(8_000, cameras=4, seed=15)
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)
    index.add(records, x)
    assert index.shard_stats()[0].tier == "ivf-pq"
    assert index.delete_range("cam-1", DAY0, DAY0 + DAY_MS) == 2_000
    assert len(index) == 6_000 and not index.contains("cam-1", records[1].time_ms)
    assert all(h.record.camera_id != "cam-1" for h in index.search(x[1], 50))
    assert index.search(x[2], 1)[0].record == records[2]


def test_closing_an_index_deletes_its_vector_files(tmp_path: Path) -> None:
    records, x = _clustered(5_000, cameras=5, seed=16)
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)
    other = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)  # same directory, own files
    index.add(records, x)
    other.add(records[:100], x[:100])
    assert len(list(tmp_path.rglob("*.f16"))) == 2
    index.close()
    assert len(list(tmp_path.rglob("*.f16"))) == 1
    assert [h.record for h in other.search(x[0], 1)] == [records[0]]


class _GatedTraining:
    """A `TrainedStore` with nothing saved whose `load` (the first step of every build) waits
    for `gate`: a build stays under way until the test lets it go on."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def load(self, key: ShardKey, tier: ShardTier, nlist: int) -> TrainedIndex | None:
        self.gate.wait(timeout=60)
        return None

    def save(self, key: ShardKey, tier: ShardTier, nlist: int, trained: TrainedIndex) -> None:
        return None


def test_searches_during_retrains_find_every_acknowledged_frame(tmp_path: Path) -> None:
    records, x = _clustered(9_000, cameras=10, seed=17)
    training = _GatedTraining()
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path, trained=training)
    acknowledged, done, missed, during_builds = [0], threading.Event(), [], [0]

    def writer() -> None:
        try:
            for start in range(0, 9_000, 250):  # builds at 2k (SQ8), 4k (PQ) and 8k
                index.add(records[start:start + 250], x[start:start + 250])
                acknowledged[0] = start + 250
        finally:
            done.set()
            training.gate.set()

    thread = threading.Thread(target=writer)
    thread.start()
    rng = np.random.default_rng(18)
    for _ in range(100_000):  # bounded; ends when the writer is done
        if done.is_set():
            break
        n = acknowledged[0]
        if n == 0:
            done.wait(0.01)  # the first batch is being added
            continue
        building = index.shard_stats()[0].building
        for i in (n - 1, int(rng.integers(0, n))):  # the newest acknowledged frame and any other
            if records[i] not in {h.record for h in index.search(x[i], 10)}:
                missed.append(i)
        during_builds[0] += building
        if during_builds[0] >= 20:
            training.gate.set()  # let the build finish once searches have run during it
    thread.join()
    index.settle()
    assert not missed
    assert during_builds[0] >= 20
    assert len(index) == 9_000 and index.shard_stats()[0].tier == "ivf-pq"
    assert _recall(index, records, x, _clustered(50, 10, seed=19)[1], SearchFilter()) >= 0.95


def test_frames_deleted_during_a_build_stay_deleted(tmp_path: Path) -> None:
    records, x = _clustered(6_000, cameras=4, seed=20)
    training = _GatedTraining()
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path, trained=training)
    index.add(records[:3_000], x[:3_000])  # exact, and a build under way (held at the gate)
    assert index.shard_stats()[0].building
    assert index.delete_range("cam-1", DAY0, DAY0 + DAY_MS) == 750
    index.add(records[3_000:3_500], x[3_000:3_500])  # cam-1's new frames stay
    training.gate.set()
    index.settle()
    assert index.shard_stats()[0].tier == "ivf-sq8" and len(index) == 2_750
    for i in (1, 5, 3_001):
        hits = index.search(x[i], 10)
        assert {h.record.camera_id for h in hits if h.record.time_ms < records[3_000].time_ms} <= {
            "cam-0", "cam-2", "cam-3"}
    assert index.search(x[3_001], 1)[0].record == records[3_001]
    index.close()


class _CountingCache(TrainedCache):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store, "model-a")
        self.loaded = self.saved = 0

    def load(self, key: ShardKey, tier: ShardTier, nlist: int) -> TrainedIndex | None:
        found = super().load(key, tier, nlist)
        self.loaded += found is not None
        return found

    def save(self, key: ShardKey, tier: ShardTier, nlist: int, trained: TrainedIndex) -> None:
        self.saved += 1
        super().save(key, tier, nlist, trained)


def test_a_restarted_index_reuses_the_trained_index_and_answers_the_same(tmp_path: Path) -> None:
    records, x = _clustered(20_000, cameras=20, seed=21)
    store = MemoryStore()
    first = _CountingCache(store)
    live = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path, trained=first)
    live.add(records, x)  # a bulk load: waits for its build
    assert (first.loaded, first.saved) == (0, 1) and live.shard_stats()[0].tier == "ivf-pq"
    assert any("/trained/" in k for k in store.objects)
    again = _CountingCache(store)  # a restart on the same bucket: trained, not training
    restarted = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path, trained=again)
    restarted.add(records[::-1], x[::-1])  # snapshots may come back in another order
    assert (again.loaded, again.saved) == (1, 0)
    fresh = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)  # no cache: trains again
    fresh.add(records, x)
    queries = _clustered(30, cameras=20, seed=22)[1]
    one_camera = SearchFilter(camera_ids=frozenset({"cam-3"}))
    for q in queries:
        for where in (SearchFilter(), one_camera):
            ours = [(h.record, round(h.score, 5)) for h in restarted.search(q, 10, where)]
            assert ours == [(h.record, round(h.score, 5)) for h in live.search(q, 10, where)]
    assert _recall(fresh, records, x, queries, SearchFilter()) >= 0.95
    other = TrainedCache(store, "model-b")  # another model's index never gets these codebooks
    assert other.load(ShardKey.of("", DAY0), ShardTier.PQ, 128) is None


def test_duplicates_in_a_batch_leave_every_frame_its_own_vector_in_the_file(tmp_path: Path) -> None:
    records, x = _clustered(6_000, cameras=6, seed=23)
    index = FrameIndex(DIM, policy=COMPRESSED, vector_cache_dir=tmp_path)
    index.add(records[:1_000], x[:1_000])
    assert index.add(records[500:1_500], x[500:1_500]) == 500  # half of them already there
    index.add(records[1_500:], x[1_500:])  # builds IVF-PQ from the vector file, re-ranks against it
    index.settle()
    assert index.shard_stats()[0].tier == "ivf-pq"
    for i in (0, 999, 1_000, 1_200, 1_499, 5_999):
        best = index.search(x[i], 1)[0]
        assert best.record == records[i] and abs(best.score - 1.0) < 1e-3
