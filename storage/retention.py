"""Retention and legal holds.

`expired` is a pure decision; `RetentionSweeper` applies it to the bucket:
it deletes expired segments (manifest first, so readers stop trusting the
segment before it goes), their thumbnails, and asks the index to drop the
vectors through the `VectorDeleter` port. Holds on (camera, time range) block
deletion until released. Every deletion is logged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from storage import keys
from storage.cameras import CameraRegistry
from storage.errors import ObjectNotFoundError
from storage.manifests import SegmentManifest
from storage.object_store import ObjectInfo, ObjectStore

logger = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Hold:
    hold_id: str
    camera_id: str
    start_ms: int
    end_ms: int
    reason: str
    created_by: str

    def covers(self, m: SegmentManifest) -> bool:
        return self.camera_id == m.camera_id and self.start_ms < m.end_ms and m.start_ms < self.end_ms


def expired(m: SegmentManifest, now_ms: int, retention_days: int, holds: list[Hold]) -> bool:
    """A segment goes when all of it is older than its camera's retention and no hold covers it."""
    return m.end_ms <= now_ms - retention_days * DAY_MS and not any(h.covers(m) for h in holds)


class VectorDeleter(Protocol):
    """What retention needs from the index: forget a camera's vectors in [start_ms, end_ms)."""

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int: ...


class Holds:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def place(self, camera_id: str, start_ms: int, end_ms: int, reason: str, by: str) -> Hold:
        keys.validate_camera_id(camera_id)
        if end_ms <= start_ms:
            raise ValueError("a hold needs end after start")
        hold = Hold(uuid.uuid4().hex, camera_id, start_ms, end_ms, reason, by)
        self._store.put_bytes(f"holds/{hold.hold_id}.json", json.dumps(asdict(hold)).encode())
        logger.info("hold %s placed on %s [%d, %d) by %s", hold.hold_id, camera_id, start_ms, end_ms, by)
        return hold

    def release(self, hold_id: str) -> None:
        key = f"holds/{hold_id}.json"
        if not self._store.exists(key):
            raise ObjectNotFoundError(f"no hold {hold_id}")
        self._store.delete([key])
        logger.info("hold %s released", hold_id)

    def all(self) -> list[Hold]:
        return [Hold(**json.loads(self._store.get_bytes(o.key))) for o in self._store.list("holds/")]


@dataclass(frozen=True)
class SweepReport:
    segments_deleted: int
    bytes_deleted: int
    vectors_deleted: int
    held: int


class RetentionSweeper:
    def __init__(self, store: ObjectStore, cameras: CameraRegistry, holds: Holds,
                 vectors: VectorDeleter, clock_ms: Callable[[], int]) -> None:
        self._store, self._cameras, self._holds = store, cameras, holds
        self._vectors, self._clock_ms = vectors, clock_ms

    def sweep(self) -> SweepReport:
        now, holds = self._clock_ms(), self._holds.all()
        deleted = size = vectors = held = 0
        for camera in self._cameras.list():
            for obj in self._store.list(f"segments/{camera.camera_id}/"):
                if not obj.key.endswith(".json"):
                    continue
                m = SegmentManifest.from_json(self._store.get_bytes(obj.key))
                if expired(m, now, camera.retention_days, holds):
                    vectors += self._delete(m)
                    deleted, size = deleted + 1, size + m.bytes
                elif expired(m, now, camera.retention_days, []):
                    held += 1
        return SweepReport(deleted, size, vectors, held)

    def _delete(self, m: SegmentManifest) -> int:
        thumbs = [o.key for o in self._thumbnails(m)]
        self._store.delete([keys.manifest_key(m.segment_key)])
        self._store.delete([m.segment_key, *thumbs])
        removed = self._vectors.delete_range(m.camera_id, m.start_ms, m.end_ms)
        logger.info("retention deleted %s (%d bytes, sha256 %s, %d thumbnails, %d vectors)",
                    m.segment_key, m.bytes, m.sha256, len(thumbs), removed)
        return removed

    def _thumbnails(self, m: SegmentManifest) -> list[ObjectInfo]:
        prefixes = {keys.thumbnail_key(m.camera_id, t).rsplit("/", 1)[0] + "/"
                    for t in (m.start_ms, m.end_ms - 1)}  # a segment may cross an hour
        return [o for prefix in sorted(prefixes) for o in self._store.list(prefix)
                if m.start_ms <= int(o.key.rsplit("/", 1)[1].removesuffix(".jpg")) < m.end_ms]
