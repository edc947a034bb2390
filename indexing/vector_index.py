"""Keyframe vectors with their records, sharded by camera group × UTC day.

`FrameIndex` routes each frame to its shard (`indexing.shards`), routes a
search with a time range or cameras only to the shards that can match, and
merges their top-k. Filters (cameras, time range) become a bitmap over each
shard's frame ids applied inside FAISS, so `top_k` is always filled with the
best allowed frames.

Given a `vector_cache_dir`, each shard also keeps its vectors as float16 in a
file there (a node-local cache of the bucket's index log, rebuilt on start),
and shards from `ShardPolicy.compressed_from` vectors hold only PQ codes in RAM
(see `indexing.shards`). Without one, large shards are IVF-SQ8 in RAM.
"""

from __future__ import annotations

import bisect
import shutil
import tempfile
import threading
import weakref
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexing.shards import ShardKey, ShardPolicy, VectorShard
from indexing.vector_file import VectorFile


@dataclass(frozen=True, slots=True)  # millions per node: no per-record __dict__
class FrameRecord:
    """A keyframe: it stands for the footage from `time_ms` until `end_ms` (the next keyframe)."""

    camera_id: str
    time_ms: int
    end_ms: int
    segment_key: str
    segment_start_ms: int
    segment_end_ms: int
    thumbnail_key: str


@dataclass(frozen=True)
class SearchFilter:
    camera_ids: frozenset[str] = frozenset()  # empty: every camera
    start_ms: int | None = None
    end_ms: int | None = None

    def allows(self, record: FrameRecord) -> bool:
        if self.camera_ids and record.camera_id not in self.camera_ids:
            return False
        if self.start_ms is not None and record.time_ms < self.start_ms:
            return False
        return self.end_ms is None or record.time_ms < self.end_ms


@dataclass(frozen=True)
class FrameHit:
    record: FrameRecord
    score: float


@dataclass(frozen=True)
class ShardStats:
    group: str
    day: int  # UTC day number since the epoch
    frames: int
    ivf: bool  # False: exact search
    bytes: int  # in RAM: the shard's FAISS index (serialized size) and its list-by-id column
    tier: str = "exact"  # `ShardTier`: exact, ivf-sq8 or ivf-pq
    disk_bytes: int = 0  # its float16 vector file in the cache directory (0: none)


def one_group(camera_id: str) -> str:
    """The default grouping: every camera in one group, so shards are per UTC day."""
    return ""


class _Shard:
    """One shard's vectors, records by frame id, and the columns filters are computed on.

    Columns are `array.array`s (amortized appends: ingest adds small batches)
    read through numpy views.
    """

    def __init__(self, dim: int, policy: ShardPolicy, file: VectorFile | None) -> None:
        self.vectors = VectorShard(dim, policy, file)
        self.records: list[FrameRecord | None] = []  # by frame id; None once deleted
        self._cameras = array("i")  # camera code by frame id
        self._times = array("q")
        self._alive = array("b")

    @property
    def alive(self) -> np.ndarray:
        return np.frombuffer(self._alive, dtype=np.int8).astype(bool)

    def add(self, records: list[FrameRecord], codes: list[int], vectors: np.ndarray) -> None:
        ids = np.arange(len(self.records), len(self.records) + len(records), dtype=np.int64)
        self.records.extend(records)
        self._cameras.extend(codes)
        self._times.extend(r.time_ms for r in records)
        self._alive.extend([1] * len(records))
        self.vectors.add(ids, vectors)

    def mask(self, codes: np.ndarray | None, start_ms: int | None, end_ms: int | None) -> np.ndarray:
        m = self.alive
        if codes is not None:
            cameras = np.frombuffer(self._cameras, dtype=np.int32)
            wanted = np.zeros(max(int(cameras.max(initial=0)), int(codes.max(initial=0))) + 1, dtype=bool)
            wanted[codes] = True
            m &= wanted[cameras]
        times = np.frombuffer(self._times, dtype=np.int64)
        if start_ms is not None:
            m &= times >= start_ms
        if end_ms is not None:
            m &= times < end_ms
        return m

    def remove(self, ids: np.ndarray) -> list[FrameRecord]:
        self.vectors.remove(ids)
        for i in ids:
            self._alive[i] = 0
        removed = [self.records[i] for i in ids]
        for i in ids:
            self.records[i] = None
        return [r for r in removed if r is not None]


def _best(found: list[tuple[_Shard, np.ndarray, np.ndarray]], top_k: int) -> list[FrameHit]:
    """The `top_k` best of every shard's (scores, frame ids), best first, ties in shard order;
    hits are made only for those (a search for 10 clips takes 88 frames from each shard)."""
    if not found:
        return []
    scores = np.concatenate([s for _, s, _ in found])
    shard_of = np.repeat(np.arange(len(found)), [s.size for _, s, _ in found])
    ids = np.concatenate([i for _, _, i in found])
    return [FrameHit(found[shard_of[j]][0].records[ids[j]], float(scores[j]))  # type: ignore[arg-type]
            for j in np.argsort(-scores, kind="stable")[:top_k]]


class _Timeline:
    """One camera's frames as sorted (time, end) columns: what `contains` and duplicate checks need."""

    def __init__(self) -> None:
        self._times = array("q")
        self._ends = array("q")

    def covers(self, time_ms: int) -> bool:
        """A frame starts at `time_ms`, or the frame before it lasts past it (a deduplicated span)."""
        i = bisect.bisect_right(self._times, time_ms) - 1
        return i >= 0 and (self._times[i] == time_ms or time_ms < self._ends[i])

    def insert(self, time_ms: int, end_ms: int) -> bool:
        """Add a frame unless one starts at the same time; returns whether it was added."""
        i = bisect.bisect_left(self._times, time_ms)
        if i < len(self._times) and self._times[i] == time_ms:
            return False
        self._times.insert(i, time_ms)
        self._ends.insert(i, end_ms)
        return True

    def remove(self, time_ms: int) -> None:
        i = bisect.bisect_left(self._times, time_ms)
        del self._times[i], self._ends[i]


class FrameIndex:
    """Inner-product search over keyframe vectors in camera-group × UTC-day shards; thread-safe.

    `vector_cache_dir`: a node-local directory for the shards' float16 vector
    files (this index makes and owns a fresh subdirectory, removed by `close`
    or when the index is garbage-collected); None keeps every vector in RAM.
    """

    def __init__(self, dim: int, group_of: Callable[[str], str] = one_group,
                 policy: ShardPolicy = ShardPolicy(), vector_cache_dir: Path | None = None) -> None:
        self.dim = dim
        self._group_of = group_of
        self._policy = policy
        self._files: Path | None = None
        if vector_cache_dir is not None:
            vector_cache_dir.mkdir(parents=True, exist_ok=True)
            self._files = Path(tempfile.mkdtemp(prefix="frame-index-", dir=vector_cache_dir))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._files, ignore_errors=True)
        self._shards: dict[ShardKey, _Shard] = {}
        self._codes: dict[str, int] = {}  # camera id -> small int stored per frame
        self._timelines: dict[str, _Timeline] = {}  # camera -> its frames' (time, end), sorted
        self._count = 0
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._count

    def contains(self, camera_id: str, time_ms: int) -> bool:
        """Whether a frame of the camera covers `time_ms` (a deduplicated frame covers its span)."""
        with self._lock:
            timeline = self._timelines.get(camera_id)
            return timeline is not None and timeline.covers(time_ms)

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Add frames not already present (same camera and time); returns how many were new."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        with self._lock:
            by_shard: dict[ShardKey, list[int]] = {}
            for i, r in enumerate(records):
                if self._timeline(r.camera_id).insert(r.time_ms, r.end_ms):
                    by_shard.setdefault(self._key(r.camera_id, r.time_ms), []).append(i)
            for key, rows in by_shard.items():
                if (shard := self._shards.get(key)) is None:
                    shard = self._shards[key] = self._new_shard()
                shard.add([records[i] for i in rows], [self._code(records[i].camera_id) for i in rows],
                          vectors[rows])
            added = sum(len(rows) for rows in by_shard.values())
            self._count += added
            return added

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Forget the camera's keyframes with time in [start_ms, end_ms); returns how many."""
        with self._lock:
            code = self._codes.get(camera_id)
            if code is None:
                return 0
            removed = 0
            for _, shard in self._routed({self._group_of(camera_id)}, start_ms, end_ms):
                ids = np.flatnonzero(shard.mask(np.array([code]), start_ms, end_ms))
                for r in shard.remove(ids):
                    self._timelines[r.camera_id].remove(r.time_ms)
                removed += ids.size
            self._count -= removed
            return removed

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter = SearchFilter(),
               nprobe: int | None = None) -> list[FrameHit]:
        """The `top_k` best allowed frames; `nprobe` overrides the IVF shards' default per call."""
        with self._lock:
            groups = {self._group_of(c) for c in where.camera_ids} or None
            codes = (np.array([self._codes[c] for c in where.camera_ids if c in self._codes], dtype=np.int32)
                     if where.camera_ids else None)
            found: list[tuple[_Shard, np.ndarray, np.ndarray]] = []
            for _, shard in self._routed(groups, where.start_ms, where.end_ms):
                allowed = shard.mask(codes, where.start_ms, where.end_ms)
                if not allowed.any():
                    continue
                same = np.array_equal(allowed, shard.alive)
                scores, ids = shard.vectors.search(query, top_k, None if same else allowed, nprobe)
                found.append((shard, scores[ids >= 0], ids[ids >= 0]))
            return _best(found, top_k)

    def records(self) -> Iterable[FrameRecord]:
        """Every frame, shard by shard (group, then day) in the order added."""
        with self._lock:
            return [r for key in sorted(self._shards) for r in self._shards[key].records if r is not None]

    def shard_stats(self) -> list[ShardStats]:
        with self._lock:
            return [ShardStats(k.group, k.day, len(s.vectors), s.vectors.is_ivf, s.vectors.ram_bytes(),
                               s.vectors.tier.value, s.vectors.disk_bytes)
                    for k, s in sorted(self._shards.items())]

    def close(self) -> None:
        """Delete the vector files (the index is unusable afterwards); a no-op without them."""
        with self._lock:
            for shard in self._shards.values():
                shard.vectors.close()
            if self._files is not None:
                self._cleanup()

    def _new_shard(self) -> _Shard:
        file = (None if self._files is None
                else VectorFile(self._files / f"shard-{len(self._shards):06d}.f16", self.dim))
        return _Shard(self.dim, self._policy, file)

    def _key(self, camera_id: str, time_ms: int) -> ShardKey:
        return ShardKey.of(self._group_of(camera_id), time_ms)

    def _timeline(self, camera_id: str) -> _Timeline:
        if (timeline := self._timelines.get(camera_id)) is None:
            timeline = self._timelines[camera_id] = _Timeline()
        return timeline

    def _code(self, camera_id: str) -> int:
        return self._codes.setdefault(camera_id, len(self._codes))

    def _routed(self, groups: set[str] | None, start_ms: int | None,
                end_ms: int | None) -> list[tuple[ShardKey, _Shard]]:
        return [(k, s) for k, s in self._shards.items()
                if (groups is None or k.group in groups) and k.overlaps(start_ms, end_ms)]
