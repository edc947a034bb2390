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
Records live in each shard as int32 columns (`indexing.frame_columns`), so a
keyframe costs ≈ 25 bytes of records beside its vector (≈ 33 in a shard that holds regions).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexing.concurrency import IndexSync
from indexing.errors import IndexRetiredError
from indexing.frame_columns import Box, CameraCodes, FrameColumns, FrameKey
from indexing.frame_columns import FrameRecord as FrameRecord  # re-exported: the index's record
from indexing.shards import Prepared, ShardKey, ShardPolicy, TrainedStore, VectorShard
from indexing.vector_file import VectorFile
from storage.timeutil import DAY_MS

# An add publishes its frames this many at a time, each slice whole (records with their vectors):
# appending records is Python work (≈ 3 ms per 1,000 on an idle core, 10-60 ms on a loaded one)
# and searches wait for it, so they wait for one slice, not for a whole batch.
PUBLISH_SLICE = 128
BOX_TOLERANCE = 1e-3  # a box named by a client (printed, parsed) matches the stored one this closely


@dataclass(frozen=True)
class SearchFilter:
    camera_ids: frozenset[str] = frozenset()  # empty: every camera
    start_ms: int | None = None
    end_ms: int | None = None
    exclude_camera_ids: frozenset[str] = frozenset()  # never these (SearchSimilar: other cameras)

    def allows(self, record: FrameRecord) -> bool:
        if self.camera_ids and record.camera_id not in self.camera_ids:
            return False
        if record.camera_id in self.exclude_camera_ids:
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
    record_bytes: int = 0  # in RAM: its record columns (`indexing.frame_columns`)
    building: bool = False  # a new IVF index is being built for it (searches use the current one)
    lists: int = 0  # IVF lists of its index (`ShardPolicy.nlist`; 0: exact)


def _same_box(stored: Box | None, asked: Box | None) -> bool:
    """Whether `asked` names the stored box: both None, or every coordinate within the tolerance."""
    if stored is None or asked is None:
        return stored is asked
    return all(abs(a - b) <= BOX_TOLERANCE for a, b in zip(
        (stored.x0, stored.y0, stored.x1, stored.y1), (asked.x0, asked.y0, asked.x1, asked.y1),
        strict=True))


def one_group(camera_id: str) -> str:
    """The default grouping: every camera in one group, so shards are per UTC day."""
    return ""


class _Shard:
    """One shard: its vectors in FAISS and its records as columns, both by frame id."""

    def __init__(self, key: ShardKey, dim: int, policy: ShardPolicy, file: VectorFile | None,
                 cameras: CameraCodes, sync: IndexSync, trained: TrainedStore | None) -> None:
        self.frames = FrameColumns(key.day * DAY_MS, cameras)
        self.vectors = VectorShard(dim, policy, file, sync, key, trained, self.frames.camera_count)

    def commit(self, records: Sequence[FrameRecord], prepared: Prepared) -> int:
        """Records and their prepared vectors together (under the view lock): the new ones."""
        first = len(self.frames)
        rows = self.frames.append(records)
        if rows:
            self.vectors.commit(np.arange(first, first + len(rows), dtype=np.int64), prepared.rows(rows))
        return len(rows)

    def remove(self, ids: np.ndarray) -> None:
        self.vectors.remove(ids)
        self.frames.remove(ids)


def _best(found: list[tuple[_Shard, np.ndarray, np.ndarray]], top_k: int) -> list[FrameHit]:
    """The `top_k` best of every shard's (scores, frame ids), best first, ties in shard order;
    hits are made only for those (a search for 10 clips takes 88 frames from each shard)."""
    if not found:
        return []
    scores = np.concatenate([s for _, s, _ in found])
    shard_of = np.repeat(np.arange(len(found)), [s.size for _, s, _ in found])
    ids = np.concatenate([i for _, _, i in found])
    return [FrameHit(found[shard_of[j]][0].frames.record(int(ids[j])), float(scores[j]))
            for j in np.argsort(-scores, kind="stable")[:top_k]]


class FrameIndex:
    """Inner-product search over keyframe vectors in camera-group × UTC-day shards; thread-safe.

    `vector_cache_dir`: a node-local directory for the shards' float16 vector
    files (this index makes and owns a fresh subdirectory, removed by `close`
    or when the index is garbage-collected); None keeps every vector in RAM.
    `trained`: where shards keep their trained IVF indexes, so that a restart
    encodes instead of training again (`indexing.trained_cache`).

    Searches never wait for a retrain (`indexing.concurrency`): they share a view
    lock that writers take only to publish prepared frames (`PUBLISH_SLICE` at a
    time, records together with their vectors, so a search never sees a record
    without its vector or a vector without its record) or to swap in a shard's
    rebuilt index; the rebuilds run on a background thread (`settle` waits for
    them, `rebuilding` counts them).
    """

    def __init__(self, dim: int, group_of: Callable[[str], str] = one_group,
                 policy: ShardPolicy = ShardPolicy(), vector_cache_dir: Path | None = None,
                 trained: TrainedStore | None = None) -> None:
        self.dim = dim
        self._group_of = group_of
        self._policy = policy
        self._files: Path | None = None
        if vector_cache_dir is not None:
            vector_cache_dir.mkdir(parents=True, exist_ok=True)
            self._files = Path(tempfile.mkdtemp(prefix="frame-index-", dir=vector_cache_dir))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._files, ignore_errors=True)
        self._trained = trained
        self._file_numbers = itertools.count()
        self._shards: dict[ShardKey, _Shard] = {}
        self._cameras = CameraCodes()
        self._count = 0
        self._closed = False
        self._sync = IndexSync()
        self._masks = threading.Lock()  # searches share a shard's cache of filter masks

    def __len__(self) -> int:
        return self._count

    def contains(self, camera_id: str, time_ms: int) -> bool:
        """Whether a frame of the camera covers `time_ms`: one starts there, or the camera's
        frame before it lasts past it (a deduplicated span, looked for back to the day before)."""
        with self._sync.view.read():
            if (code := self._cameras.get(camera_id)) is None:
                return False
            key = self._key(camera_id, time_ms)
            for day in (key.day, key.day - 1):
                shard = self._shards.get(ShardKey(key.group, day))
                if shard is not None and (span := shard.frames.span_at(code, time_ms)) is not None:
                    return span[0] == time_ms or time_ms < span[1]
            return False

    def holds(self, frame: FrameKey | FrameRecord) -> bool:
        """Whether this frame is indexed exactly: the camera's keyframe (`box` None) or region at
        that time and box (`contains` asks whether a keyframe's time is covered, by a span too)."""
        with self._sync.view.read():
            shard = self._shards.get(self._key(frame.camera_id, frame.time_ms))
            return shard is not None and shard.frames.holds(frame)

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        """For each frame, whether it is indexed: a keyframe (`box` None) when its time is covered
        (`contains`: a deduplicated span counts), a region only exactly (`holds`)."""
        return [self.contains(f.camera_id, f.time_ms) if f.box is None else self.holds(f) for f in frames]

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Add frames not already present (same camera, time and box: a keyframe and each of its
        regions are separate frames); returns how many were new."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        with self._sync.turn:
            by_shard: dict[ShardKey, list[int]] = {}
            for i, r in enumerate(records):
                by_shard.setdefault(self._key(r.camera_id, r.time_ms), []).append(i)
            shards = {key: self._shards.get(key) or self._new_shard(key) for key in by_shard}
            prepared = {key: shards[key].vectors.prepare(vectors[rows]) for key, rows in by_shard.items()}
            with self._sync.view.write():
                self._shards.update(shards)
            added = 0
            for key, rows in by_shard.items():
                for lo in range(0, len(rows), PUBLISH_SLICE):
                    part = rows[lo:lo + PUBLISH_SLICE]
                    with self._sync.view.write():  # a slice of records appears with its vectors
                        new = shards[key].commit([records[i] for i in part],
                                                 prepared[key].rows(np.arange(lo, lo + len(part))))
                        self._count += new
                    added += new
            waits = [w for shard in shards.values() if (w := shard.vectors.schedule_build()) is not None]
        # a bulk load waits for its exact shards' builds (bounded float32 RAM); a failed build is
        # logged and the shard keeps serving exactly, so the frames added stay acknowledged
        futures.wait(waits)
        return added

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Forget the camera's keyframes with time in [start_ms, end_ms); returns how many."""
        with self._sync.turn, self._sync.view.write():
            code = self._cameras.get(camera_id)
            if code is None:
                return 0
            removed = 0
            for _, shard in self._routed({self._group_of(camera_id)}, start_ms, end_ms):
                mask = shard.frames.mask(np.array([code]), start_ms, end_ms)
                ids = np.flatnonzero(shard.frames.alive if mask is None else mask)
                shard.remove(ids)
                removed += ids.size
            self._count -= removed
            return removed

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter = SearchFilter(),
               nprobe: int | None = None) -> list[FrameHit]:
        """The `top_k` best allowed frames; `nprobe` overrides the IVF shards' default per call."""
        with self._sync.view.read():
            if self._closed:
                raise IndexRetiredError("this index version was retired; search the current one")
            groups = {self._group_of(c) for c in where.camera_ids} or None
            codes = (np.array([c for c in map(self._cameras.get, where.camera_ids) if c is not None],
                              dtype=np.int32) if where.camera_ids else None)
            excluded = np.array([c for c in map(self._cameras.get, where.exclude_camera_ids)
                                 if c is not None], dtype=np.int32)
            found: list[tuple[_Shard, np.ndarray, np.ndarray]] = []
            for _, shard in self._routed(groups, where.start_ms, where.end_ms):
                with self._masks:
                    allowed = shard.frames.mask(codes, where.start_ms, where.end_ms)
                    if excluded.size and (hidden := shard.frames.mask(excluded, where.start_ms,
                                                                     where.end_ms)) is not None:
                        # the masks are cached: new arrays, never changed in place
                        allowed = (shard.frames.alive if allowed is None else allowed) & ~hidden
                if allowed is not None and not allowed.any():
                    continue
                scores, ids = shard.vectors.search(query, top_k, allowed, nprobe)
                found.append((shard, scores[ids >= 0], ids[ids >= 0]))
            return _best(found, top_k)

    def vector(self, camera_id: str, time_ms: int, box: Box | None = None) -> np.ndarray | None:
        """The stored vector of the camera's keyframe at `time_ms` (`box` None), or of its region
        whose box is within `BOX_TOLERANCE` of `box` in each coordinate; None if there is none."""
        with self._sync.view.read():
            if self._closed:
                raise IndexRetiredError("this index version was retired; search the current one")
            code = self._cameras.get(camera_id)
            shard = self._shards.get(self._key(camera_id, time_ms))
            if code is None or shard is None:
                return None
            for frame in shard.frames.at(code, time_ms):
                record = shard.frames.record(frame)
                if record is not None and _same_box(record.box, box):
                    vector: np.ndarray = shard.vectors.vectors(np.array([frame]))[0]
                    return vector
            return None

    def shard_keys(self) -> list[ShardKey]:
        with self._sync.view.read():
            return sorted(self._shards)

    def records(self, keys: Iterable[ShardKey] | None = None) -> list[FrameRecord]:
        """Every frame (of the shards `keys` only, if given), shard by shard (group, then day) in
        the order added. The records are made outside the lock, from copies of the columns:
        searches are not held up."""
        with self._sync.view.read():
            wanted = sorted(self._shards if keys is None else set(keys) & self._shards.keys())
            copies = [self._shards[key].frames.snapshot() for key in wanted]
        return [r for frames in copies for r in frames.records()]

    def sample(self, n: int, seed: int = 0, regions: bool | None = None) -> np.ndarray:
        """Up to `n` stored vectors drawn at random from the newest days first (a background
        sample of recent footage, for calibrating watchlist entries); `regions` True: of regions
        only, False: of whole keyframes only, None: of both."""
        with self._sync.view.read():
            picked: list[np.ndarray] = []
            for _, shard in sorted(self._shards.items(), key=lambda ks: -ks[0].day):
                wanted = n - sum(len(p) for p in picked)
                alive = np.flatnonzero(shard.frames.alive)
                if wanted <= 0:
                    break
                if alive.size:
                    ids = np.random.default_rng(seed).permutation(alive)
                    if regions is not None:  # the kind asked for, among a few times as many drawn
                        ids = np.array([i for i in ids[:4 * wanted].tolist()
                                        if ((r := shard.frames.record(i)) is not None
                                            and (r.box is not None) == regions)], dtype=np.int64)
                    if ids.size:
                        picked.append(shard.vectors.vectors(np.sort(ids[:wanted])))
            return np.concatenate(picked) if picked else np.zeros((0, self.dim), np.float32)

    def shard_stats(self) -> list[ShardStats]:
        with self._sync.view.read():
            return [ShardStats(k.group, k.day, len(s.vectors), s.vectors.is_ivf, s.vectors.ram_bytes(),
                               s.vectors.tier.value, s.vectors.disk_bytes, s.frames.nbytes(),
                               s.vectors.building, s.vectors.nlist)
                    for k, s in sorted(self._shards.items())]

    def close(self) -> None:
        """Delete the vector files; searches raise `IndexRetiredError` from then on."""
        self._sync.close()
        with self._sync.turn, self._sync.view.write():
            self._closed = True
            for shard in self._shards.values():
                shard.vectors.close()
            if self._files is not None:
                self._cleanup()

    def rebuilding(self) -> int:
        """How many shards are having a new IVF index built (they serve from their current one)."""
        with self._sync.view.read():
            return sum(shard.vectors.building for shard in self._shards.values())

    def settle(self) -> None:
        """Wait until no shard is being rebuilt (benchmarks and tests that look at tiers)."""
        self._sync.settle()

    def _new_shard(self, key: ShardKey) -> _Shard:
        file = (None if self._files is None
                else VectorFile(self._files / f"shard-{next(self._file_numbers):06d}.f16", self.dim))
        return _Shard(key, self.dim, self._policy, file, self._cameras, self._sync, self._trained)

    def _key(self, camera_id: str, time_ms: int) -> ShardKey:
        return ShardKey.of(self._group_of(camera_id), time_ms)

    def _routed(self, groups: set[str] | None, start_ms: int | None,
                end_ms: int | None) -> list[tuple[ShardKey, _Shard]]:
        return [(k, s) for k, s in self._shards.items()
                if (groups is None or k.group in groups) and k.overlaps(start_ms, end_ms)]
