"""Compaction: fold an index version's log batches and tombstones into per-shard snapshot runs.

A shard (camera group × UTC day, `ShardKey`) is stored as a few runs, each
one object named by its content. New log batches become a run of their own
merged with the shard's runs no larger than it (a binary counter: each frame is
rewritten O(log n) times, a shard keeps O(log n) runs). New tombstones are
applied to the runs of the days they touch, then coalesced into a tombstone set
that is kept for good.

Crash safety rests on one rule: an object is deleted only after every frame
it holds that no tombstone deletes is in an object already written. Loading
is a union (`IndexLog.replay`), so a kill -9 between any two steps leaves
either the old objects, or the new ones beside (some of) the old: the same
frames, duplicates skipped by camera, time and box, tombstones applied last. The
order of one compaction is: write runs → delete the log batches and runs
they replace → write the tombstone set → delete the tombstones it replaces.
Compactors on several nodes may run at once: each deletes only objects it has
read and rewritten, so they waste work but lose nothing; runs with identical
content have the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

from indexing.index_codec import (
    FrameBatch,
    Tombstone,
    TombstoneSet,
    concat,
    decode_batch,
    decode_tombstones,
    encode_batch,
    encode_tombstones,
)
from indexing.shards import ShardKey
from indexing.vector_index import one_group
from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

T = TypeVar("T")
MAX_BATCHES = 4096  # log batches folded by one compaction (bounds its memory)


@dataclass(frozen=True)
class Run:
    """A snapshot run as listed: its key says its shard and size."""

    key: str
    shard: ShardKey
    frames: int

    @classmethod
    def parse(cls, key: str, prefix: str) -> Run:
        day, group, name = key.removeprefix(prefix).split("/")
        return cls(key, ShardKey(unquote(group.removeprefix("g-")), int(day)), int(name.split("-")[0]))


@dataclass(frozen=True)
class CompactionReport:
    batches: int = 0  # log batches folded into runs
    tombstones: int = 0  # tombstone objects coalesced
    runs_written: int = 0
    runs_replaced: int = 0


def runs_to_merge(runs: Sequence[Run], new_frames: int) -> list[Run]:
    """The shard's smallest runs, taken while each is no larger than what is merged so far."""
    chosen, merged = [], new_frames
    for run in sorted(runs, key=lambda r: (r.frames, r.key)):
        if run.frames > merged:
            break
        chosen.append(run)
        merged += run.frames
    return chosen


class Compactor:
    """Compacts one index version in the bucket; needs nothing in memory."""

    def __init__(self, store: ObjectStore, model_id: str, dim: int,
                 group_of: Callable[[str], str] = one_group, max_batches: int = MAX_BATCHES) -> None:
        self._store, self._model_id, self._dim = store, model_id, dim
        self._group_of, self._max_batches = group_of, max_batches

    def backlog(self) -> int:
        """Log batches and tombstone objects not yet compacted."""
        logs = sum(1 for _ in self._store.list(keys.index_log_prefix(self._model_id)))
        return logs + len(self._pending_tombstones())

    def compact(self) -> CompactionReport:
        pending = self._pending_tombstones()
        sets = [o.key for o in self._store.list(keys.index_tombstone_prefix(self._model_id))
                if o.key not in pending]
        fresh = self._read_tombstones(pending)
        deleted = TombstoneSet([*fresh, *self._read_tombstones(sets)])
        log_keys = sorted(o.key for o in self._store.list(keys.index_log_prefix(self._model_id)))
        log_keys = log_keys[:self._max_batches]
        new, read_logs = self._new_frames(log_keys, deleted)
        written, replaced = self._write_runs(new, fresh, deleted)
        self._store.delete(read_logs)  # their frames are in runs now
        self._store.delete(k for k in replaced if k not in written)
        tombstones = self._write_tombstone_set(pending, sets, deleted)
        return CompactionReport(len(read_logs), tombstones, len(written), len(replaced))

    def _new_frames(self, log_keys: list[str],
                    deleted: TombstoneSet) -> tuple[dict[ShardKey, FrameBatch], list[str]]:
        """The logged frames no tombstone deletes, by shard, and the log keys read."""
        by_shard: dict[ShardKey, list[FrameBatch]] = {}
        read = []
        for key in log_keys:
            batch = self._get(key, decode_batch)
            if batch is None:
                continue  # another compactor folded it
            read.append(key)
            batch = deleted.alive(batch)
            shards = [self._shard(r.camera_id, r.time_ms) for r in batch.records]
            for shard in set(shards):
                by_shard.setdefault(shard, []).append(batch.where([s == shard for s in shards]))
        return {s: concat(b, self._dim) for s, b in by_shard.items()}, read

    def _write_runs(self, new: dict[ShardKey, FrameBatch], fresh: list[Tombstone],
                    deleted: TombstoneSet) -> tuple[set[str], list[str]]:
        """Write each shard's new runs; returns the keys written and the runs they replace."""
        prefix = keys.index_snapshot_prefix(self._model_id)
        runs: dict[ShardKey, list[Run]] = {}
        for obj in self._store.list(prefix):
            run = Run.parse(obj.key, prefix)
            runs.setdefault(run.shard, []).append(run)
        written: set[str] = set()
        replaced: list[str] = []
        for shard in sorted(set(new) | {s for s in runs if any(t.overlaps_day(s.day) for t in fresh)}):
            existing = runs.get(shard, [])
            merged = runs_to_merge(existing, len(new[shard])) if shard in new else []
            swept = [r for r in existing if r not in merged and any(t.overlaps_day(shard.day) for t in fresh)]
            if shard in new:
                written |= self._merge(shard, new[shard], merged, deleted, replaced)
            for run in swept:
                written |= self._merge(shard, None, [run], deleted, replaced)
        return written, replaced

    def _merge(self, shard: ShardKey, new: FrameBatch | None, runs: list[Run], deleted: TombstoneSet,
               replaced: list[str]) -> set[str]:
        """Write `runs` + `new` as one run, minus deleted frames; adds the runs read to `replaced`."""
        parts, read = [], []
        for run in runs:
            batch = self._get(run.key, decode_batch)
            if batch is not None:  # else another compactor merged it
                parts.append(batch)
                read.append(run.key)
        before = sum(len(p) for p in parts)
        merged = deleted.alive(concat([*parts, *([new] if new is not None else [])], self._dim))
        if new is None and len(merged) == before:
            return set()  # the tombstones delete nothing here
        key = None
        if len(merged):
            key = keys.index_snapshot_key(self._model_id, shard.day, shard.group, len(merged),
                                          merged.digest())
            self._store.put_bytes(key, encode_batch(merged))
        replaced.extend(read)
        return {key} if key else set()

    def _write_tombstone_set(self, pending: list[str], sets: list[str], deleted: TombstoneSet) -> int:
        if not pending:
            return 0
        data = encode_tombstones(deleted)
        key = keys.index_tombstone_set_key(self._model_id, _digest(data))
        self._store.put_bytes(key, data, "application/json")
        self._store.delete(k for k in [*pending, *sets] if k != key)
        return len(pending)

    def _pending_tombstones(self) -> list[str]:
        prefix = keys.index_tombstone_prefix(self._model_id)
        return [o.key for o in self._store.list(prefix)
                if not o.key.removeprefix(prefix).startswith(keys.TOMBSTONE_SET)]

    def _read_tombstones(self, keys_: list[str]) -> list[Tombstone]:
        return [t for k in keys_ for t in (self._get(k, decode_tombstones) or [])]

    def _get(self, key: str, decode: Callable[[bytes], T]) -> T | None:
        try:
            return decode(self._store.get_bytes(key))
        except ObjectNotFoundError:
            return None

    def _shard(self, camera_id: str, time_ms: int) -> ShardKey:
        return ShardKey.of(self._group_of(camera_id), time_ms)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]
