"""One index version's state in the bucket: snapshot runs, the log of batches added since,
and tombstones.

Every object is written once in a single PUT and never rewritten with other
content: a log batch's key carries a unique suffix, a snapshot run and a
compacted tombstone set are named by their content. Loading is a union:
every run, then every log batch (`FrameIndex.add` skips a frame it holds, by
camera, time and box, so a frame or region present in a run and in a log batch is added
once), then every tombstone. Tombstones are never dropped, only coalesced,
so no object left behind by a crash can bring a deleted frame back.
Compaction (`indexing.index_snapshots`) folds log batches into runs.
Regions (`FrameRecord.box`) travel in the same batches and runs as their keyframes, and a
tombstone deletes a keyframe's regions with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import numpy as np

from indexing.index_codec import (
    FrameBatch,
    Tombstone,
    TombstoneSet,
    decode_batch,
    decode_tombstones,
    encode_batch,
    encode_tombstones,
)
from indexing.indexed import IndexedFrames
from indexing.vector_index import FrameIndex, FrameRecord
from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

T = TypeVar("T")


class IndexLog:
    def __init__(self, store: ObjectStore, model_id: str,
                 on_append: Callable[[], None] | None = None) -> None:
        self._store = store
        self.model_id = model_id
        self._on_append = on_append

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        """Persist a batch; once this returns the batch is acknowledged (it survives kill -9)."""
        key = keys.index_log_key(self.model_id, f"{batch_id}-{uuid.uuid4().hex[:12]}")
        self._store.put_bytes(key, encode_batch(FrameBatch(list(records), vectors)))
        if self._on_append is not None:
            self._on_append()

    def delete_range(self, index: FrameIndex, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Delete from `index` and persist the deletion as a tombstone, so a restart honours it."""
        self.add_tombstones([Tombstone(camera_id, start_ms, end_ms)])
        return index.delete_range(camera_id, start_ms, end_ms)

    def add_tombstones(self, tombstones: Sequence[Tombstone]) -> None:
        """Persist deletions (one object); the caller applies them to its in-memory index."""
        if tombstones:
            key = f"{keys.index_tombstone_prefix(self.model_id)}{uuid.uuid4().hex}.json"
            self._store.put_bytes(key, encode_tombstones(tombstones), "application/json")

    def tombstones(self) -> TombstoneSet:
        """Every deletion of this version, coalesced."""
        return TombstoneSet(t for _, ts in self._objects([keys.index_tombstone_prefix(self.model_id)],
                                                         decode_tombstones) for t in ts)

    def batches(self) -> Iterator[FrameBatch]:
        """Every frame batch of this version: snapshot runs, then log batches."""
        prefixes = [keys.index_snapshot_prefix(self.model_id), keys.index_log_prefix(self.model_id)]
        return (batch for _, batch in self._objects(prefixes, decode_batch))

    def log_batches(self) -> Iterator[FrameBatch]:
        """The batches logged since the last compaction."""
        return (batch for _, batch in self._objects([keys.index_log_prefix(self.model_id)], decode_batch))

    def replay(self, index: FrameIndex) -> int:
        """Load this version into `index`: runs, then the log, then tombstones; returns frames kept."""
        for batch in self.batches():
            index.add(batch.records, batch.vectors)
        apply_tombstones(index, self.tombstones())
        return len(index)

    def _objects(self, prefixes: list[str], decode: Callable[[bytes], T]) -> Iterator[tuple[str, T]]:
        """Each object under the prefixes, decoded, with its key.

        A compactor deletes an object only after writing its content into a new
        one, so when a listed object has vanished, listing again finds the new one.
        """
        done: set[str] = set()
        vanished = True
        while vanished:
            vanished = False
            for prefix in prefixes:
                for obj in sorted(self._store.list(prefix), key=lambda o: o.key):
                    if obj.key in done:
                        continue
                    done.add(obj.key)
                    try:
                        data = self._store.get_bytes(obj.key)
                    except ObjectNotFoundError:
                        vanished = True
                        continue
                    yield obj.key, decode(data)


def apply_tombstones(index: IndexedFrames, tombstones: Iterable[Tombstone]) -> int:
    return sum(index.delete_range(t.camera_id, t.start_ms, t.end_ms) for t in tombstones)
