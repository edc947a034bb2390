"""What the search engine searches: a small protocol, two implementations.

`InProcess` is the node's own `FrameIndex` (the embedded default: every shard in this process);
`services.index.router.ShardRouter` sends each search to the shard servers holding the shards
that survive the filter. A search answers its hits and the shards it could not search
(`Unsearched`: no live server held them), so a partial answer is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexing.frame_columns import Box
from indexing.vector_index import FrameHit, FrameIndex, SearchFilter
from storage.timeutil import DAY_MS


@dataclass(frozen=True, order=True)
class Unsearched:
    """A shard no live server held: the camera group's frames of that UTC day were not searched."""

    group: str  # "" when cameras are not grouped
    day: int  # UTC day number since the epoch

    @property
    def start_ms(self) -> int:
        return self.day * DAY_MS


@dataclass(frozen=True)
class Searched:
    hits: list[FrameHit]  # best first
    unsearched: tuple[Unsearched, ...] = ()


class Searchable(Protocol):
    """Inner-product search over stored keyframe and region vectors, with their records."""

    def find(self, query: np.ndarray, top_k: int, where: SearchFilter) -> Searched:
        """The `top_k` best allowed frames, and the shards that could not be searched."""
        ...

    def vector(self, camera_id: str, time_ms: int, box: Box | None = None) -> np.ndarray | None:
        """The stored vector of that keyframe (or region); None if none is stored."""
        ...

    def sample(self, n: int, seed: int = 0, regions: bool | None = None) -> np.ndarray:
        """Up to `n` stored vectors, newest days first (`FrameIndex.sample`)."""
        ...


class InProcess:
    """A `FrameIndex` in this process as a `Searchable`: every shard is here, none unsearched."""

    def __init__(self, index: FrameIndex) -> None:
        self.index = index

    def find(self, query: np.ndarray, top_k: int, where: SearchFilter) -> Searched:
        return Searched(self.index.search(query, top_k, where))

    def vector(self, camera_id: str, time_ms: int, box: Box | None = None) -> np.ndarray | None:
        return self.index.vector(camera_id, time_ms, box)

    def sample(self, n: int, seed: int = 0, regions: bool | None = None) -> np.ndarray:
        return self.index.sample(n, seed, regions)


def searchable(index: FrameIndex | Searchable) -> Searchable:
    return InProcess(index) if isinstance(index, FrameIndex) else index
