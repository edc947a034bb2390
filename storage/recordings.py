"""Recordings: storing segments idempotently and finding them by camera and time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from storage import keys
from storage.errors import AbandonedError, StorageError
from storage.manifests import SegmentManifest, sha256_file
from storage.media import SegmentFile, VideoInfo
from storage.mp4 import init_section_size
from storage.object_store import ObjectStore
from storage.timeutil import HOUR_MS

logger = logging.getLogger(__name__)


class ConflictingFootageError(StorageError):
    """Different footage was already stored for the same camera and time."""


@dataclass(frozen=True)
class StoredSegment:
    manifest: SegmentManifest
    created: bool  # False when identical footage was already stored


class Recordings:
    """Segments and manifests of all cameras in one bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def store_segment(self, camera_id: str, start_ms: int, seg: SegmentFile,
                      info: VideoInfo) -> StoredSegment:
        """Upload a segment then its manifest; identical footage is stored once."""
        end_ms = start_ms + round(seg.duration_s * 1000)
        key = keys.segment_key(camera_id, start_ms, end_ms)
        manifest = SegmentManifest(
            camera_id=camera_id, segment_key=key, start_ms=start_ms, end_ms=end_ms,
            bytes=seg.path.stat().st_size, sha256=sha256_file(seg.path),
            codec=info.codec, width=info.width, height=info.height,
            init_bytes=init_section_size(seg.path))
        existing = self.manifest(key)
        if existing is not None:
            if existing.sha256 != manifest.sha256:
                raise ConflictingFootageError(
                    f"camera {camera_id!r} already has different footage at {key}")
            return StoredSegment(existing, created=False)
        self._store.put_file(key, seg.path, content_type="video/mp4")
        self._store.put_bytes(keys.manifest_key(key), manifest.to_json(), "application/json")
        return StoredSegment(manifest, created=True)

    def manifest(self, segment_key: str) -> SegmentManifest | None:
        mkey = keys.manifest_key(segment_key)
        if not self._store.exists(mkey):
            return None
        return SegmentManifest.from_json(self._store.get_bytes(mkey))

    def segments(self, camera_id: str, start_ms: int, end_ms: int,
                 stop: Callable[[], bool] = lambda: False) -> Iterator[SegmentManifest]:
        """Committed segments overlapping [start_ms, end_ms), by prefix listing per hour.

        `stop` is asked before each hour's LIST; once it answers True (the caller has gone) the
        listing ends with `AbandonedError` instead of reading the rest of the range."""
        hours = range(start_ms - start_ms % HOUR_MS - HOUR_MS, end_ms, HOUR_MS)
        for done, hour_ms in enumerate(hours):
            if stop():
                logger.info("listing of %s stopped after %d of %d hours: the caller is gone",
                            camera_id, done, len(hours))
                raise AbandonedError(f"the listing of camera {camera_id!r} was abandoned by its caller")
            listed = self._store.list(keys.segment_hour_prefix(camera_id, hour_ms))
            for obj in sorted(listed, key=lambda o: o.key):
                if obj.key.endswith(".json"):
                    m = SegmentManifest.from_json(self._store.get_bytes(obj.key))
                    if m.start_ms < end_ms and m.end_ms > start_ms:
                        yield m

