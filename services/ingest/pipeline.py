"""The ingest pipeline for one video file, or for one segment already cut from a live stream.

Order matters for "nothing partial is visible": a segment's manifest is
written after the segment, and a keyframe's vector is added to the index only
after its segment and thumbnail are committed. Consecutive near-identical
keyframes of a camera are indexed once (`indexing.dedup`; the threshold is the
model's calibration or `ingest.dedup_cosine`), within one embedding batch; every keyframe keeps its
thumbnail (uploaded while the batch is embedded, off the critical path). Each keyframe is also
embedded as crops of its regions (`indexing.regions`, setting `ingest.regions`), in the same call as
the whole frames, and each kept region is indexed with its box beside its keyframe.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from indexing.dedup import RegionMemory, SameScene, dedup_keyframes
from indexing.embedding import EmbedFn
from indexing.frame_columns import Box, FrameKey
from indexing.keyframes import FramePlan, Keyframe, iter_keyframes
from indexing.regions import with_crops
from indexing.vector_index import FrameRecord
from services.ingest.jobs import JobProgress
from services.ingest.segmenting import iter_segments
from services.ingest.views import LearnedViews
from services.settings import IngestSettings
from storage import keys
from storage.camera_views import CameraViews
from storage.errors import MediaError
from storage.manifests import SegmentManifest
from storage.media import SegmentFile, VideoInfo
from storage.object_store import ObjectStore
from storage.recordings import Recordings
from storage.timeutil import now_ms

logger = logging.getLogger(__name__)
THUMBNAIL_UPLOADS = 4  # concurrent thumbnail PUTs
SEGMENT_STORES = 4  # segments of one file stored at once (committed in order)


@dataclass(frozen=True)
class IngestRequest:
    camera_id: str
    start_ms: int  # wall-clock time of the file's first video timestamp
    path: Path
    info: VideoInfo


@dataclass(frozen=True)
class StageTimes:
    """When one segment's ingest passed each stage, wall clock in ms (0: not reached): segment and
    manifest stored, its keyframes decoded (and sent to the embedders), their vectors back,
    indexed (acknowledged by the shard writers: matched against watchlists, alerts stored, logged)."""

    stored_ms: int = 0
    decoded_ms: int = 0
    embedded_ms: int = 0
    indexed_ms: int = 0


@dataclass(frozen=True)
class SegmentIngest:
    manifest: SegmentManifest
    progress: JobProgress
    frames: int = 0  # whole keyframes indexed (progress.vectors counts their regions too)
    times: StageTimes = StageTimes()


class _Marks:
    """A segment's stage times and whole frames indexed, noted by the thread indexing it."""

    def __init__(self) -> None:
        self.times, self.frames = StageTimes(), 0

    def mark(self, stage: str) -> None:
        self.times = replace(self.times, **{f"{stage}_ms": now_ms()})


ProgressFn = Callable[[JobProgress], object]  # what it returns is ignored
ReadyFn = Callable[[], None]  # called before each bucket write; raises to stop the job


def _always_ready() -> None:
    return None


class FrameSink(Protocol):
    """Where indexed keyframes go: the node's `FrameIndex`, or a live recorder's outbox to it."""

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        """For each keyframe, whether it is indexed already (`indexing.indexed.IndexedFrames`)."""
        ...

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int: ...


class _Progress:
    """Job progress fed by two threads (segment uploads and keyframe indexing), reported whole."""

    def __init__(self, start: JobProgress, report: ProgressFn) -> None:
        self._value, self._report, self._lock = start, report, threading.Lock()

    def add(self, **deltas: int) -> JobProgress:
        with self._lock:
            self._value = replace(self._value, **{k: getattr(self._value, k) + v
                                                  for k, v in deltas.items()})
            value = self._value
        self._report(value)
        return value

    @property
    def value(self) -> JobProgress:
        with self._lock:
            return self._value


class _Stored:
    """A file's segments as they are committed, in order, for the batches waiting on them."""

    def __init__(self) -> None:
        self._manifests: list[SegmentManifest] = []
        self._done = self._failed = False
        self._changed = threading.Condition()

    def add(self, manifest: SegmentManifest) -> None:
        with self._changed:
            self._manifests.append(manifest)
            self._changed.notify_all()

    def finish(self, failed: bool = False) -> None:
        """No more segments: every one is stored, or storing failed (the segmenter raises why)."""
        with self._changed:
            self._done, self._failed = True, failed
            self._changed.notify_all()

    def covering(self, time_ms: int) -> list[SegmentManifest]:
        """The segments committed, once one ends after `time_ms` or segmenting has ended; raises
        `MediaError` if storing them failed (the segmenting thread has the reason)."""
        with self._changed:
            self._changed.wait_for(lambda: self._done or (
                bool(self._manifests) and self._manifests[-1].end_ms > time_ms))
            if self._failed or not self._manifests:
                raise MediaError("the file's segments were not stored")
            return list(self._manifests)


@dataclass(frozen=True)
class _Batch:
    """Keyframes decoded and not yet indexed, with their embedding on its way."""

    keyframes: list[Keyframe]
    vectors: Future[np.ndarray]
    decoded: int  # keyframes of the file this batch stands for (some may be indexed already)
    thumbnails: list[Future[None]]  # PUTs of every fresh keyframe's thumbnail, under way
    regions: list[list[Box]]  # each keyframe's region boxes, embedded after the whole frames
    ends_ms: list[int]  # each keyframe's span: until the next frame indexed (or the file's end)


class Journal(Protocol):
    """Where a batch is acknowledged: the bucket's index log, directly or through shard writers."""

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None: ...


class IngestPipeline:
    """Stores a file's segments and indexes its keyframes, overlapping the stages.

    Three things run at once: ffmpeg segmenting + segment uploads (a thread; each
    segment is stored as soon as ffmpeg has cut it, `SEGMENT_STORES` at once and
    committed in order, `services.ingest.segmenting`),
    keyframe decoding (the calling thread) and embedding (Ray actors: `in_flight`
    batches at once, one per embedder actor, ahead of decoding). A batch's vectors
    are logged and added only after the segments holding its keyframes are
    committed, so no search hit points at footage that is not stored, and no batch
    waits for the rest of the file to be cut and stored.
    """

    def __init__(self, store: ObjectStore, index: FrameSink, journal: Journal, embed: EmbedFn,
                 settings: IngestSettings, work_dir: Path, batch: int, in_flight: int = 1, *,
                 same_scene: Callable[[], SameScene | None]) -> None:
        """`same_scene`: the dedup rule of the model `embed` runs now (it changes when the model is
        switched; `Serving.same_scene`), None for no dedup."""
        self._store = store
        self._same_scene = same_scene
        self._recordings = Recordings(store)
        self._index = index
        self._journal = journal
        self._embed = embed
        self._settings = settings
        self._work_dir = work_dir
        self._batch = batch
        self._in_flight = in_flight
        # one call more than the actors run: the next batch waits queued at an actor, not here, so
        # no actor idles while a finished batch's vectors travel back and the next one travels out
        self._embedding = ThreadPoolExecutor(max_workers=in_flight + 1, thread_name_prefix="embed-wait")
        self._uploads = ThreadPoolExecutor(max_workers=THUMBNAIL_UPLOADS, thread_name_prefix="thumbs")
        self._segment_stores = ThreadPoolExecutor(max_workers=SEGMENT_STORES, thread_name_prefix="seg-puts")
        # each camera's background, across files; its view, across processes
        self._regions = LearnedViews(settings.region_proposer(), CameraViews(store))
        self._stored_regions = RegionMemory()  # each camera's latest stored regions, across batches

    def run(self, req: IngestRequest, report: ProgressFn, ready: ReadyFn = _always_ready) -> JobProgress:
        """Ingest the file; `ready` gates every bucket write (a job may start working locally
        before its upload is acknowledged)."""
        progress = _Progress(JobProgress(bytes=req.path.stat().st_size), report)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="segments-", dir=self._work_dir))
        try:
            stored = _Stored()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segments") as segmenting:
                manifests = segmenting.submit(self._store_segments, req, tmp, progress, ready, stored)
                self._index_file(req, manifests, stored, progress, ready)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return progress.value

    def run_segment(self, req: IngestRequest) -> SegmentIngest:
        """Store one already-cut segment (`req.path`, starting at `req.start_ms`), index its keyframes."""
        seg = SegmentFile(path=req.path, offset_s=0.0, duration_s=req.info.duration_s)
        stored = self._recordings.store_segment(req.camera_id, req.start_ms, seg, req.info)
        marks = _Marks()
        marks.mark("stored")
        progress = _Progress(JobProgress(bytes=req.path.stat().st_size, segments=1,
                                         segments_skipped=int(not stored.created)), lambda _: None)
        done: Future[list[SegmentManifest]] = Future()
        done.set_result([stored.manifest])
        committed = _Stored()
        committed.add(stored.manifest)
        committed.finish()
        self._index_file(req, done, committed, progress, _always_ready, marks)
        return SegmentIngest(stored.manifest, progress.value, marks.frames, marks.times)

    def _store_segments(self, req: IngestRequest, tmp: Path, progress: _Progress,
                        ready: ReadyFn, committed: _Stored) -> list[SegmentManifest]:
        """Store each segment as soon as ffmpeg has cut it, `SEGMENT_STORES` at once (each is a
        hash, a HEAD and two PUTs, mostly waiting for the S3 server), and commit them in order as
        the oldest ones finish (`committed` tells the batches waiting)."""
        manifests: list[SegmentManifest] = []
        storing: deque[Future[SegmentManifest]] = deque()  # in the file's order

        def commit(future: Future[SegmentManifest]) -> None:
            manifests.append(future.result())
            committed.add(manifests[-1])

        failed = True
        try:
            for seg in iter_segments(req.path, req.info, tmp, self._settings.segment_seconds,
                                     self._settings.media_timeout_s):
                ready()
                storing.append(self._segment_stores.submit(self._store_segment, req, seg, progress))
                while storing and (storing[0].done() or len(storing) > SEGMENT_STORES):
                    commit(storing.popleft())  # waits for the oldest only when all are busy
            while storing:
                commit(storing.popleft())
            failed = False
        finally:
            for future in storing:  # stop what has not started; the rest finish before we return
                future.cancel()
            futures.wait(storing)
            committed.finish(failed)
        return manifests

    def _store_segment(self, req: IngestRequest, seg: SegmentFile, progress: _Progress) -> SegmentManifest:
        stored = self._recordings.store_segment(
            req.camera_id, req.start_ms + round(seg.offset_s * 1000), seg, req.info)
        seg.path.unlink(missing_ok=True)  # stored: the local copy is not needed any more
        progress.add(segments=1, segments_skipped=int(not stored.created))
        return stored.manifest

    def _index_file(self, req: IngestRequest, manifests: Future[list[SegmentManifest]],
                    committed: _Stored, progress: _Progress, ready: ReadyFn,
                    marks: _Marks | None = None) -> None:
        """Decode the next batch while `in_flight` batches are being embedded (one per embedder
        actor); index each batch, in order, when it is back and its segments are committed."""
        try:
            self._index_batches(req, committed, progress, ready, marks or _Marks())
        except Exception:
            manifests.result()  # a file ffmpeg cannot cut fails with ffmpeg's error, named
            raise
        manifests.result()  # a file with no keyframes still stores (or fails on) its segments

    def _index_batches(self, req: IngestRequest, committed: _Stored,
                       progress: _Progress, ready: ReadyFn, marks: _Marks) -> None:
        pending: deque[_Batch] = deque()  # embedding, `in_flight` at most (backpressure), in order
        plan, keyframes = planned_keyframes(req.path, req.info, self._settings)
        for batch in _batched(keyframes, self._batch):
            there = self._index.indexed([FrameKey(req.camera_id, req.start_ms + kf.offset_ms)
                                         for kf in batch])
            fresh = [kf for kf, indexed in zip(batch, there, strict=True) if not indexed]
            thumbnails = [self._uploads.submit(self._put_thumbnail, ready,
                                               keys.thumbnail_key(req.camera_id, req.start_ms + kf.offset_ms),
                                               kf.jpeg) for kf in fresh]
            regions = [self._regions.propose(req.camera_id, kf.rgb) for kf in fresh]
            ends = [req.start_ms + round(plan.end_s(kf.offset_s) * 1000) for kf in fresh]
            pending.append(_Batch(fresh, self._embedding.submit(self._embed_rgb, fresh, regions), len(batch),
                                  thumbnails, regions, ends))
            marks.mark("decoded")
            while len(pending) > self._in_flight:
                self._finish(req, pending.popleft(), committed, progress, ready, marks)
        while pending:
            self._finish(req, pending.popleft(), committed, progress, ready, marks)

    def _put_thumbnail(self, ready: ReadyFn, key: str, jpeg: bytes) -> None:
        ready()
        self._store.put_bytes(key, jpeg, "image/jpeg")

    def _embed_rgb(self, keyframes: list[Keyframe], regions: list[list[Box]]) -> np.ndarray:
        """The whole keyframes' vectors, then their regions' (crops), in one embedding call."""
        if not keyframes:
            return np.zeros((0, 0), np.float32)
        return self._embed(images_to_embed(keyframes, regions))

    def _finish(self, req: IngestRequest, batch: _Batch, committed: _Stored,
                progress: _Progress, ready: ReadyFn, marks: _Marks) -> None:
        vectors = batch.vectors.result()
        marks.mark("embedded")
        ready()
        for put in batch.thumbnails:
            put.result()
        added = 0
        if batch.keyframes:  # once the batch's segments are stored (or this raises)
            manifests = committed.covering(req.start_ms + batch.keyframes[-1].offset_ms)
            records = self._index_keyframes(req, batch, vectors, manifests)
            added = len(records)
            marks.frames += sum(r.box is None for r in records)
            marks.mark("indexed")
            self._regions.save(req.camera_id)
        progress.add(keyframes=batch.decoded, vectors=added)

    def _index_keyframes(self, req: IngestRequest, batch: _Batch, vectors: np.ndarray,
                         manifests: list[SegmentManifest]) -> list[FrameRecord]:
        """The log (the acknowledgement: segments and thumbnails are stored), then the index; the
        keyframes whole and their regions, each deduplicated (`indexing.dedup.dedup_keyframes`)."""
        if not batch.keyframes:
            return []
        records = [self._record(req, kf, end_ms, manifests)
                   for kf, end_ms in zip(batch.keyframes, batch.ends_ms, strict=True)]
        rule = self._same_scene()
        same = dedup_keyframes(records, batch.regions, vectors, rule, self._stored_regions)
        kept = vectors[same.kept]
        batch_id = f"{req.camera_id}-{records[0].time_ms}-{records[-1].time_ms}"
        self._journal.append(batch_id, same.records, kept)  # acknowledged in the bucket first
        self._stored_regions.remember(same.records, kept, rule)
        self._index.add(same.records, kept)  # a follower of the writers' feeds may have been first
        return list(same.records)

    @staticmethod
    def _record(req: IngestRequest, kf: Keyframe, end_ms: int,
                manifests: list[SegmentManifest]) -> FrameRecord:
        time_ms = req.start_ms + kf.offset_ms
        seg = _containing(manifests, time_ms)
        return FrameRecord(req.camera_id, time_ms, min(seg.end_ms, end_ms), seg.segment_key, seg.start_ms,
                           seg.end_ms, keys.thumbnail_key(req.camera_id, time_ms))


def planned_keyframes(path: Path, info: VideoInfo, settings: IngestSettings
                      ) -> tuple[FramePlan, Iterator[Keyframe]]:
    """The keyframes ingest indexes from a file, decoded as they are read (each with the larger
    frame its regions are cut from, when regions are on), and the plan giving each one's span."""
    s = settings
    plan = FramePlan.of(info.keyframes_s, info.duration_s, s.frame_interval_s, s.max_frame_gap_s)
    return plan, iter_keyframes(path, info.start_s, s.thumbnail_width, s.detail_short_side, plan, info.stream)


def images_to_embed(keyframes: Sequence[Keyframe], regions: Sequence[Sequence[Box]]) -> list[np.ndarray]:
    """One embedding call's images: the keyframes whole, then each one's regions cut from its
    larger frame (`indexing.regions.with_crops`' order, which the dedup of the vectors expects)."""
    return with_crops([kf.rgb for kf in keyframes], regions,
                      [kf.rgb if kf.detail is None else kf.detail for kf in keyframes])


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
