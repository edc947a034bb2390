"""The FAISS adapter: the only module that imports faiss.

`FrameIndex` holds unit vectors of keyframes with their records. Filters
(cameras, time range) are applied inside FAISS with an id selector passed per
call, so `top_k` is always filled with the best allowed frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True)
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

    @property
    def is_empty(self) -> bool:
        return not self.camera_ids and self.start_ms is None and self.end_ms is None


@dataclass(frozen=True)
class FrameHit:
    record: FrameRecord
    score: float


class FrameIndex:
    """Exact inner-product search over keyframe vectors; thread-safe."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._records: list[FrameRecord | None] = []  # by frame id; None once deleted
        self._by_frame: dict[tuple[str, int], int] = {}
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._by_frame)

    def contains(self, camera_id: str, time_ms: int) -> bool:
        return (camera_id, time_ms) in self._by_frame

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Add frames not already present (same camera and time); returns how many were new."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        with self._lock:
            new = [i for i, r in enumerate(records) if (r.camera_id, r.time_ms) not in self._by_frame]
            if not new:
                return 0
            ids = np.arange(len(self._records), len(self._records) + len(new), dtype=np.int64)
            for frame_id, i in zip(ids, new, strict=True):
                self._records.append(records[i])
                self._by_frame[(records[i].camera_id, records[i].time_ms)] = int(frame_id)
            self._index.add_with_ids(np.ascontiguousarray(vectors[new], dtype=np.float32), ids)
            return len(new)

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Forget the camera's keyframes with time in [start_ms, end_ms); returns how many."""
        with self._lock:
            ids = [i for i, r in enumerate(self._records)
                   if r is not None and r.camera_id == camera_id and start_ms <= r.time_ms < end_ms]
            if ids:
                self._index.remove_ids(np.array(ids, dtype=np.int64))
            for i in ids:
                record = self._records[i]
                assert record is not None
                del self._by_frame[(record.camera_id, record.time_ms)]
                self._records[i] = None
            return len(ids)

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter = SearchFilter()) -> list[FrameHit]:
        with self._lock:
            if not self._by_frame:
                return []
            params = None
            if not where.is_empty:
                allowed = np.array([i for i, r in enumerate(self._records)
                                    if r is not None and where.allows(r)], dtype=np.int64)
                if allowed.size == 0:
                    return []
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
            scores, ids = self._index.search(q, min(top_k, len(self._by_frame)), params=params)
            return [FrameHit(self._records[i], float(s))  # type: ignore[arg-type]
                    for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def records(self) -> Iterable[FrameRecord]:
        with self._lock:
            return [r for r in self._records if r is not None]
