"""Records stored as JSON in the bucket read back equal."""

from __future__ import annotations

from services.ingest.jobs import Job, JobProgress, JobState
from storage.manifests import SegmentManifest


def test_manifest_round_trips() -> None:
    m = SegmentManifest("cam", "segments/cam/x.mp4", 1000, 5000, 123, "ab" * 32, "h264", 1280, 720, 800)
    assert SegmentManifest.from_json(m.to_json()) == m
    assert m.duration_ms == 4000


def test_job_round_trips() -> None:
    job = Job("a" * 32, "cam", JobState.SUCCEEDED, JobProgress(10, 2, 1, 4, 3), "")
    assert Job.from_json(job.to_json()) == job
