"""Ingest: footage uploaded by the caller or fetched from a URI, into a camera the caller sees,
and the jobs that index it.

An upload is spooled to the node's upload folder under `ingest.max_upload_mb` (nothing reaches
the bucket until the job is acknowledged: `services.ingest.runner`). A URI is fetched only where
the fetch policy allows (`storage.url_policy`), stream-copied under the same size limit. A job
of a camera the caller may not see answers NOT_FOUND, as a job that does not exist; a listing
of jobs holds only jobs of cameras the caller sees.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from services.application.audit import Caller
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError, ResourceExhaustedError
from services.ingest.jobs import Job, JobState
from services.settings import IngestSettings
from storage.cameras import mask_url
from storage.errors import DiskFullError
from storage.keys import JOB_ID
from storage.media import fetch
from storage.url_policy import UrlPolicy

MAX_URI_CHARS = 4096
DEFAULT_JOBS_PAGE = 50
MAX_JOBS_PAGE = 200
WATCH_POLL_S = 0.2


class Submitter(Protocol):
    """`services.ingest.runner.JobRunner`: probes, stages and records a job, then runs it."""

    def submit(self, camera_id: str, start_ms: int, upload: Path, label: str) -> Job: ...


class JobLookup(Protocol):
    def get(self, job_id: str) -> Job | None: ...

    def recent(self) -> list[Job]: ...


def display_name(filename: str) -> str:
    """A name for messages: the client's base name, printable, never a server path."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable())[:100]
    return clean or "upload"


class IngestService:
    def __init__(self, visibility: Visibility, runner: Submitter, jobs: JobLookup, upload_dir: Path,
                 settings: IngestSettings, url_policy: Callable[[], UrlPolicy]) -> None:
        self._visibility, self._runner, self._jobs = visibility, runner, jobs
        self._upload_dir, self._settings, self._url_policy = upload_dir, settings, url_policy

    @property
    def _limit(self) -> int:
        return self._settings.max_upload_mb * 1024 * 1024

    def _camera(self, caller: Caller, camera_id: str) -> str:
        return self._visibility.camera(caller.principal, camera_id,
                                       f"no camera {camera_id} in your groups; register it first")

    def from_uri(self, caller: Caller, camera_id: str, start_ms: int, uri: str) -> Job:
        """Fetch `uri` (fetch policy, size limit) and start its ingest job."""
        camera = self._camera(caller, camera_id)
        if not uri or len(uri) > MAX_URI_CHARS:
            raise InvalidArgumentError(f"uri must be 1-{MAX_URI_CHARS} characters")
        fd, name = tempfile.mkstemp(suffix=".mp4", dir=self._upload_dir)
        os.close(fd)
        path = fetch(uri, self._url_policy(), Path(name), self._settings.media_timeout_s, self._limit)
        return self._runner.submit(camera, start_ms, path, mask_url(uri))

    async def upload(self, caller: Caller, camera_id: str, start_ms: int, filename: str,
                     chunks: AsyncIterable[bytes]) -> Job:
        """Spool the uploaded `chunks` (size limit) and start their ingest job."""
        camera = await asyncio.to_thread(self._camera, caller, camera_id)
        upload = await self._spool(chunks)
        return await asyncio.to_thread(self._runner.submit, camera, start_ms, upload, display_name(filename))

    async def _spool(self, chunks: AsyncIterable[bytes]) -> Path:
        """The upload on disk, within the size limit; nothing reaches the bucket here."""
        fd, name = tempfile.mkstemp(suffix=".upload", dir=self._upload_dir)
        path, size = Path(name), 0
        try:
            with open(fd, "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self._limit:
                        raise ResourceExhaustedError(f"upload exceeds the {self._limit // 2**20} MiB limit")
                    f.write(chunk)
            if size == 0:
                raise InvalidArgumentError("the upload is empty")
        except OSError as exc:
            path.unlink(missing_ok=True)
            if exc.errno != errno.ENOSPC:
                raise
            raise DiskFullError("the upload") from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def job(self, caller: Caller, job_id: str) -> Job:
        if not JOB_ID.fullmatch(job_id):
            raise InvalidArgumentError("job_id must be 32 lowercase hex characters")
        job = self._jobs.get(job_id)
        if job is None or not self._visibility.sees(caller.principal, job.camera_id):
            raise NotFoundError(f"no job {job_id}")
        return job

    def jobs(self, caller: Caller, page_size: int = 0, state: JobState | None = None) -> list[Job]:
        """The newest `page_size` jobs (0: `DEFAULT_JOBS_PAGE`, at most `MAX_JOBS_PAGE`) of
        cameras the caller sees, in `state` when given, newest first."""
        if not 0 <= page_size <= MAX_JOBS_PAGE:
            raise InvalidArgumentError(f"page_size must be 0-{MAX_JOBS_PAGE} (0 means "
                                       f"{DEFAULT_JOBS_PAGE}), not {page_size}")
        visible = self._visibility.cameras(caller.principal)
        found = (j for j in self._jobs.recent()
                 if (state is None or j.state == state) and (visible is None or j.camera_id in visible))
        return list(itertools.islice(found, page_size or DEFAULT_JOBS_PAGE))

    async def watch(self, caller: Caller, job_id: str) -> AsyncIterator[Job]:
        """The job now and at every change, until it is done."""
        job, last = await asyncio.to_thread(self.job, caller, job_id), None
        while True:
            if job != last:
                yield job
                last = job
            if job.done:
                return
            await asyncio.sleep(WATCH_POLL_S)
            job = await asyncio.to_thread(self.job, caller, job_id)
