"""Ingest jobs: their state and progress, kept in memory and persisted in the bucket."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobProgress:
    bytes: int = 0
    segments: int = 0
    segments_skipped: int = 0
    keyframes: int = 0
    vectors: int = 0


@dataclass(frozen=True)
class Job:
    """An ingest job. Its upload is staged on its node before the job id is acknowledged,
    so the node runs it again if it was killed (ingest is idempotent; `services.ingest.runner`)."""

    job_id: str
    camera_id: str
    state: JobState = JobState.PENDING
    progress: JobProgress = field(default_factory=JobProgress)
    error: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    start_ms: int = 0
    label: str = ""
    node_id: str = ""

    @property
    def done(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)

    def to_json(self) -> bytes:
        raw = asdict(self)
        raw["created"] = self.created.isoformat()
        raw["finished"] = self.finished.isoformat() if self.finished else None
        return json.dumps(raw).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Job:
        raw = json.loads(data)
        return cls(job_id=raw["job_id"], camera_id=raw["camera_id"], state=JobState(raw["state"]),
                   progress=JobProgress(**raw["progress"]), error=raw["error"],
                   created=datetime.fromisoformat(raw["created"]),
                   finished=datetime.fromisoformat(raw["finished"]) if raw["finished"] else None,
                   start_ms=raw.get("start_ms", 0), label=raw.get("label", ""),
                   node_id=raw.get("node_id", ""))


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobRegistry:
    """Live jobs in memory; every state change is written to `jobs/{id}.json`."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._finished: dict[str, Job] = {}  # read back from the bucket by `recent`
        self._lock = threading.Lock()

    def put(self, job: Job) -> Job:
        """Record the job in the bucket, then here: a job the bucket refused is not a job."""
        self._store.put_bytes(keys.job_key(job.job_id), job.to_json(), "application/json")
        with self._lock:
            self._jobs[job.job_id] = job
        return job

    def update(self, job_id: str, **changes: Any) -> Job:  # Job fields
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
        if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.RUNNING) and "state" in changes:
            self._store.put_bytes(keys.job_key(job_id), job.to_json(), "application/json")
        return job

    def backlog(self) -> int:
        """Jobs of this node that are pending or running."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if not j.done)

    def unfinished(self, node_id: str) -> list[Job]:
        """Jobs this node acknowledged but did not finish (it was killed): to run again."""
        jobs = (Job.from_json(self._store.get_bytes(o.key)) for o in self._store.list(keys.JOBS_PREFIX))
        return [j for j in jobs if not j.done and j.node_id == node_id]

    def recent(self) -> list[Job]:
        """Every job in the bucket, newest first, with this node's live progress where it runs
        them. Finished jobs read from the bucket are kept here (they no longer change), so a
        repeated listing costs one LIST plus a GET per new or unfinished job."""
        jobs: dict[str, Job] = {}
        for info in self._store.list(keys.JOBS_PREFIX):
            if not info.key.endswith(".json"):
                continue
            job_id = info.key.removeprefix(keys.JOBS_PREFIX).removesuffix(".json")
            with self._lock:
                known = self._jobs.get(job_id) or self._finished.get(job_id)
            if known is None:
                try:
                    known = Job.from_json(self._store.get_bytes(info.key))
                except ObjectNotFoundError:  # deleted since the listing
                    continue
                if known.done:
                    with self._lock:
                        self._finished[job_id] = known
            jobs[known.job_id] = known
        with self._lock:
            jobs.update(self._jobs)
        return sorted(jobs.values(), key=lambda j: (j.created, j.job_id), reverse=True)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        try:
            return Job.from_json(self._store.get_bytes(keys.job_key(job_id)))
        except ObjectNotFoundError:
            return None
