"""One shard's vectors in FAISS: the only module that imports faiss.

A shard holds the keyframes of one camera group for one UTC day
(`ShardKey`). Below `ShardPolicy.exact_below` vectors it searches exactly
(`IndexFlatIP`); from there on it is an IVF index trained on the shard's own
vectors and retrained when the shard has grown `growth` times past its
training size, in one of two tiers (`ShardTier`):

- IVF-SQ8: 8-bit scalar-quantized vectors in RAM (≈ 270 bytes/vector). SQ8
  decodes almost losslessly, so a retrain re-encodes without compounding error.
- IVF-PQ with exact re-ranking, for shards that have a `VectorFile` (the
  shard's vectors as float16 in a node-local cache file read through
  `np.memmap`): residual PQ codes of `pq_m` bytes in RAM, the search takes the
  best `candidates(k)` by PQ score and re-ranks them by exact inner product
  against the file. Retrains read the file, never decoded codes.

Measured on the benchmark's clustered 256-d vectors (`benchmarks.search`,
with the earlier √n list rule (512 lists at 250k) and nprobe 16; for the
current rule see "Queries unlike the data" below; recall@10 against exact
search: unfiltered / 10% of cameras / one camera for one hour; RAM counts
FAISS codes, ids and centroids):

    shard  tier                     RAM B/vec  recall@10            p50 ms
    250k   IVF-SQ8                  270        0.999 / 0.993 / 0.994  0.37
    250k   IVF-PQ64, no re-rank      79        ≈ 0.90 unfiltered
    250k   IVF-PQ32, re-rank 100     47        0.993 / 0.998 / 1.000  0.40
    250k   IVF-PQ32, re-rank 200     47        0.999 / 0.999 / 1.000  0.58
    250k   IVF-PQ64, re-rank 100     79        1.000 / 1.000 / 1.000  0.54
    100k   IVF-SQ8                  271        0.990 / 0.996 / 0.991  0.29
    100k   IVF-PQ32, re-rank 100     49        0.974 / 0.992 / 1.000  0.31
    100k   IVF-PQ32, re-rank 200     49        0.994 / 0.999 / 1.000  0.40
     50k   IVF-SQ8                  273        0.987 / 0.995 / 0.989  0.17
     50k   IVF-PQ32, re-rank 200     55        0.998 / 0.995 / 1.000  0.32

So PQ32 (≈ 47-55 bytes/vector in RAM, plus 512 bytes/vector of float16 on
local disk) with at least 200 candidates re-ranked (`rerank`; 4 per hit asked
for beyond 50 hits, `rerank_per_hit`) is as accurate as SQ8 from the smallest
IVF shard up, for ≈ 0.1-0.2 ms more per shard searched (the re-rank reads 200
rows of 512 bytes from the page cache). PQ64 is as accurate with fewer
candidates but sits at the 80 bytes/vector budget; OPQ was not needed. Hence
`compressed_from` = `exact_below`: with a vector file a shard goes from exact
straight to IVF-PQ; without one, large shards stay IVF-SQ8. PQ training is the
cost: ≈ 2-4 s per retrain of a 50k-250k shard on one thread (SQ8: 1-2 s), and
polysemous training (FAISS's default, 30× slower) is switched off. The whole
benchmark at 1M (four 250k day shards): 47 bytes/vector in RAM, 512 on disk,
recall@10 1.000 with and without filters, p50 1.8 ms in process (IVF-SQ8: 266
bytes/vector, 0.995, 1.4 ms), built in 37 s (SQ8: 15 s) on a busy 2-core machine.

Rebuilds never stall searches (issue #19; before, every search on the node
waited for a retrain: 2.0 s at 50k, 2.5 s at 100k, 6.2 s at 200k, and each
add held the same lock 11-15 ms). A shard due for a new index gets it on the
index's build thread (`indexing.concurrency`): its vectors are read (from the
vector file, without any lock) and the new index trained, or its trained form
loaded from a `TrainedStore` (`indexing.trained_cache`: a restart encodes
instead of training), then filled on one OpenMP thread while the old index
serves searches and takes adds; the frames added meanwhile are caught up, the
last ≤ 2,048 with the writers' turn held, frames deleted meanwhile are removed,
and the new index is swapped in under the view lock. An add encodes its batch
(`prepare`: PQ/SQ codes with their lists, `sa_encode`) before taking the view
lock and then only appends the codes (`add_sa_codes`). A bulk load that takes
an exact shard to twice `exact_below` waits for that shard's build, so the
float32 vectors of exact indexes stay bounded. Measured by `benchmarks.growth`.

Filters are a bitmap over the shard's frame ids passed per call in
`SearchParametersIVF` together with `nprobe`; a shared index is never mutated
for a search. A filtered IVF search probes only lists that hold allowed frames
(see `VectorShard._probe`), so filtered recall matches unfiltered recall; in
the PQ tier the bitmap applies to the PQ scan, so every candidate re-ranked is
an allowed frame.

Queries unlike the data (issue #19: text queries sit apart from image vectors,
CLIP's modality gap). `benchmarks.search --ood-only` measures 1M keyframes of
1,000 cameras over a week (seven 143k day shards, PQ32) with random unit
directions and text-like queries (placed towards a keyframe as the bundled
model's texts sit towards theirs: cosine 0.54 to the best relevant keyframe,
0.37 between texts, measured on held-out world footage); `benchmarks.ood_sweep`
varies nprobe and re-ranking on one such shard. With the earlier list rule
(the power of two nearest √n: 512 lists for 143k vectors) unfiltered searches
failed for every query kind (reference JSONs of 2026-12-03: at 1M, nprobe 16,
0.66 / 0.79 / 0.80 in distribution / random / text-like; filtered 1.00):
k-means on the shard gave some cameras' scenes a list of their own while most
cameras' keyframes scattered by content over a median of 108 of the 512
lists, so the list holding a query's worst true top-10 hit ranked a median
304 (in distribution), 64 (random) and 140 (text-like) of 512, and neither
probing more lists nor re-ranking more fixed it within 25 ms. Hence:

- Lists (`ShardPolicy.nlist`): the power of two nearest 4·√n (FAISS's guidance
  is 4-16·√n), raised to the power of two at or above 2 per camera of the
  shard (counted from its live frames when a build starts), lowered to at
  most one list per 39 vectors (FAISS k-means' floor per centroid), in
  [16, 8192]. A 143k shard of 1,000 cameras gets 2,048 lists and a median
  camera's keyframes sit in 2 of them; the 100-camera search benchmark's 250k
  shards get 2,048 too (4·√n). Rounding to a power of two gives 2.8-5.7·√n,
  up to 8,192 lists from ≈ 2.1M vectors.
  The upper clamp bounds training (k-means costs ∝ lists × sample, and the
  sample is `train_per_list` × lists: 8,192 lists train ≈ 16 × as long as
  2,048): a shard of more than 4,096 cameras (a camera group × day) gets
  fewer than 2 lists per camera, so size camera groups below that.
- Probes (`ShardPolicy.probes`): an unfiltered search probes a sixteenth of
  the lists (at least `nprobe`), so more lists scan the same share of the
  shard: 128 of 2,048 (≈ 9k PQ codes of a 143k shard).
- Re-ranking: the PQ candidates within the PQ score error of the k-th best
  (`rerank_margin`) are re-ranked too, up to 1,024: a random direction scores
  every frame alike and PQ's error reorders them, while queries like the data
  (in distribution, text-like) still re-rank 200.

`benchmarks.ood_sweep` on one 143k shard of 1,000 cameras (reference
ood_sweep-lists-2026-12-03.json, at a load average of 6-16 on 2 cores, so
latencies are high and noisy; the 512-list rows: ood_sweep-nlist512-2026-12-03b,
the old rule's lists with these probes and margin, when an eighth of a
filter's allowed frames was still re-ranked):

    recall@10 (in distribution / random / text-like)   unfiltered             5% of cameras          p50 ms
    2,048 lists, 128 probed, re-rank 200 + margin      1.000 / 0.965 / 0.984  0.998 / 0.995 / 0.994  0.5-1.1
                 128 probed, re-rank 200, no margin    1.000 / 0.894 / 0.984  0.998 / 0.986 / 0.991
                 128 probed, re-rank 1,000             1.000 / 0.972 / 0.984  1.000 / 0.999 / 0.999  0.9-1.0
                  16 probed (the old default)          1.000 / 0.706 / 0.935
    512 lists,    32 probed, re-rank 200 + margin      0.475 / 0.795 / 0.678  1.000 / 0.998 / 0.999
                 256 probed, re-rank 200 + margin      0.810 / 0.943 / 0.939

The cost is the build: the bulk add of the 143k shard with its IVF-PQ build
(training on one thread) took 35-48 s with 2,048 lists (ood_sweep-lists:
34.6 s; its first run at 31f8181, in git history: 47.5 s) against 11.4 s with
512 lists run right after that first run at the same load, off to the side
(`indexing.concurrency`) and absorbed by the trained-index cache on
restarts; and RAM: 2,048 centroids of 256 floats are 2 MB per shard (9.14 MB
instead of 7.56 for the 143k shard: 64 instead of 53 bytes/vector). A node
upgraded to this rule finds no trained index under the new list count and
trains each shard once (`indexing.trained_cache`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import faiss
import numpy as np

from indexing.concurrency import IndexSync
from indexing.vector_file import VectorFile
from storage.timeutil import DAY_MS

logger = logging.getLogger(__name__)

# Below this many vectors an IVF add runs on one thread: OpenMP start-up and spinning cost
# ≈ 15 ms per call on a busy 2-core machine (250k frames added 32 at a time: 35 s, one thread: 2.6 s).
SMALL_BATCH = 1024
# A build encodes at most this many vectors added during it while holding the writers' turn
# (an add waits that long, ≈ 5 ms per 1,000 PQ codes; searches do not wait).
CATCH_UP_IN_TURN = 2048


@dataclass(frozen=True, order=True)
class ShardKey:
    group: str  # camera group ("" when cameras are not grouped)
    day: int  # UTC day number since the epoch

    @classmethod
    def of(cls, group: str, time_ms: int) -> ShardKey:
        return cls(group, time_ms // DAY_MS)

    def overlaps(self, start_ms: int | None, end_ms: int | None) -> bool:
        """Whether this shard's day can hold a frame with time in [start_ms, end_ms)."""
        day_start = self.day * DAY_MS
        return ((start_ms is None or start_ms < day_start + DAY_MS)
                and (end_ms is None or end_ms > day_start))


class ShardTier(StrEnum):
    EXACT = "exact"  # IndexFlatIP: float32 vectors in RAM
    SQ8 = "ivf-sq8"  # IVF, 8-bit scalar-quantized vectors in RAM
    PQ = "ivf-pq"  # IVF-PQ codes in RAM, candidates re-ranked against the shard's vector file


@dataclass(frozen=True)
class ShardPolicy:
    exact_below: int = 50_000  # exact search up to here: ≤ 50k × 256-d is ≤ 5 ms single-threaded
    compressed_from: int = 50_000  # IVF-PQ + re-rank from here, for shards with a vector file
    growth: float = 2.0  # retrain the IVF index when the shard has doubled since training
    # IVF lists (`nlist`): about `lists_per_root` × √n, at least `lists_per_camera` per camera of
    # the shard, at most one per `min_per_list` vectors, a power of two in [`min_lists`, `max_lists`]
    lists_per_root: float = 4.0  # FAISS's guidance is 4-16 × √n
    lists_per_camera: float = 2.0  # fewer lists than cameras scatter a camera's keyframes (see above)
    min_per_list: int = 39  # FAISS k-means wants at least 39 training vectors per centroid
    min_lists: int = 16
    max_lists: int = 8192  # k-means costs ∝ lists²: 8,192 lists train ≈ 16 × as long as 2,048
    # Lists probed per unfiltered search (`probes`): at least `nprobe`, and `probe_share` of the
    # shard's lists, so a shard with more lists still scans the same share of its vectors
    nprobe: int = 16
    probe_share: float = 1 / 16
    train_per_list: int = 64  # training sample: this many vectors per IVF list
    # A filtered IVF search scans this many times as many allowed frames as an unfiltered one
    # scans frames (500k-frame shard, 10% of cameras allowed: ×1 recall@10 0.88, ×2 0.98, ×4 0.99).
    filtered_scan: float = 4.0
    pq_m: int = 32  # PQ sub-quantizers of 8 bits: bytes per vector code
    pq_train_min: int = 16_384  # PQ training sample at least this (64 per sub-quantizer centroid)
    rerank: int = 200  # PQ candidates re-ranked exactly: at least this many,
    rerank_per_hit: int = 4  # and this many per hit asked for,
    # and every candidate, up to `rerank_margin_max`, whose PQ score is within `rerank_margin`
    # times the shard's PQ score error (`VectorShard._score_error`) of the k-th best PQ score:
    # PQ's error could lift it into the top k. Queries like the data have far fewer (their hits
    # stand out); a random direction scores everything alike (143k-frame shard, 2,048 lists,
    # 128 probed: recall@10 0.91 with 200 re-ranked, 0.97 with the margin at a median of 639).
    # This replaced re-ranking an eighth of a filter's allowed frames when all were scanned
    # (3,125 of a 250k shard filtered to 10 % of its cameras: p50 16-20 ms per shard).
    rerank_margin: float = 2.8  # ≈ 2·√2: two standard deviations of a difference of two errors
    rerank_margin_max: int = 1024

    def nlist(self, n: int, cameras: int = 0) -> int:
        """IVF lists for `n` vectors from `cameras` cameras: the power of two nearest
        `lists_per_root` × √n, raised to the power of two at or above `lists_per_camera` ×
        `cameras`, lowered to the power of two at or below n / `min_per_list`, in
        [`min_lists`, `max_lists`]."""
        lists = 2 ** round(np.log2(self.lists_per_root * np.sqrt(max(n, 1))))
        if cameras > 0:
            lists = max(lists, 2 ** int(np.ceil(np.log2(self.lists_per_camera * cameras))))
        lists = min(lists, 2 ** int(np.log2(max(n // self.min_per_list, 1))))
        return int(np.clip(lists, self.min_lists, self.max_lists))

    def probes(self, nlist: int) -> int:
        """Lists an unfiltered search of an IVF index with `nlist` lists probes by default."""
        return min(nlist, max(self.nprobe, round(nlist * self.probe_share)))

    def ivf_tier(self, n: int, has_file: bool) -> ShardTier:
        """The IVF tier for a shard of `n` vectors (PQ needs the vector file to re-rank from)."""
        return ShardTier.PQ if has_file and n >= self.compressed_from else ShardTier.SQ8

    def candidates(self, k: int) -> int:
        """PQ candidates re-ranked for a top-k search at least (more within the PQ error margin)."""
        return max(self.rerank, self.rerank_per_hit * k)


@dataclass(frozen=True)
class TrainedIndex:
    """A trained IVF index without vectors (coarse centroids and SQ/PQ codebooks), kept so a
    restarted node encodes a shard's vectors without training again (`indexing.trained_cache`)."""

    trained_on: int  # the shard's size when trained: its next retrain is due at `growth` times this
    data: bytes  # `faiss.serialize_index` of the empty trained index


class TrainedStore(Protocol):
    """Where shards keep their trained indexes, by shard, tier and number of IVF lists."""

    def load(self, key: ShardKey, tier: ShardTier, nlist: int) -> TrainedIndex | None: ...

    def save(self, key: ShardKey, tier: ShardTier, nlist: int, trained: TrainedIndex) -> None: ...


@dataclass(frozen=True)
class Prepared:
    """A batch's vectors made ready, outside the view lock, for the index they will join."""

    vectors: np.ndarray  # float32: for the vector file, and the exact tier's index
    codes: np.ndarray | None  # IVF: each vector's standalone code (list number, then SQ/PQ code)
    lists: np.ndarray  # each vector's IVF list; -1 in the exact tier
    written: np.ndarray | None = None  # the ids under which the vector file already holds them

    def rows(self, rows: Sequence[int] | np.ndarray) -> Prepared:
        codes = None if self.codes is None else self.codes[rows]
        written = None if self.written is None else self.written[rows]
        return Prepared(self.vectors[rows], codes, self.lists[rows], written)


@dataclass
class _Build:
    """A rebuild under way: the ids removed since it began (applied to the new index at the swap)."""

    removed: list[np.ndarray] = field(default_factory=list)
    future: Future[None] | None = None


class VectorShard:
    """Unit vectors under caller-chosen int64 ids (small, dense), searchable while they grow.

    Locking follows `indexing.concurrency.IndexSync`, shared with the owning index:
    `search`, `vectors`, `len`, `ram_bytes` need its view lock shared (or the
    turn); `prepare` and `schedule_build` the turn; `commit`, `remove` and
    `close` the turn and the view lock exclusively. A shard due for a new IVF
    index (`_retrain_at`) gets it from the sync's build thread (`_rebuild`):
    the vectors are read and the new index trained (or its trained form loaded
    from `trained`) and filled off to the side while the old index serves and
    takes adds; the vectors added meanwhile are caught up, the last few with the
    turn held, and the new index is swapped in under the view lock.

    With a `VectorFile` every vector is also written there as float16: builds
    read it instead of decoding SQ8, and the PQ tier re-ranks against it.
    `cameras`: how many cameras the shard's live frames come from (called with
    the turn held), for the number of IVF lists (`ShardPolicy.nlist`).
    """

    def __init__(self, dim: int, policy: ShardPolicy, file: VectorFile | None = None,
                 sync: IndexSync | None = None, key: ShardKey | None = None,
                 trained: TrainedStore | None = None, cameras: Callable[[], int] | None = None) -> None:
        if file is not None and dim % policy.pq_m:
            raise ValueError(f"pq_m {policy.pq_m} must divide the vector dimension {dim}")
        self.dim = dim
        self._policy = policy
        self._file = file
        self._sync = sync if sync is not None else IndexSync()
        self._key, self._trained = key, trained
        self._cameras = cameras
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._list_of = np.empty(0, dtype=np.int32)  # by id: IVF list, -1 exact, -2 absent
        self._trained_on = 0
        self._error = 0.0  # the PQ tier's score error for a unit query (`_score_error`)
        self.tier = ShardTier.EXACT
        self._top = 0  # one past the highest id added
        self._build: _Build | None = None
        self._closed = False
        self._direct_map = threading.Lock()  # readers may decode SQ8 vectors at the same time

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_ivf(self) -> bool:
        return self._trained_on > 0

    @property
    def nlist(self) -> int:
        """The IVF index's number of lists (0: exact)."""
        return int(self._index.nlist) if self.is_ivf else 0

    @property
    def building(self) -> bool:
        """Whether a new IVF index is being built for this shard."""
        return self._build is not None

    def ram_bytes(self) -> int:
        """The FAISS index (serialized size: codes, ids, centroids) and the list-by-id column."""
        return int(faiss.serialize_index(self._index).size) + self._list_of.nbytes

    @property
    def disk_bytes(self) -> int:
        return 0 if self._file is None else self._file.disk_bytes

    def close(self) -> None:
        """Delete the vector file; a build under way discards its work."""
        self._closed = True
        if self._file is not None:
            self._file.close()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> Future[None] | None:
        """`prepare`, `commit` under the view lock, then `schedule_build` (the caller holds the turn)."""
        prepared = self.prepare(vectors)
        with self._sync.view.write():
            self.commit(ids, prepared)
        return self.schedule_build()

    def prepare(self, vectors: np.ndarray) -> Prepared:
        """Encode vectors for the current index (the slow part of an add; no view lock needed)."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        written = None
        if self._file is not None:  # rows past the highest id are read by no one: write them now,
            # under the ids they get unless some are duplicates (then `commit` writes them again)
            written = np.arange(self._top, self._top + len(x), dtype=np.int64)
            self._file.reserve(self._top + len(x))
            self._file.write(written, x)
        if not self.is_ivf:
            return Prepared(x, None, np.full(len(x), -1, dtype=np.int32), written)
        with _one_thread() if len(x) < SMALL_BATCH else nullcontext():
            codes = self._index.sa_encode(x)
        return Prepared(x, codes, _list_numbers(self._index, codes), written)

    def commit(self, ids: np.ndarray, prepared: Prepared) -> None:
        """Add prepared vectors under `ids` (new ids only); microseconds to a few ms."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size == 0:
            return
        if ids.max() >= self._list_of.size:  # grow by doubling: ingest adds small batches
            grown = np.full(max(int(ids.max()) + 1, 2 * self._list_of.size), -2, dtype=np.int32)
            grown[:self._list_of.size] = self._list_of
            self._list_of = grown
        if self._file is not None and (prepared.written is None or not np.array_equal(prepared.written, ids)):
            self._file.write(ids, prepared.vectors)
        if prepared.codes is None:
            self._index.add_with_ids(prepared.vectors, ids)
        else:
            self._index.add_sa_codes(prepared.codes, ids)
        self._list_of[ids] = prepared.lists
        self._top = max(self._top, int(ids.max()) + 1)

    def remove(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._index.remove_ids(ids)
        self._list_of[ids] = -2
        if self._build is not None:
            self._build.removed.append(ids.copy())

    def schedule_build(self) -> Future[None] | None:
        """Start a rebuild on the build thread if the shard has grown to its retrain size.

        Returns the build when the caller should wait for it, after giving up the
        turn: an exact shard at twice `exact_below` or more (a bulk load), so that
        the float32 vectors of an exact index stay bounded.
        """
        if self._build is None and not self._closed and len(self) >= self._retrain_at():
            build = self._build = _Build()
            build.future = self._sync.submit(self._rebuild)
            if build.future is None:  # the index is closing
                self._build = None
        if self._build is not None and not self.is_ivf and len(self) >= 2 * self._policy.exact_below:
            return self._build.future
        return None

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` as float32 rows: from the vector file, else exact or
        SQ8-decoded (the caller holds the view lock shared, or the turn)."""
        return self._vectors(np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) among ids where `allowed` (a bool mask by id) is set, or all.

        One query runs on one OpenMP thread: an exact 20k-vector search on a busy
        2-core machine takes 0.5 ms on one thread, 16-24 ms on two (a stalled worker).
        """
        with _one_thread():
            return self._search(query, k, allowed, nprobe)

    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None,
                nprobe: int | None) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        bitmap = sel = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")  # referenced by `sel` until the search ends
            sel = faiss.IDSelectorBitmap(allowed.size, faiss.swig_ptr(bitmap))
        if not self.is_ivf:
            scores, ids = self._index.search(q, k, params=faiss.SearchParameters(sel=sel))
            return scores[0], ids[0]
        lists, coarse = self._probe(q, allowed, nprobe or self._policy.probes(self._index.nlist))
        params = faiss.SearchParametersIVF(sel=sel, nprobe=lists.size)
        if self.tier is not ShardTier.PQ:
            return self._scan(q, lists, coarse, params, k)
        wanted = self._policy.candidates(k)
        scores, ids = self._scan(q, lists, coarse, params, wanted)
        margin = self._policy.rerank_margin * self._error
        if wanted < self._policy.rerank_margin_max and ids[-1] >= 0 and scores[-1] >= scores[k - 1] - margin:
            scores, ids = self._scan(q, lists, coarse, params, self._policy.rerank_margin_max)
            ids = ids[:max(wanted, int(np.count_nonzero(scores >= scores[k - 1] - margin)))]
        return self._rerank(q[0], ids, k)

    def _scan(self, q: np.ndarray, lists: np.ndarray, coarse: np.ndarray,
              params: faiss.SearchParametersIVF, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """The best `wanted` (scores, ids) of `lists` by the index's own scores, best first."""
        scores, ids = np.empty(wanted, dtype=np.float32), np.empty(wanted, dtype=np.int64)
        self._index.search_preassigned_c(  # the numpy wrapper drops `params`
            1, faiss.swig_ptr(q), wanted, faiss.swig_ptr(lists), faiss.swig_ptr(coarse),
            faiss.swig_ptr(scores), faiss.swig_ptr(ids), False, params)
        return scores, ids

    def _rerank(self, q: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The top k of the PQ candidates by exact inner product with their float16 vectors."""
        assert self._file is not None
        ids = np.sort(candidates[candidates >= 0])  # ascending: memmap reads in file order
        exact = self._file.read(ids) @ q
        best = np.argsort(-exact, kind="stable")[:k]
        scores, out = np.full(k, -np.inf, dtype=np.float32), np.full(k, -1, dtype=np.int64)
        scores[:best.size], out[:best.size] = exact[best], ids[best]
        return scores, out

    def _probe(self, q: np.ndarray, allowed: np.ndarray | None,
               nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """Lists to scan, nearest first, with their coarse scores: `nprobe` of them, or for a
        filter, lists holding allowed frames.

        Frames of one camera crowd into few lists, so a camera filter's best frames
        often sit in lists whose centroids rank low for the query: fewer than
        `exact_below` allowed frames are all scanned (exact up to SQ8), more are
        scanned nearest list first until `filtered_scan` times as many as an
        unfiltered search scans.
        """
        nlist = self._index.nlist
        coarse, lists = self._index.quantizer.search(q, nlist)
        coarse, lists = coarse[0], lists[0]
        if allowed is None:
            return np.ascontiguousarray(lists[:nprobe]), np.ascontiguousarray(coarse[:nprobe])
        counts = np.bincount(self._list_of[:allowed.size][allowed], minlength=nlist)[lists]
        lists, coarse, counts = lists[counts > 0], coarse[counts > 0], counts[counts > 0]
        if counts.sum() < self._policy.exact_below:  # few allowed frames: scan them all
            return lists, coarse
        wanted = self._policy.filtered_scan * nprobe * len(self) / nlist
        m = max(nprobe, int(np.searchsorted(np.cumsum(counts), wanted)) + 1)
        return np.ascontiguousarray(lists[:m]), np.ascontiguousarray(coarse[:m])

    def _retrain_at(self) -> int:
        """The size at which the index is rebuilt: IVF at `exact_below`, then at each `growth`,
        and an SQ8 shard that has a vector file as soon as it reaches `compressed_from`."""
        if not self.is_ivf:
            return self._policy.exact_below
        at = int(self._trained_on * self._policy.growth)
        return min(at, self._policy.compressed_from) if (
            self.tier is ShardTier.SQ8 and self._file is not None) else at

    def _rebuild(self) -> None:
        """The build thread's work: a new IVF index for this shard, swapped in when caught up."""
        try:
            self._build_and_swap()
        except BaseException:
            logger.exception("building a new IVF index for shard %s failed; it keeps its index", self._key)
            with self._sync.turn:
                self._build = None
            raise

    def _build_and_swap(self) -> None:
        with self._sync.turn:
            if self._closed:
                return
            top = self._top
            ids = np.flatnonzero(self._list_of[:top] > -2).astype(np.int64)
            cameras = self._cameras() if self._cameras is not None else 0
            x = self._vectors(ids) if self._file is None else None
        if x is None:  # rows below `top` do not change: read without the turn
            x = self._vectors(ids)
        tier = self._policy.ivf_tier(len(ids), self._file is not None)
        ivf, trained_on = self._trained_ivf(tier, x, cameras)
        error = _score_error(ivf, x) if tier is ShardTier.PQ else 0.0
        parts = [(ids, _fill(ivf, ids, x, reserve=True))]
        del x
        while True:  # catch up with the adds made meanwhile; the last few with the turn held
            with self._sync.turn:
                if self._closed:
                    return
                fresh = np.arange(top, self._top, dtype=np.int64)
                fresh, top = fresh[self._list_of[fresh] > -2], self._top
                if fresh.size <= CATCH_UP_IN_TURN:
                    parts.append((fresh, _fill(ivf, fresh, self._vectors(fresh))))
                    self._swap(ivf, tier, trained_on, error, parts)
                    return
                x = self._vectors(fresh) if self._file is None else None
            parts.append((fresh, _fill(ivf, fresh, self._vectors(fresh) if x is None else x)))

    def _swap(self, ivf: faiss.IndexIVF, tier: ShardTier, trained_on: int, error: float,
              parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Apply the removals made during the build, then publish the new index (turn held)."""
        assert self._build is not None
        removed = np.concatenate(self._build.removed) if self._build.removed else np.empty(0, np.int64)
        if removed.size:
            ivf.remove_ids(removed)
        list_of = np.full(self._list_of.size, -2, dtype=np.int32)
        for ids, lists in parts:
            list_of[ids] = lists
        list_of[removed] = -2
        with self._sync.view.write():
            self._index, self._list_of, self._trained_on, self.tier = ivf, list_of, trained_on, tier
            self._error = error
            self._build = None
        self.schedule_build()  # grown past the next retrain size during the build

    def _trained_ivf(self, tier: ShardTier, x: np.ndarray, cameras: int) -> tuple[faiss.IndexIVF, int]:
        """An empty IVF index trained for these vectors (from `cameras` cameras), and the size it
        was trained at: loaded from `trained` when one fits, else trained here on a sample (and
        saved there). A saved index of another list count (an older rule's, or trained when the
        shard had other cameras) is another object: never loaded, so the shard trains again."""
        nlist = self._policy.nlist(len(x), cameras)
        if (loaded := self._load_trained(tier, nlist, len(x))) is not None:
            return loaded
        ivf = self._new_ivf(tier, nlist)
        wanted = ivf.nlist * self._policy.train_per_list
        if tier is ShardTier.PQ:
            wanted = max(wanted, self._policy.pq_train_min)
        sample = np.sort(np.random.default_rng(0).permutation(len(x))[:wanted])
        # PQ training on a busy 2-core machine: one thread 4 s, two threads 12-20 s (OpenMP spinning);
        # and the build thread leaves the other core to searches.
        with _one_thread():
            ivf.train(x[sample])
        if self._trained is not None and self._key is not None:
            data = faiss.serialize_index(ivf).tobytes()
            try:
                self._trained.save(self._key, tier, nlist, TrainedIndex(len(x), data))
            except Exception:  # a cache: the shard works without it, a restart trains again
                logger.warning("could not save the trained index of shard %s", self._key, exc_info=True)
        return ivf, len(x)

    def _load_trained(self, tier: ShardTier, nlist: int, n: int) -> tuple[faiss.IndexIVF, int] | None:
        """The saved trained index of this shard's tier and list count, if the shard has not grown
        past its retrain size since (`growth` times the size it was trained at) and it matches."""
        if self._trained is None or self._key is None:
            return None
        try:
            saved = self._trained.load(self._key, tier, nlist)
            if saved is None or n >= saved.trained_on * self._policy.growth:
                return None
            ivf = faiss.deserialize_index(np.frombuffer(saved.data, dtype=np.uint8))
        except Exception:
            logger.warning("could not load the trained index of shard %s; training", self._key, exc_info=True)
            return None
        kind = faiss.IndexIVFPQ if tier is ShardTier.PQ else faiss.IndexIVFScalarQuantizer
        fits = (isinstance(ivf, kind) and ivf.d == self.dim and ivf.nlist == nlist and ivf.is_trained
                and ivf.ntotal == 0 and ivf.metric_type == faiss.METRIC_INNER_PRODUCT
                and (tier is not ShardTier.PQ or (self._policy.pq_m == ivf.pq.M and ivf.pq.nbits == 8)))
        return (ivf, saved.trained_on) if fits else None

    def _new_ivf(self, tier: ShardTier, nlist: int) -> faiss.IndexIVF:
        quantizer = faiss.IndexFlatIP(self.dim)
        if tier is ShardTier.SQ8:
            return faiss.IndexIVFScalarQuantizer(quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                                 faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.IndexIVFPQ(quantizer, self.dim, nlist, self._policy.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        ivf.do_polysemous_training = False  # 30× the training time; the search never uses it
        return ivf

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids`: from the vector file, else exact or SQ8-decoded."""
        if self._file is not None:
            return self._file.read(ids)
        index = self._index
        if self.is_ivf:
            with self._direct_map:
                if index.direct_map.type != faiss.DirectMap.Hashtable:
                    index.set_direct_map_type(faiss.DirectMap.Hashtable)
        vectors: np.ndarray = index.reconstruct_batch(ids)
        return vectors


def _fill(ivf: faiss.IndexIVF, ids: np.ndarray, x: np.ndarray, reserve: bool = False) -> np.ndarray:
    """Encode `x` on one thread and add it to `ivf` (not yet searched by anyone) under `ids`;
    returns each vector's list. `reserve`: the first, bulk fill of empty lists."""
    if ids.size == 0:
        return np.empty(0, dtype=np.int32)
    with _one_thread():
        codes = ivf.sa_encode(np.ascontiguousarray(x, dtype=np.float32))
    lists = _list_numbers(ivf, codes)
    if reserve:
        _reserve_lists(ivf, lists)
    ivf.add_sa_codes(codes, ids)
    return lists


def _score_error(ivf: faiss.IndexIVF, x: np.ndarray, sample: int = 256) -> float:
    """The standard deviation of the error in a code's score for a random unit query: √(mean
    squared reconstruction error / dimension), measured on a sample of the shard's vectors."""
    rows = np.sort(np.random.default_rng(0).permutation(len(x))[:sample])
    xs = np.ascontiguousarray(x[rows], dtype=np.float32)
    with _one_thread():
        decoded = ivf.sa_decode(ivf.sa_encode(xs))
    return float(np.sqrt(np.mean(np.sum((xs - decoded) ** 2, axis=1)) / xs.shape[1]))


def _list_numbers(ivf: faiss.IndexIVF, codes: np.ndarray) -> np.ndarray:
    """The IVF list of each standalone code: its first `coarse_code_size` bytes, little-endian."""
    lists = np.zeros(len(codes), dtype=np.int32)
    for byte in range(ivf.coarse_code_size()):
        lists |= codes[:, byte].astype(np.int32) << (8 * byte)
    return lists


def _reserve_lists(ivf: faiss.IndexIVF, lists: np.ndarray) -> None:
    """Give each empty inverted list the exact capacity for the entries about to be added.

    Adding entry by entry grows each list's std::vector geometrically, which leaves
    ≈ 40 % unused capacity on average; growing an empty vector to size n and back
    to 0 keeps capacity n, so the bulk add after a (re)train fills lists exactly
    (lists that already hold entries keep growing geometrically).
    """
    invlists = faiss.downcast_InvertedLists(ivf.invlists)
    targets, counts = np.unique(lists, return_counts=True)
    for list_no, count in zip(targets.tolist(), counts.tolist(), strict=True):
        if invlists.list_size(list_no) == 0:
            invlists.resize(list_no, count)
            invlists.resize(list_no, 0)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run FAISS on one OpenMP thread inside the block (OpenMP's thread count is per calling thread)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
