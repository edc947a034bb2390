"""The ingest pipeline for one video file, or for one segment already cut from a live stream.

Order matters for "nothing partial is visible": a segment's manifest is
written after the segment, and a keyframe's vector is added to the index only
after its segment and thumbnail are committed.
"""

from __future__ import annotations

import bisect
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from indexing.index_log import IndexLog
from indexing.keyframes import Keyframe, iter_keyframes
from indexing.vector_index import FrameRecord
from services.jobs import JobProgress
from services.settings import IngestSettings
from storage import keys
from storage.manifests import SegmentManifest
from storage.media import SegmentFile, VideoInfo, segment
from storage.object_store import ObjectStore
from storage.recordings import Recordings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestRequest:
    camera_id: str
    start_ms: int  # wall-clock time of the file's first video timestamp
    path: Path
    info: VideoInfo


@dataclass(frozen=True)
class SegmentIngest:
    manifest: SegmentManifest
    progress: JobProgress


ProgressFn = Callable[[JobProgress], None]
EmbedFn = Callable[[Sequence[np.ndarray]], np.ndarray]


class FrameSink(Protocol):
    """Where indexed keyframes go: the node's `FrameIndex`, or a live recorder's outbox to it."""

    def contains(self, camera_id: str, time_ms: int) -> bool: ...

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int: ...


class IngestPipeline:
    def __init__(self, store: ObjectStore, index: FrameSink, index_log: IndexLog,
                 embed: EmbedFn, settings: IngestSettings, work_dir: Path, batch: int) -> None:
        self._store = store
        self._recordings = Recordings(store)
        self._index = index
        self._log = index_log
        self._embed = embed
        self._settings = settings
        self._work_dir = work_dir
        self._batch = batch

    def run(self, req: IngestRequest, report: ProgressFn) -> JobProgress:
        progress = JobProgress(bytes=req.path.stat().st_size)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="segments-", dir=self._work_dir))
        try:
            manifests, progress = self._store_segments(req, tmp, progress, report)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self._index_file(req, manifests, progress, report)

    def run_segment(self, req: IngestRequest) -> SegmentIngest:
        """Store one already-cut segment (`req.path`, starting at `req.start_ms`), index its keyframes."""
        seg = SegmentFile(path=req.path, offset_s=0.0, duration_s=req.info.duration_s)
        stored = self._recordings.store_segment(req.camera_id, req.start_ms, seg, req.info)
        progress = JobProgress(bytes=req.path.stat().st_size, segments=1,
                               segments_skipped=int(not stored.created))
        progress = self._index_file(req, [stored.manifest], progress, lambda _: None)
        return SegmentIngest(stored.manifest, progress)

    def _index_file(self, req: IngestRequest, manifests: list[SegmentManifest], progress: JobProgress,
                    report: ProgressFn) -> JobProgress:
        for batch in _batched(iter_keyframes(req.path, req.info.start_s,
                                             self._settings.thumbnail_width), self._batch):
            added = self._index_keyframes(req, batch, manifests)
            progress = replace(progress, keyframes=progress.keyframes + len(batch),
                               vectors=progress.vectors + added)
            report(progress)
        return progress

    def _store_segments(self, req: IngestRequest, tmp: Path, progress: JobProgress,
                        report: ProgressFn) -> tuple[list[SegmentManifest], JobProgress]:
        manifests = []
        for seg in segment(req.path, tmp, self._settings.segment_seconds,
                           self._settings.media_timeout_s):
            stored = self._recordings.store_segment(
                req.camera_id, req.start_ms + round(seg.offset_s * 1000), seg, req.info)
            manifests.append(stored.manifest)
            progress = replace(progress, segments=progress.segments + 1,
                               segments_skipped=progress.segments_skipped + (not stored.created))
            report(progress)
        return manifests, progress

    def _index_keyframes(self, req: IngestRequest, batch: list[Keyframe],
                         manifests: list[SegmentManifest]) -> int:
        records, frames = [], []
        for kf in batch:
            time_ms = req.start_ms + kf.offset_ms
            if self._index.contains(req.camera_id, time_ms):
                continue
            seg = _containing(manifests, time_ms)
            end_ms = min(seg.end_ms, req.start_ms + _next_keyframe_ms(req.info, kf.offset_s))
            thumb = keys.thumbnail_key(req.camera_id, time_ms)
            self._store.put_bytes(thumb, kf.jpeg, "image/jpeg")
            records.append(FrameRecord(req.camera_id, time_ms, end_ms, seg.segment_key,
                                       seg.start_ms, seg.end_ms, thumb))
            frames.append(kf.rgb)
        if not records:
            return 0
        vectors = self._embed(frames)
        batch_id = f"{req.camera_id}-{records[0].time_ms}-{records[-1].time_ms}"
        self._log.append(batch_id, records, vectors)  # acknowledged in the bucket first
        return self._index.add(records, vectors)


def _next_keyframe_ms(info: VideoInfo, offset_s: float) -> int:
    """Offset of the keyframe after `offset_s` (or the end of the file), in ms."""
    i = bisect.bisect_right(info.keyframes_s, offset_s + 1e-6)
    nxt = info.keyframes_s[i] if i < len(info.keyframes_s) else info.duration_s
    return round(nxt * 1000)


def _containing(manifests: list[SegmentManifest], time_ms: int) -> SegmentManifest:
    for m in manifests:
        if m.start_ms <= time_ms < m.end_ms:
            return m
    return min(manifests, key=lambda m: abs(m.start_ms - time_ms))


def _batched(items: Iterator[Keyframe], size: int) -> Iterator[list[Keyframe]]:
    batch: list[Keyframe] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
