"""Index compaction: snapshot runs per shard, the log since, tombstones kept; kill -9 at any step."""

from __future__ import annotations

import copy
import io
import json
import zlib
from collections.abc import Callable
from typing import cast

import numpy as np
import pytest

from indexing.frame_columns import Box
from indexing.index_codec import FrameBatch, Tombstone, TombstoneSet, decode_batch, encode_batch
from indexing.index_snapshots import Compactor, Run, runs_to_merge
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, FrameRecord
from storage import keys
from storage.object_store import ObjectStore
from storage.timeutil import DAY_MS
from tests.memory_store import Crash, CrashAt, MemoryStore

DIM = 16
DAY0 = 20_000 * DAY_MS
MODEL = "m"
Frames = dict[tuple[str, int, Box | None], tuple[FrameRecord, np.ndarray]]


def _frames(camera: str, start_ms: int, n: int, regions: int = 0) -> tuple[list[FrameRecord], np.ndarray]:
    """Keyframes every 2 s, each whole and as `regions` regions; a frame's record and vector depend
    only on its camera, time and box, so a batch logged again (a re-ingest) repeats them exactly."""
    spots = [(t, k) for t in (start_ms + 2000 * i for i in range(n)) for k in range(regions + 1)]
    records = [FrameRecord(camera, t, t + 2000, f"seg/{camera}/{t // 10_000}", t - t % 10_000,
                           t - t % 10_000 + 10_000, f"thumb/{camera}/{t}",
                           Box.snapped(0.2 * k, 0.1, 0.2 * k + 0.3, 0.6) if k else None) for t, k in spots]
    x = np.stack([np.random.default_rng([zlib.crc32(camera.encode()), t, k]).normal(size=DIM)
                  for t, k in spots])
    return records, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class World:
    """Writes through `IndexLog` and keeps what a load must return: frames added, minus deletions."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.log = IndexLog(cast(ObjectStore, store), MODEL)
        self.expected: Frames = {}

    def append(self, camera: str, start_ms: int, n: int, regions: int = 0) -> None:
        records, x = _frames(camera, start_ms, n, regions)
        self.log.append(f"{camera}-{start_ms}", records, x)
        for r, v in zip(records, x, strict=True):
            self.expected.setdefault((r.camera_id, r.time_ms, r.box), (r, v))

    def delete(self, camera: str, start_ms: int, end_ms: int) -> None:
        self.log.add_tombstones([Tombstone(camera, start_ms, end_ms)])
        self.expected = {k: v for k, v in self.expected.items()
                         if not (k[0] == camera and start_ms <= k[1] < end_ms)}

    def compactor(self) -> Compactor:
        return Compactor(cast(ObjectStore, self.store), MODEL, DIM)

    def assert_loads_expected(self) -> None:
        index = FrameIndex(DIM)
        assert IndexLog(cast(ObjectStore, self.store), MODEL).replay(index) == len(self.expected)
        assert sorted(index.records(), key=_key) == sorted((r for r, _ in self.expected.values()), key=_key)
        for record, vector in self.expected.values():  # each frame's own vector, not another's
            assert index.search(vector, 1)[0].record == record


def _key(r: FrameRecord) -> tuple[str, int, tuple[float, ...]]:
    return r.camera_id, r.time_ms, () if r.box is None else (r.box.x0, r.box.y0, r.box.x1, r.box.y1)


def _history(store: MemoryStore) -> World:
    """Runs from a first compaction, then new batches (one re-ingesting frames, one across
    midnight) and deletions touching both runs and new batches."""
    w = World(store)
    w.append("cam-a", DAY0, 12)
    w.append("cam-b", DAY0 + 10_000, 12, regions=2)
    w.append("cam-a", DAY0 + DAY_MS, 6)
    w.compactor().compact()
    w.append("cam-a", DAY0 + DAY_MS - 6_000, 8, regions=1)  # crosses into day 1, overlaps a run
    w.append("cam-a", DAY0, 4)  # a re-ingest
    w.append("cam-b", DAY0 + DAY_MS + 50_000, 3)  # day 1 now has more new frames than its run: merged
    w.append("cam-b", DAY0 + 100_000, 5)
    w.delete("cam-a", DAY0 + 4_000, DAY0 + 12_000)  # in a run
    w.delete("cam-b", DAY0 + 102_000, DAY0 + 106_000)  # in a new batch
    return w


def _fork(w: World) -> World:
    twin = World(MemoryStore())
    twin.store.objects = dict(w.store.objects)
    twin.expected = copy.copy(w.expected)
    return twin


def _writes(w: World) -> int:
    counter = CrashAt(-1)
    twin = _fork(w)
    twin.store.before_write = counter
    twin.compactor().compact()
    return counter.writes


def test_compaction_folds_the_log_into_runs_and_loads_the_same_frames() -> None:
    w = _history(MemoryStore())
    w.assert_loads_expected()
    report = w.compactor().compact()
    assert report.batches == 4 and report.tombstones == 2
    assert not w.store.keys(keys.index_log_prefix(MODEL))
    assert [k.rsplit("/", 1)[1][:4] for k in w.store.keys(keys.index_tombstone_prefix(MODEL))] == ["set-"]
    prefix = keys.index_snapshot_prefix(MODEL)
    shards = {Run.parse(k, prefix).shard for k in w.store.keys(prefix)}
    assert shards == {ShardKey("", DAY0 // DAY_MS), ShardKey("", DAY0 // DAY_MS + 1)}
    w.assert_loads_expected()


def test_a_kill_at_any_step_of_compaction_loses_resurrects_and_duplicates_nothing() -> None:
    base = _history(MemoryStore())
    steps = _writes(base)
    assert steps >= 8  # runs written, logs and runs deleted, tombstone set written, tombstones deleted
    for n in range(steps):
        w = _fork(base)
        w.store.before_write = CrashAt(n)
        with pytest.raises(Crash):
            w.compactor().compact()
        w.store.before_write = None
        w.assert_loads_expected()  # the node restarted after the kill
        w.compactor().compact()  # the next compaction finishes the job
        w.assert_loads_expected()
        assert not w.store.keys(keys.index_log_prefix(MODEL))


def test_concurrent_compactors_and_writers_lose_nothing() -> None:
    base = _history(MemoryStore())
    for n in range(_writes(base)):
        w = _fork(base)
        w.store.before_write = _once_at(n, lambda w=w: _interleave(w))
        w.compactor().compact()
        w.store.before_write = None
        w.assert_loads_expected()
        w.compactor().compact()
        w.assert_loads_expected()


def _interleave(w: World) -> None:
    """Another node writes a batch and a deletion, and another compactor runs to the end."""
    hook, w.store.before_write = w.store.before_write, None
    w.append("cam-c", DAY0 + 50_000, 4)
    w.delete("cam-b", DAY0 + 10_000, DAY0 + 14_000)
    w.compactor().compact()
    w.store.before_write = hook


def _once_at(n: int, action: Callable[[], None]) -> Callable[[str, str], None]:
    count = [0]

    def hook(op: str, key: str) -> None:
        count[0] += 1
        if count[0] - 1 == n:
            action()
    return hook


def test_a_load_racing_a_compaction_finds_the_runs_that_replaced_the_log() -> None:
    w = _history(MemoryStore())
    raced = []

    def compact_once(key: str) -> None:
        if not raced and key.startswith(keys.index_log_prefix(MODEL)):
            raced.append(key)
            w.store.before_read = None
            w.compactor().compact()  # removes the log batches the load has listed
    w.store.before_read = compact_once
    w.assert_loads_expected()
    assert raced


def test_runs_of_a_shard_grow_like_a_binary_counter() -> None:
    w = World(MemoryStore())
    prefix = keys.index_snapshot_prefix(MODEL)
    for i in range(1, 17):
        w.append("cam-a", DAY0 + 8 * 2000 * i, 8)
        w.compactor().compact()
        sizes = sorted(Run.parse(k, prefix).frames for k in w.store.keys(prefix))
        assert sizes == [8 << b for b in range(5) if i >> b & 1]
    w.assert_loads_expected()


def test_runs_to_merge_takes_the_smallest_runs_no_larger_than_the_merge() -> None:
    shard = ShardKey("", 1)
    runs = [Run(f"k{f}", shard, f) for f in (64, 8, 16, 200)]
    assert [r.frames for r in runs_to_merge(runs, 8)] == [8, 16]
    assert runs_to_merge(runs, 4) == []


def test_deletions_stay_after_compaction_even_for_frames_logged_later() -> None:
    w = _history(MemoryStore())
    w.compactor().compact()
    records, x = _frames("cam-a", DAY0 + 4_000, 2)  # a resumed job re-logs expired frames
    w.log.append("late", records, x)
    w.assert_loads_expected()
    w.compactor().compact()
    w.assert_loads_expected()


def test_tombstones_coalesce_per_camera() -> None:
    ts = TombstoneSet([Tombstone("a", 0, 10), Tombstone("a", 10, 20), Tombstone("a", 30, 40),
                       Tombstone("b", 5, 6), Tombstone("a", 15, 25)])
    assert list(ts) == [Tombstone("a", 0, 25), Tombstone("a", 30, 40), Tombstone("b", 5, 6)]
    assert ts.deletes("a", 24) and not ts.deletes("a", 25) and not ts.deletes("c", 5)
    assert ts.covers(Tombstone("a", 3, 25)) and not ts.covers(Tombstone("a", 20, 31))


def test_tombstones_written_before_compaction_existed_still_load() -> None:
    store = MemoryStore()
    w = World(store)
    w.append("cam-a", DAY0, 6)
    store.put_bytes(f"{keys.index_tombstone_prefix(MODEL)}old.json",
                    b'{"camera_id": "cam-a", "start_ms": %d, "end_ms": %d}' % (DAY0, DAY0 + 4_000))
    w.expected = {k: v for k, v in w.expected.items() if k[1] >= DAY0 + 4_000}
    w.assert_loads_expected()
    w.compactor().compact()
    w.assert_loads_expected()


def test_region_boxes_round_trip_and_batches_written_before_regions_load_as_whole_frames() -> None:
    records, x = _frames("cam-a", DAY0, 2, regions=2)
    batch = decode_batch(encode_batch(FrameBatch(records, x)))
    assert batch.records == records and np.array_equal(batch.vectors, x)
    whole = [r for r in records if r.box is None]
    with np.load(io.BytesIO(encode_batch(FrameBatch(whole, x[:2])))) as npz:
        fields = json.loads(npz["records"].tobytes())
    assert all("box" not in f for f in fields)  # a batch of whole frames is written as before regions
    buf = io.BytesIO()
    np.savez(buf, vectors=x[:2], records=np.frombuffer(json.dumps(
        [fields[0], {**fields[1], "box": None}]).encode(), dtype=np.uint8))
    assert decode_batch(buf.getvalue()).records == whole
