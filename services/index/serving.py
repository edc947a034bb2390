"""The index version a node serves, and the handle the rest of the node reaches it through.

A `Serving` holds everything that must change together when the model
changes: the query embedder, the index, the search engine over both, the log,
the embedder pool and the values calibrated for the model (as settings override
them). The node keeps one in a `ServingRef` and replaces it whole, so a search
runs entirely on the old version or entirely on the new.
Ingest goes through the same handle (`contains`/`add`/`append`/`embed`); a
model switch replaces it only while no ingest is running (the node's index
lock), so one batch is never embedded by one model and stored in another's
version.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from indexing.calibration import Calibration
from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, FrameRecord
from services.cluster.interface import EmbedderPool
from services.cluster.shard_servers import stored_shards
from services.index.router import ShardRouter
from services.index.search import SearchEngine
from services.ingest.pipeline import Journal
from storage.object_store import ObjectStore


class IndexWrites(Journal, Protocol):
    """Where a version's changes are acknowledged: the shard writers in front of its log."""

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> None: ...


class Follower(Protocol):
    """Adds to the version's in-memory index what other front ends indexed."""

    def poll(self) -> int: ...


@dataclass(frozen=True)
class Serving:
    spec: ModelSpec
    embedder: ClipEmbedder  # encodes queries
    index: FrameIndex
    log: IndexLog
    writes: IndexWrites
    search: SearchEngine
    pool: EmbedderPool  # embeds keyframes
    follower: Follower | None = None
    calibration: Calibration = field(kw_only=True)  # `Settings.calibrated(spec.calibration)`
    # partitioned (`ray.shard_servers`): the router searches go through; `index` holds records only
    partitions: ShardRouter | None = field(default=None, kw_only=True)

    def reload_partitions(self, store: ObjectStore) -> None:
        """After writes to the log that bypassed the shard writers (re-embedding): the shard
        servers load this version's shards again from the bucket. Nothing to do unpartitioned."""
        if self.partitions is not None:
            self.partitions.reload(stored_shards(store, self.model_id))

    @property
    def model_id(self) -> str:
        return self.log.model_id


class ServingRef:
    """The node's current `Serving`, replaced whole; a `FrameSink`, `Journal` and embed function."""

    def __init__(self, serving: Serving) -> None:
        self._serving = serving
        self._lock = threading.Lock()

    @property
    def current(self) -> Serving:
        return self._serving

    def replace(self, serving: Serving) -> Serving:
        """Serve `serving` from now on; returns the version it replaces."""
        with self._lock:
            old, self._serving = self._serving, serving
            return old

    def contains(self, camera_id: str, time_ms: int) -> bool:
        return self._serving.index.contains(camera_id, time_ms)

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """After `append`: into this front end's index; partitioned, the shard servers also pull
        their writers' feeds now, so what a job or recording acknowledged is searchable when it
        says so (not at the next periodic poll)."""
        serving = self._serving
        added = serving.index.add(records, vectors)
        if serving.partitions is not None:
            serving.partitions.poll()
        return added

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        self._serving.writes.append(batch_id, records, vectors)

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return self._serving.pool.embed(frames)

    def poll(self) -> int:
        follower = self._serving.follower
        return follower.poll() if follower is not None else 0
