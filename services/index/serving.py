"""The index version a node serves, and the handle the rest of the node reaches it through.

A `Serving` holds everything that must change together when the model
changes: the query embedder, the index, the search engine over both, the log,
the embedder pool and the values calibrated for the model (as settings override
them). The node keeps one in a `ServingRef` and replaces it whole, so a search
runs entirely on the old version or entirely on the new.
Ingest goes through the same handle (`indexed`/`add`/`append`/`embed`); a
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
from indexing.dedup import SameScene
from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.frame_columns import FrameKey
from indexing.indexed import IndexedFrames
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameRecord
from services.cluster.interface import EmbedderPool
from services.index.search import SearchEngine
from services.ingest.pipeline import Journal


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
    index: IndexedFrames  # this process's `FrameIndex`; partitioned, `RoutedFrames` (the shard servers')
    log: IndexLog
    writes: IndexWrites
    search: SearchEngine
    pool: EmbedderPool  # embeds keyframes
    follower: Follower | None = None
    calibration: Calibration = field(kw_only=True)  # `Settings.calibrated(spec.calibration)`

    @property
    def model_id(self) -> str:
        return self.log.model_id

    @property
    def same_scene(self) -> SameScene | None:
        """When ingest stores a keyframe or region once (`indexing.dedup`): the calibrated cosine
        over CLIP's part of the vectors; None: dedup is off."""
        return self.embedder.same_scene(self.calibration.dedup_cosine)


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

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        return self._serving.index.indexed(frames)

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """After `append`: searchable now (partitioned: on the shard servers), not only once the
        index follows the writers' feeds."""
        return self._serving.index.add(records, vectors)

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        self._serving.writes.append(batch_id, records, vectors)

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return self._serving.pool.embed(frames)

    def poll(self) -> int:
        follower = self._serving.follower
        return follower.poll() if follower is not None else 0
