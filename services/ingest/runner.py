"""Running ingest jobs: stage the upload durably on the node, acknowledge, ingest, and resume
after a crash.

A job id is returned only after the upload is staged (renamed to
`{job}.staged` in the node's upload folder and flushed to disk with fsync) and
the job record in the bucket says PENDING, so an acknowledged upload survives
kill -9: the node runs its unfinished jobs again when it restarts. The staged
copy stays on the node (the data folder must be persistent, as it is for the
node id and the audit journal): staging it in the bucket cost a third copy of
the footage through the S3 server, next to the upload and the segments.
While the acknowledgement is being made durable the job already works locally
(ffmpeg segmenting, keyframe decoding, embedding); its first write to the
bucket waits for the acknowledgement, so a job that could not be acknowledged
leaves nothing behind. Ingest is idempotent (segments by content, vectors by
camera and time), so a resumed job's end state equals an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from services.errors import status_for
from services.ingest.jobs import Job, JobProgress, JobRegistry, JobState, new_job_id
from services.ingest.pipeline import IngestPipeline, IngestRequest
from storage.media import containerised, probe
from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)


class JobMetrics(Protocol):
    """What the runner counts (the node's Prometheus metrics implement it)."""

    def job_done(self, camera: str, progress: JobProgress, footage_end_s: float, now_s: float) -> None: ...

    def job_failed(self, camera: str) -> None: ...


def node_id(data_dir: Path) -> str:
    """This node's stable id, kept in its data folder."""
    path = data_dir / "node-id"
    if not path.is_file():
        path.write_text(uuid.uuid4().hex)
    return path.read_text().strip()


class JobRunner:
    def __init__(self, store: ObjectStore, jobs: JobRegistry, pipeline: IngestPipeline,
                 index_lock: threading.Lock, upload_dir: Path, node: str, metrics: JobMetrics,
                 media_timeout_s: float) -> None:
        self._store, self._jobs, self._pipeline, self._metrics = store, jobs, pipeline, metrics
        self._media_timeout_s = media_timeout_s
        self._index_lock, self._upload_dir, self._node = index_lock, upload_dir, node
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest")

    def submit(self, camera_id: str, start_ms: int, upload: Path, label: str) -> Job:
        """Probe (refusing unreadable files before storing anything; a raw elementary stream is
        put in MP4 first), start the job, stage the upload and record the job, then acknowledge:
        the job's bucket writes wait for that."""
        try:
            upload = containerised(upload, label, self._media_timeout_s)
            info = probe(upload, label)
        except Exception:
            upload.unlink(missing_ok=True)
            raise
        job = Job(job_id=new_job_id(), camera_id=camera_id, start_ms=start_ms, label=label,
                  node_id=self._node)
        staged = self._staged(job.job_id)
        upload.replace(staged)
        acknowledged: Future[None] = Future()
        self._executor.submit(self._run, job.job_id, IngestRequest(camera_id, start_ms, staged, info),
                              acknowledged)
        try:
            _make_durable(staged)
            self._jobs.put(job)
        except BaseException as exc:
            acknowledged.set_exception(exc)  # the job stops before its first bucket write
            raise
        acknowledged.set_result(None)
        return job

    def resume(self) -> int:
        """Run again the jobs this node acknowledged before it was killed, and delete the
        uploads that were never acknowledged (an interrupted transfer, or a kill -9 between
        staging and the job record)."""
        unfinished = self._jobs.unfinished(self._node)
        wanted = {self._staged(job.job_id) for job in unfinished}
        for path in self._upload_dir.iterdir():
            if path not in wanted:
                path.unlink(missing_ok=True)
        for job in unfinished:
            path = self._staged(job.job_id)
            if not path.is_file():
                self._jobs.put(replace(job, state=JobState.FAILED, error="staged upload lost",
                                       finished=datetime.now(UTC)))
                continue
            self._jobs.put(job)
            request = IngestRequest(job.camera_id, job.start_ms, path, probe(path, job.label))
            acknowledged: Future[None] = Future()
            acknowledged.set_result(None)
            self._executor.submit(self._run, job.job_id, request, acknowledged)
        if unfinished:
            logger.warning("resumed %d unfinished ingest jobs", len(unfinished))
        return len(unfinished)

    def stop(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _staged(self, job_id: str) -> Path:
        return self._upload_dir / f"{job_id}.staged"

    def _run(self, job_id: str, request: IngestRequest, acknowledged: Future[None]) -> None:
        ready = _Ready(acknowledged, lambda: self._jobs.update(job_id, state=JobState.RUNNING))
        try:
            with self._index_lock:  # one writer per index: dedup checks stay exact
                progress = self._pipeline.run(request, lambda p: self._jobs.update(job_id, progress=p),
                                              ready)
            self._jobs.update(job_id, state=JobState.SUCCEEDED, progress=progress,
                              finished=datetime.now(UTC))
            footage_end_s = request.start_ms / 1000 + request.info.duration_s
            self._metrics.job_done(request.camera_id, progress, footage_end_s, time.time())
        except Exception as exc:
            if acknowledged.exception() is not None:
                return  # never acknowledged: the client got the error, nothing is recorded
            logger.exception("ingest job %s failed", job_id)
            self._metrics.job_failed(request.camera_id)
            _, message = status_for(exc)
            self._jobs.update(job_id, state=JobState.FAILED, error=message, finished=datetime.now(UTC))
        finally:
            acknowledged.exception()  # staging may still be flushing the upload
            request.path.unlink(missing_ok=True)


def _make_durable(path: Path) -> None:
    """Flush the file, then its directory entry (the rename that named it), to disk."""
    for target in (path, path.parent):
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Ready:
    """Called before each of a job's bucket writes: waits for the acknowledgement (raising if
    the job could not be acknowledged) and marks the job running, once."""

    def __init__(self, acknowledged: Future[None], on_first: Callable[[], object]) -> None:
        self._acknowledged, self._on_first = acknowledged, on_first
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        self._acknowledged.result()
        with self._lock:
            if not self._done:
                self._on_first()
                self._done = True
