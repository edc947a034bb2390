"""A shard's stand-in for its vectors where other processes hold them.

A front end of a partitioned index (`services.index.router`) searches through the
shard servers, which hold the vectors; it still needs each frame's record to tell
what is indexed (ingest skips keyframes already there, a model switch re-embeds
what the new version lacks, retention deletes ranges). Its `FrameIndex` is made
with `vectors=False`: every shard keeps its record columns (≈ 25 bytes a frame)
and this in place of a `VectorShard`, so the front end holds no vector, no FAISS
index and no vector file, and trains nothing.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from indexing.errors import VectorsElsewhereError
from indexing.shards import Prepared, ShardTier


class RecordsOnly:
    """`VectorShard`'s interface over no vectors: counts the ids committed, refuses to search."""

    tier = ShardTier.RECORDS
    is_ivf = False
    nlist = 0
    building = False
    disk_bytes = 0

    def __init__(self) -> None:
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def ram_bytes(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def prepare(self, vectors: np.ndarray) -> Prepared:
        n = len(vectors)  # kept as zero-width rows, so `Prepared.rows` slices them like any batch
        return Prepared(np.empty((n, 0), dtype=np.float32), None, np.full(n, -1, dtype=np.int32))

    def commit(self, ids: np.ndarray, prepared: Prepared) -> None:
        self._count += int(np.asarray(ids).size)

    def remove(self, ids: np.ndarray) -> None:
        self._count -= int(np.asarray(ids).size)

    def schedule_build(self) -> Future[None] | None:
        return None

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        raise VectorsElsewhereError(ELSEWHERE)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        raise VectorsElsewhereError(ELSEWHERE)


ELSEWHERE = "this index holds records only: its vectors are on the shard servers (search through the router)"
