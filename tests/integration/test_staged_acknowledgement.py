"""A job starts working while its upload is staged, but writes nothing to the bucket before the
acknowledgement; a job whose upload cannot be staged leaves nothing behind.

Real ffmpeg, PyAV and the bundled model; the bucket is the in-memory store, whose write hook
makes the staging PUT fail (a real S3 server cannot be made to fail one PUT on demand).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.memory_store import MemoryStore

CAMERA = "cam-staged-1"
START_MS = int(datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks import _harness

    return _harness.city_camera_footage(tmp_path_factory.mktemp("staged") / "in.mp4", "320x180", 8, fps=10)


def _runner(store: MemoryStore, work: Path):
    from indexing.embedder import ClipEmbedder, ModelSpec
    from indexing.index_log import IndexLog
    from indexing.models.configs import VIGIL_TINY_DIR
    from indexing.vector_index import FrameIndex
    from services.ingest import IngestPipeline
    from services.job_runner import JobRunner
    from services.jobs import JobRegistry
    from services.metrics import Metrics
    from services.settings import IngestSettings

    embedder = ClipEmbedder(ModelSpec(path=VIGIL_TINY_DIR))
    index = FrameIndex(embedder.dim)
    pipeline = IngestPipeline(store, index, IndexLog(store, "staged-test"), embedder.embed_images,
                              IngestSettings(segment_seconds=4.0), work / "work", batch=4)
    jobs = JobRegistry(store)
    (work / "uploads").mkdir()
    runner = JobRunner(store, jobs, pipeline, threading.Lock(), work / "uploads", "node-a",
                       Metrics(lambda: len(index), jobs.backlog))
    return runner, jobs, index


def _upload(footage: Path, tmp: Path) -> Path:
    copy = tmp / "uploads" / "job.upload"
    copy.write_bytes(footage.read_bytes())
    return copy


@pytest.mark.integration
def test_no_bucket_write_comes_before_the_acknowledgement(footage: Path, tmp_path: Path) -> None:
    store, writes = MemoryStore(), []
    store.before_write = lambda op, key: writes.append(key)
    runner, jobs, index = _runner(store, tmp_path)
    job = runner.submit(CAMERA, START_MS, _upload(footage, tmp_path), "in.mp4")
    runner.stop()
    assert jobs.get(job.job_id).state == "succeeded"  # type: ignore[union-attr]
    assert writes[:2] == [f"staging/{job.job_id}", f"jobs/{job.job_id}.json"]
    assert any(k.startswith("segments/") for k in writes) and any(k.startswith("thumbnails/") for k in writes)
    assert len(index) > 0 and f"staging/{job.job_id}" not in store.objects


@pytest.mark.integration
def test_an_upload_that_cannot_be_staged_leaves_nothing(footage: Path, tmp_path: Path) -> None:
    store = MemoryStore()

    def refuse_staging(op: str, key: str) -> None:
        if key.startswith("staging/"):
            raise OSError("the bucket refused the staging PUT")

    store.before_write = refuse_staging
    runner, jobs, index = _runner(store, tmp_path)
    upload = _upload(footage, tmp_path)
    with pytest.raises(OSError, match="refused the staging PUT"):
        runner.submit(CAMERA, START_MS, upload, "in.mp4")
    runner.stop()
    assert store.objects == {}
    assert len(index) == 0 and jobs.backlog() == 0
    assert not upload.exists()
