"""One shard's vectors in FAISS: the only module that imports faiss.

A shard holds the keyframes of one camera group for one UTC day
(`ShardKey`). Below `ShardPolicy.exact_below` vectors it searches exactly
(`IndexFlatIP`); from there on it is an IVF index with 8-bit scalar-quantized
vectors (IVF-SQ8), trained on the shard's own vectors and retrained when the
shard has grown `growth` times past its training size. SQ8 decodes almost
losslessly, so a retrain re-encodes the shard without compounding error.

Why SQ8, not PQ: on the benchmark's clustered 256-d vectors (100k, nlist 256)
IVF-PQ64 (≈ 77 bytes/vector) tops out at recall@10 ≈ 0.75 whatever the nprobe,
IVF-SQ8 (≈ 267 bytes/vector) reaches 0.99 at nprobe 8; recall is what an
investigator notices, and 1M frames cost 267 MB.

Filters are a bitmap over the shard's frame ids passed per call in
`SearchParametersIVF` together with `nprobe`; a shared index is never mutated
for a search. A filtered IVF search probes only lists that hold allowed frames
(see `VectorShard._probe`), so filtered recall matches unfiltered recall.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import faiss
import numpy as np

DAY_MS = 86_400_000
# Below this many vectors an IVF add runs on one thread: OpenMP start-up and spinning cost
# ≈ 15 ms per call on a busy 2-core machine (250k frames added 32 at a time: 35 s, one thread: 2.6 s).
SMALL_BATCH = 1024


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


@dataclass(frozen=True)
class ShardPolicy:
    exact_below: int = 50_000  # exact search up to here: ≤ 50k × 256-d is ≤ 5 ms single-threaded
    growth: float = 2.0  # retrain the IVF index when the shard has doubled since training
    nprobe: int = 16  # default lists probed per search (recall@10 ≈ 0.98 on clustered data)
    train_per_list: int = 64  # training sample: this many vectors per IVF list
    # A filtered IVF search scans this many times as many allowed frames as an unfiltered one
    # scans frames (500k-frame shard, 10% of cameras allowed: ×1 recall@10 0.88, ×2 0.98, ×4 0.99).
    filtered_scan: float = 4.0

    def nlist(self, n: int) -> int:
        """IVF lists for `n` vectors: the power of two nearest √n, in [16, 8192]."""
        return int(np.clip(2 ** round(np.log2(np.sqrt(max(n, 1)))), 16, 8192))


class VectorShard:
    """Unit vectors under caller-chosen int64 ids (small, dense); not thread-safe."""

    def __init__(self, dim: int, policy: ShardPolicy) -> None:
        self.dim = dim
        self._policy = policy
        self._index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._list_of = np.empty(0, dtype=np.int32)  # by id: IVF list, -1 exact, -2 absent
        self._trained_on = 0

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def is_ivf(self) -> bool:
        return self._trained_on > 0

    def serialized_bytes(self) -> int:
        return int(faiss.serialize_index(self._index).size)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size and ids.max() >= self._list_of.size:  # grow by doubling: ingest adds small batches
            grown = np.full(max(int(ids.max()) + 1, 2 * self._list_of.size), -2, dtype=np.int32)
            grown[:self._list_of.size] = self._list_of
            self._list_of = grown
        self._insert(ids, x)
        if len(self) >= (self._trained_on * self._policy.growth if self.is_ivf
                         else self._policy.exact_below):
            self._retrain()

    def remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))
        self._list_of[ids] = -2

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) among ids where `allowed` (a bool mask by id) is set, or all."""
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        bitmap = None if allowed is None else np.packbits(allowed, bitorder="little")
        sel = None if bitmap is None else faiss.IDSelectorBitmap(allowed.size, faiss.swig_ptr(bitmap))
        if not self.is_ivf:
            scores, ids = self._index.search(q, k, params=faiss.SearchParameters(sel=sel))
            return scores[0], ids[0]
        lists, coarse = self._probe(q, allowed, nprobe or self._policy.nprobe)
        params = faiss.SearchParametersIVF(sel=sel, nprobe=lists.size)
        scores, ids = np.empty(k, dtype=np.float32), np.empty(k, dtype=np.int64)
        self._index.search_preassigned_c(  # the numpy wrapper drops `params`
            1, faiss.swig_ptr(q), k, faiss.swig_ptr(lists), faiss.swig_ptr(coarse),
            faiss.swig_ptr(scores), faiss.swig_ptr(ids), False, params)
        return scores, ids

    def _probe(self, q: np.ndarray, allowed: np.ndarray | None,
               nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """Lists to scan, nearest first: `nprobe` of them, or for a filter, lists holding allowed frames.

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

    def _insert(self, ids: np.ndarray, x: np.ndarray) -> None:
        if not self.is_ivf:
            self._index.add_with_ids(x, ids)
            self._list_of[ids] = -1
            return
        with _one_thread() if len(ids) < SMALL_BATCH else nullcontext():
            lists = self._index.quantizer.assign(x, 1).ravel().astype(np.int64)
            self._index.add_core(len(ids), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(lists))
        self._list_of[ids] = lists

    def _retrain(self) -> None:
        ids = np.flatnonzero(self._list_of > -2).astype(np.int64)
        x = self._vectors(ids)
        nlist = self._policy.nlist(len(ids))
        sample = np.random.default_rng(0).permutation(len(ids))[:nlist * self._policy.train_per_list]
        ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(self.dim), self.dim, nlist,
                                            faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        ivf.train(x[np.sort(sample)])
        self._index, self._trained_on = ivf, len(ids)
        self._insert(ids, x)

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (exact, or SQ8-decoded)."""
        if self.is_ivf:
            self._index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return self._index.reconstruct_batch(ids)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run FAISS on one OpenMP thread inside the block (callers hold `FrameIndex`'s lock)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
