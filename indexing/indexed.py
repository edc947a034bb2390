"""What a node asks of its index besides searching, wherever the frames are held.

`indexing.vector_index.FrameIndex` holds them in this process (the embedded default); a
partitioned front end's `services.index.routed_frames.RoutedFrames` holds none and asks the
shard servers that do. Ingest asks which keyframes are indexed already, a model switch reads
every frame of a shard and adds what it re-embedded, retention deletes ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from indexing.frame_columns import FrameKey, FrameRecord
from indexing.shards import ShardKey


class IndexedFrames(Protocol):
    @property
    def dim(self) -> int: ...

    def __len__(self) -> int:
        """Frames indexed (keyframes and regions)."""
        ...

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        """For each frame, whether it is indexed (a keyframe: its time is covered; a region: exactly)."""
        ...

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Add the frames not already present; returns how many were new."""
        ...

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Forget the camera's frames with time in [start_ms, end_ms); returns how many."""
        ...

    def shard_keys(self) -> list[ShardKey]: ...

    def records(self, keys: Iterable[ShardKey] | None = None) -> Iterable[FrameRecord]:
        """Every frame (of the shards `keys` only, if given), shard by shard."""
        ...

    def close(self) -> None: ...
