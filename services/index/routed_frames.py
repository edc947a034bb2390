"""A partitioned front end's index: every question about its frames answered by the shard servers.

With `ray.shard_servers` the front end holds no frame at all (neither vector nor record): the
shard servers hold each shard whole. What the node asks of its index besides searching
(`indexing.indexed.IndexedFrames`) goes, through the router, to the servers holding the shards
concerned: whether keyframes are indexed already (ingest skips them), frames just acknowledged
(pushed to every holder, so they are searchable when the ingest says so; the writers' feeds bring
the same frames later, added once), ranges deleted (retention, tombstones carried over), each
shard's frames (a model switch re-embeds what the new version lacks, shard by shard), counts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from indexing.frame_columns import FrameKey, FrameRecord
from indexing.shards import ShardKey
from indexing.vector_index import one_group
from services.cluster.shard_servers import ServerHandle
from services.index.router import ShardRouter


class RoutedFrames:
    """`IndexedFrames` over the shard servers of one version; holds nothing itself."""

    def __init__(self, router: ShardRouter, dim: int, group_of: Callable[[str], str] = one_group) -> None:
        self._router, self._dim, self._group_of = router, dim, group_of

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return sum(self._router.counts().values())

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        found = self._ask_by_shard(frames, range(len(frames)), 0)
        # a keyframe's time may lie in the span of the camera's last keyframe of the day before
        again = [i for i in range(len(frames)) if not found[i] and frames[i].box is None]
        for i, flag in self._ask_by_shard(frames, again, 1).items():
            found[i] = flag
        return [found[i] for i in range(len(frames))]

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        """Frames acknowledged in the bucket (its log, or a writer's), added to every live server
        holding their shards now; a shard no server holds yet is assigned first (its server loads
        these frames from the bucket). Returns how many were new."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        rows = self._rows(records)
        self._router.learn(rows)
        added = 0
        for key, idx in rows.items():
            add = functools.partial(_add, key, [records[i] for i in idx], vectors[idx])
            added += max(self._router.ask_all(key, add), default=0)
        return added

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        group = self._group_of(camera_id)
        removed = 0
        for key in self._router.shards():
            if key.group == group and key.overlaps(start_ms, end_ms):
                delete = functools.partial(_delete_range, key, camera_id, start_ms, end_ms)
                removed += max(self._router.ask_all(key, delete), default=0)
        return removed

    def shard_keys(self) -> list[ShardKey]:
        return self._router.shards()

    def records(self, keys: Iterable[ShardKey] | None = None) -> Iterator[FrameRecord]:
        """Shard by shard, one shard's records at a time from a server holding it."""
        for key in self.shard_keys() if keys is None else sorted(keys):
            none: list[FrameRecord] = []
            yield from self._router.ask(key, functools.partial(_records, key), none)

    def close(self) -> None:
        self._router.close()

    def _ask_by_shard(self, frames: Sequence[FrameKey], which: Iterable[int],
                      days_back: int) -> dict[int, bool]:
        by_shard: dict[ShardKey, list[int]] = {}
        for i in which:
            key = ShardKey.of(self._group_of(frames[i].camera_id), frames[i].time_ms)
            by_shard.setdefault(ShardKey(key.group, key.day - days_back), []).append(i)
        found: dict[int, bool] = {}
        for key, idx in by_shard.items():
            ask = functools.partial(_indexed, key, [frames[i] for i in idx])
            flags = self._router.ask(key, ask, [False] * len(idx))
            found.update(zip(idx, flags, strict=True))
        return found

    def _rows(self, records: Sequence[FrameRecord]) -> dict[ShardKey, list[int]]:
        rows: dict[ShardKey, list[int]] = {}
        for i, r in enumerate(records):
            rows.setdefault(ShardKey.of(self._group_of(r.camera_id), r.time_ms), []).append(i)
        return rows


def _add(key: ShardKey, records: list[FrameRecord], vectors: np.ndarray, server: ServerHandle) -> int | None:
    return server.add(key, records, vectors)


def _delete_range(key: ShardKey, camera_id: str, start_ms: int, end_ms: int,
                  server: ServerHandle) -> int | None:
    return server.delete_range(key, camera_id, start_ms, end_ms)


def _records(key: ShardKey, server: ServerHandle) -> list[FrameRecord] | None:
    return server.records(key)


def _indexed(key: ShardKey, frames: list[FrameKey], server: ServerHandle) -> list[bool] | None:
    return server.indexed(key, frames)
