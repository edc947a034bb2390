"""The index's state in the bucket: one log object per acknowledged batch of vectors.

A batch is written in a single PUT (vectors and records together), so it is
either wholly present or absent; a starting node replays every batch.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from indexing.vector_index import FrameIndex, FrameRecord
from storage import keys
from storage.object_store import ObjectStore


class IndexLog:
    def __init__(self, store: ObjectStore, model_id: str) -> None:
        self._store = store
        self._model_id = model_id

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        buf = io.BytesIO()
        meta = json.dumps([asdict(r) for r in records]).encode()
        np.savez(buf, vectors=vectors.astype(np.float32),
                 records=np.frombuffer(meta, dtype=np.uint8))
        self._store.put_bytes(keys.index_log_key(self._model_id, batch_id), buf.getvalue())

    def delete_range(self, index: FrameIndex, camera_id: str, start_ms: int, end_ms: int) -> int:
        """Delete from `index` and persist the deletion as a tombstone, so a restart honours it."""
        tombstone = {"camera_id": camera_id, "start_ms": start_ms, "end_ms": end_ms}
        self._store.put_bytes(f"{self._prefix}tombstones/{uuid.uuid4().hex}.json",
                              json.dumps(tombstone).encode(), "application/json")
        return index.delete_range(camera_id, start_ms, end_ms)

    def replay(self, index: FrameIndex) -> int:
        """Add every logged batch to `index`, then apply tombstones; returns frames kept."""
        for obj in sorted(self._store.list(self._prefix + "log/"), key=lambda o: o.key):
            with np.load(io.BytesIO(self._store.get_bytes(obj.key)), allow_pickle=False) as data:
                records = [FrameRecord(**r) for r in json.loads(data["records"].tobytes())]
                index.add(records, data["vectors"])
        for obj in self._store.list(self._prefix + "tombstones/"):
            index.delete_range(**json.loads(self._store.get_bytes(obj.key)))
        return len(index)

    @property
    def _prefix(self) -> str:
        return keys.index_prefix(self._model_id)
