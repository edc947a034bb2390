"""Retention and legal holds.

`expired` and `export_expired` are pure decisions; `RetentionSweeper` applies
them to the bucket. It deletes expired segments (manifest first, so readers
stop trusting the segment before it goes), their thumbnails, and asks the index
to drop the vectors through the `VectorDeleter` port. It deletes evidence
exports (`exports/{export_id}/`) made more than `export_retention_days` ago,
each export whole: every clip's video, then its manifest (a crash in between
leaves a manifest the next sweep finds again). Holds on (camera, time range)
block deletion of the footage and of any export with a clip they cover, until
released. Every deletion is logged; the `SweepReport` names what went (keys'
cameras, counts and time ranges, never contents) for the audit trail.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Protocol

from storage import keys
from storage.cameras import CameraRegistry
from storage.errors import ObjectNotFoundError
from storage.export import ExportManifest
from storage.manifests import SegmentManifest
from storage.object_store import ObjectInfo, ObjectStore
from storage.timeutil import DAY_MS, to_ms

logger = logging.getLogger(__name__)


class CameraSpan(Protocol):
    """What a hold is checked against: a segment or an exported clip."""

    @property
    def camera_id(self) -> str: ...

    @property
    def start_ms(self) -> int: ...

    @property
    def end_ms(self) -> int: ...


@dataclass(frozen=True)
class Hold:
    hold_id: str
    camera_id: str
    start_ms: int
    end_ms: int
    reason: str
    created_by: str

    def covers(self, span: CameraSpan) -> bool:
        return (self.camera_id == span.camera_id and self.start_ms < span.end_ms
                and span.start_ms < self.end_ms)


def expired(m: SegmentManifest, now_ms: int, retention_days: int, holds: list[Hold]) -> bool:
    """A segment goes when all of it is older than its camera's retention and no hold covers it."""
    return m.end_ms <= now_ms - retention_days * DAY_MS and not any(h.covers(m) for h in holds)


def export_expired(clips: Sequence[ExportManifest], now_ms: int, retention_days: int,
                   holds: list[Hold]) -> bool:
    """An export goes, all its clips together, once every clip was made at least `retention_days`
    ago and no hold covers any clip's camera and delivered time range."""
    cutoff = now_ms - retention_days * DAY_MS
    return (bool(clips) and all(to_ms(datetime.fromisoformat(c.created)) <= cutoff for c in clips)
            and not any(h.covers(c) for h in holds for c in clips))


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
        self._store.put_bytes(keys.hold_key(hold.hold_id), json.dumps(asdict(hold)).encode())
        logger.info("hold %s placed on %s [%d, %d) by %s", hold.hold_id, camera_id, start_ms, end_ms, by)
        return hold

    def release(self, hold_id: str) -> None:
        key = keys.hold_key(hold_id)
        if not self._store.exists(key):
            raise ObjectNotFoundError(f"no hold {hold_id}")
        self._store.delete([key])
        logger.info("hold %s released", hold_id)

    def get(self, hold_id: str) -> Hold | None:
        try:
            return Hold(**json.loads(self._store.get_bytes(keys.hold_key(hold_id))))
        except ObjectNotFoundError:
            return None

    def all(self) -> list[Hold]:
        return [Hold(**json.loads(self._store.get_bytes(o.key))) for o in self._store.list(keys.HOLDS_PREFIX)]


@dataclass(frozen=True)
class DeletedFootage:
    """One camera's segments a sweep deleted: how many, their bytes, and the span they lay in."""

    camera_id: str
    segments: int
    bytes: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class DeletedExport:
    export_id: str
    cameras: tuple[str, ...]
    start_ms: int
    end_ms: int
    created: str

    @classmethod
    def of(cls, export_id: str, clips: Sequence[ExportManifest]) -> DeletedExport:
        return cls(export_id, tuple(c.camera_id for c in clips), min(c.start_ms for c in clips),
                   max(c.end_ms for c in clips), min(c.created for c in clips))


@dataclass(frozen=True)
class SweepReport:
    segments_deleted: int
    bytes_deleted: int
    vectors_deleted: int
    held: int  # expired segments kept by a hold
    exports_deleted: int = 0
    exports_held: int = 0  # expired exports kept by a hold
    footage: tuple[DeletedFootage, ...] = ()
    exports: tuple[DeletedExport, ...] = ()

    def __str__(self) -> str:
        return (f"{self.segments_deleted} segments ({self.bytes_deleted} bytes, {self.vectors_deleted} "
                f"vectors) and {self.exports_deleted} exports deleted; {self.held} segments and "
                f"{self.exports_held} exports held")

    def audit_details(self) -> dict[str, object]:
        """What the sweep deleted, for an audit record: counts, cameras, keys' ranges."""
        return {"segments_deleted": self.segments_deleted, "bytes_deleted": self.bytes_deleted,
                "vectors_deleted": self.vectors_deleted, "segments_held": self.held,
                "footage": [asdict(f) for f in self.footage], "exports_deleted": self.exports_deleted,
                "exports_held": self.exports_held,
                "exports": [{**asdict(e), "cameras": list(e.cameras)} for e in self.exports]}


@dataclass
class SweepTally:
    """A sweep's progress; a caller that passes one in still knows what went if the sweep fails."""

    vectors: int = 0
    held: int = 0
    exports_held: int = 0
    footage: dict[str, DeletedFootage] = field(default_factory=dict)
    exports: list[DeletedExport] = field(default_factory=list)

    def segment_deleted(self, m: SegmentManifest) -> None:
        f = self.footage.get(m.camera_id)
        self.footage[m.camera_id] = (
            DeletedFootage(m.camera_id, 1, m.bytes, m.start_ms, m.end_ms) if f is None else
            DeletedFootage(m.camera_id, f.segments + 1, f.bytes + m.bytes, min(f.start_ms, m.start_ms),
                           max(f.end_ms, m.end_ms)))

    def report(self) -> SweepReport:
        footage = tuple(self.footage.values())
        return SweepReport(sum(f.segments for f in footage), sum(f.bytes for f in footage), self.vectors,
                           self.held, len(self.exports), self.exports_held, footage, tuple(self.exports))


class RetentionSweeper:
    def __init__(self, store: ObjectStore, cameras: CameraRegistry, holds: Holds,
                 vectors: VectorDeleter, clock_ms: Callable[[], int], export_retention_days: int) -> None:
        self._store, self._cameras, self._holds = store, cameras, holds
        self._vectors, self._clock_ms = vectors, clock_ms
        self._export_days = export_retention_days

    def sweep(self, tally: SweepTally | None = None) -> SweepReport:
        tally = SweepTally() if tally is None else tally
        now, holds = self._clock_ms(), self._holds.all()
        for camera in self._cameras.list():
            for obj in self._store.list(keys.camera_segments_prefix(camera.camera_id)):
                if not obj.key.endswith(".json"):
                    continue
                m = SegmentManifest.from_json(self._store.get_bytes(obj.key))
                if expired(m, now, camera.retention_days, holds):
                    tally.vectors += self._delete(m)
                    tally.segment_deleted(m)
                elif expired(m, now, camera.retention_days, []):
                    tally.held += 1
        self._sweep_exports(now, holds, tally)
        return tally.report()

    def _sweep_exports(self, now: int, holds: list[Hold], tally: SweepTally) -> None:
        for export_id, clips in sorted(self._exports().items()):
            manifests = [m for _, m in clips]
            if export_expired(manifests, now, self._export_days, holds):
                self._delete_export(export_id, [key for key, _ in clips])
                tally.exports.append(DeletedExport.of(export_id, manifests))
            elif export_expired(manifests, now, self._export_days, []):
                tally.exports_held += 1

    def _exports(self) -> dict[str, list[tuple[str, ExportManifest]]]:
        """export id → (manifest key, manifest) of each clip; the keys come from the listing."""
        exports: dict[str, list[tuple[str, ExportManifest]]] = {}
        for obj in self._store.list(keys.EXPORTS_PREFIX):
            if obj.key.endswith(".json"):
                export_id = keys.export_id_of(obj.key)
                m = ExportManifest.from_json(self._store.get_bytes(obj.key))
                exports.setdefault(export_id, []).append((obj.key, m))
        return exports

    def _delete_export(self, export_id: str, manifest_keys: list[str]) -> None:
        self._store.delete([key.removesuffix(".json") + ".mp4" for key in manifest_keys])
        self._store.delete(manifest_keys)
        logger.info("retention deleted export %s (%d clips)", export_id, len(manifest_keys))

    def _delete(self, m: SegmentManifest) -> int:
        thumbs = [o.key for o in self._thumbnails(m)]
        self._store.delete([keys.manifest_key(m.segment_key)])
        self._store.delete([m.segment_key, *thumbs])
        removed = self._vectors.delete_range(m.camera_id, m.start_ms, m.end_ms)
        logger.info("retention deleted %s (%d bytes, sha256 %s, %d thumbnails, %d vectors)",
                    m.segment_key, m.bytes, m.sha256, len(thumbs), removed)
        return removed

    def _thumbnails(self, m: SegmentManifest) -> list[ObjectInfo]:
        prefixes = {keys.thumbnail_hour_prefix(m.camera_id, t)
                    for t in (m.start_ms, m.end_ms - 1)}  # a segment may cross an hour
        return [o for prefix in sorted(prefixes) for o in self._store.list(prefix)
                if m.start_ms <= int(o.key.rsplit("/", 1)[1].removesuffix(".jpg")) < m.end_ms]
