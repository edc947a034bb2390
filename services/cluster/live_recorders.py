"""The recorder of one live camera (`vigil-live-{camera_id}`), an actor of the cluster.

Two threads inside the recorder: the recorder runs ffmpeg (`StreamRun`), again
and again with bounded exponential backoff when the stream drops, and puts
each closed segment in a bounded queue; the storer takes them one by one
through the file-ingest pipeline (`IngestPipeline.run_segment`: store the
segment and its manifest, decode keyframes, thumbnails, embed in batches,
append to the index log). The indexed batches wait in a bounded outbox until
the node takes them (`drain`) into its in-memory index.

Backpressure: when embedding falls behind, the storer blocks on the full
outbox, the recorder blocks on the full segment queue, and ffmpeg's finished
segments stay on local disk; memory holds at most one batch of frames.

The recorder is plain Python, given its store and index writers; the cluster
runs it (a Ray actor that opens both from a `StoreConfig`, or an object in this
process) and hands out a `RecorderHandle` to it.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from indexing.dedup import SameScene
from indexing.embedding import EmbedFn
from indexing.frame_columns import FrameKey, FrameRecord
from services.ingest.pipeline import IngestPipeline, IngestRequest, Journal, StageTimes
from services.live.stream import LiveSegment, StreamRun, listens, masked
from services.settings import IngestSettings
from storage.media import probe
from storage.object_store import ObjectStore
from storage.timeutil import now_ms
from storage.url_policy import UrlPolicy, UrlRefusedError

logger = logging.getLogger(__name__)
SEGMENT_QUEUE = 8  # closed segments waiting to be stored and indexed
OUTBOX_BATCHES = 4  # indexed batches waiting for the node
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 10.0
RECENT_SEGMENTS = 256  # segments whose stage times a status carries


@dataclass(frozen=True)
class LiveConfig:
    model_id: str
    ingest: IngestSettings
    batch: int  # keyframes per embedding call
    work_dir: Path  # local spill folder; one subfolder per camera
    same_scene: SameScene | None  # the model's dedup rule (`Serving.same_scene`); None: no dedup


@dataclass(frozen=True)
class SegmentTiming:
    """One live segment's way to the index, wall clock in ms: its footage [start_ms, end_ms), when
    the recorder saw ffmpeg close it (`listed_ms`), then the ingest stages (`times`)."""

    start_ms: int
    end_ms: int
    listed_ms: int
    times: StageTimes


@dataclass(frozen=True)
class LiveStatus:
    camera_id: str
    recording: bool = False
    segments_stored: int = 0
    keyframes_indexed: int = 0  # whole keyframes (near-identical consecutive ones are indexed once)
    vectors_indexed: int = 0  # keyframes and their regions
    last_segment_end_ms: int | None = None
    reconnects: int = 0  # runs after the first; a UDP/RTP listener's only after one that had footage
    last_error: str = ""  # credentials masked
    last_error_ms: int | None = None  # wall clock when last_error happened
    queue_depth: int = 0  # closed segments not yet stored and indexed
    recent: tuple[SegmentTiming, ...] = ()  # the last RECENT_SEGMENTS segments' stage times: where lag is


@dataclass(frozen=True)
class IndexedBatch:
    records: tuple[FrameRecord, ...]
    vectors: np.ndarray


@dataclass(frozen=True)
class Drained:
    batches: tuple[IndexedBatch, ...]
    finished: bool  # the recording has ended and nothing is left to take


def recorder_name(camera_id: str) -> str:
    return f"vigil-live-{camera_id}"


def next_backoff(previous_s: float, received: bool, listening: bool = False) -> float:
    """Start over after a run that received footage; otherwise double, up to BACKOFF_MAX_S. A
    listener (`stream.listens`) always starts again after BACKOFF_MIN_S: a camera that starts
    sending during a longer wait would lose that footage."""
    return BACKOFF_MIN_S if received or listening else min(previous_s * 2, BACKOFF_MAX_S)


class Outbox:
    """The node's index as the pipeline in the actor sees it: a bounded queue of indexed batches."""

    def __init__(self) -> None:
        self._queue: queue.Queue[IndexedBatch] = queue.Queue(OUTBOX_BATCHES)
        self._closed = threading.Event()

    def indexed(self, frames: Sequence[FrameKey]) -> list[bool]:
        return [False] * len(frames)  # live keyframes carry this run's wall-clock times; the index dedups

    def add(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> int:
        self._queue.put(IndexedBatch(tuple(records), vectors))  # waits while the node is behind
        return len(records)

    def close(self) -> None:
        self._closed.set()

    def take(self, timeout_s: float) -> Drained:
        batches = []
        try:
            batches.append(self._queue.get(timeout=timeout_s))
            while True:
                batches.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return Drained(tuple(batches), finished=self._closed.is_set() and self._queue.empty())


class LiveRecorder:
    """Records one camera until `stop()`; restarted by the cluster (and recording again) if it dies.

    Its calls come from several threads at once: `drain` long-polls while `status` and `stop` answer.
    """

    def __init__(self, camera_id: str, url: str, config: LiveConfig, embed: EmbedFn,
                 policy: UrlPolicy, store: ObjectStore, journal: Journal) -> None:
        self._camera, self._url, self._config, self._policy = camera_id, url, config, policy
        self._dir = config.work_dir / camera_id
        shutil.rmtree(self._dir, ignore_errors=True)  # leftovers of a previous life were never listed
        self._dir.mkdir(parents=True)
        self._dir.chmod(0o700)  # ffmpeg's error log there may quote the stream URL
        self._outbox = Outbox()
        self._pipeline = IngestPipeline(store, self._outbox, journal, embed,
                                        config.ingest, self._dir / "work", config.batch,
                                        same_scene=lambda: config.same_scene)
        self._segments: queue.Queue[LiveSegment | None] = queue.Queue(SEGMENT_QUEUE)
        self._status = LiveStatus(camera_id, recording=True)
        self._recent: deque[SegmentTiming] = deque(maxlen=RECENT_SEGMENTS)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._run: StreamRun | None = None
        threading.Thread(target=self._record, name=f"record-{camera_id}", daemon=True).start()
        threading.Thread(target=self._store_all, name=f"store-{camera_id}", daemon=True).start()

    def status(self) -> LiveStatus:
        with self._lock:
            return replace(self._status, queue_depth=self._segments.qsize(), recent=tuple(self._recent))

    def drain(self, timeout_s: float) -> Drained:
        return self._outbox.take(timeout_s)

    def stop(self) -> None:
        """End the recording: ffmpeg closes the segment in progress, which is then stored."""
        with self._lock:
            self._stopping.set()
            self._status = replace(self._status, recording=False)
            if self._run is not None:
                self._run.interrupt()

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)  # type: ignore[arg-type]

    def _failed(self, error: str) -> None:
        self._update(last_error=error[:300], last_error_ms=now_ms())

    def _record(self) -> None:
        backoff_s, runs, reconnects, listening = BACKOFF_MIN_S / 2, 0, 0, listens(self._url)
        while not self._stopping.is_set():
            self._update(reconnects=reconnects)  # every run after the first, but a listener's idle ones
            try:
                received = self._record_run(f"run{runs:06d}")
            except UrlRefusedError as exc:  # checked at every start: the host may resolve elsewhere now
                logger.warning("camera %s: %s", self._camera, exc)
                self._failed(str(exc))
                received = False
            except OSError as exc:  # ffmpeg could not be started, or the spill folder is unusable
                logger.exception("camera %s: recording failed", self._camera)
                self._failed(masked(f"recording failed: {exc}"))
                received = False
            runs += 1
            reconnects += received or not listening
            if self._stopping.is_set():
                break
            backoff_s = next_backoff(backoff_s, received, listening)
            logger.info("camera %s: stream ended, reconnecting in %.1f s", self._camera, backoff_s)
            self._stopping.wait(backoff_s)
        self._segments.put(None)

    def _record_run(self, run_name: str) -> bool:
        """One ffmpeg process; True if it delivered at least one segment."""
        with self._lock:
            if self._stopping.is_set():
                return False
            run = self._run = StreamRun(self._url, self._policy, self._dir, run_name,
                                        self._config.ingest.segment_seconds)
        received = False
        for seg in run.segments():
            received = True
            self._segments.put(seg)  # waits while storing is behind (bounded)
        if error := run.finish():
            self._failed(error)
        return received

    def _store_all(self) -> None:
        while (seg := self._segments.get()) is not None:
            try:
                self._store(seg)
            except Exception as exc:
                logger.exception("camera %s: segment %s not stored", self._camera, seg.path.name)
                self._failed(masked(f"storing a segment failed: {exc}"))
            finally:
                seg.path.unlink(missing_ok=True)
        self._outbox.close()

    def _store(self, seg: LiveSegment) -> None:
        info = probe(seg.path)
        start_ms = max(seg.end_ms - round(info.duration_s * 1000),
                       self._status.last_segment_end_ms or 0)  # never overlap, even by a rounding ms
        done = self._pipeline.run_segment(IngestRequest(self._camera, start_ms, seg.path, info))
        s = self._status
        with self._lock:
            self._recent.append(SegmentTiming(done.manifest.start_ms, done.manifest.end_ms, seg.listed_ms,
                                              done.times))
        self._update(segments_stored=s.segments_stored + 1 - done.progress.segments_skipped,
                     keyframes_indexed=s.keyframes_indexed + done.frames,
                     vectors_indexed=s.vectors_indexed + done.progress.vectors,
                     last_segment_end_ms=done.manifest.end_ms)
