"""A job starts working while its acknowledgement is made durable, but writes nothing to the
bucket before it; a job that cannot be acknowledged leaves nothing behind; a node that
restarts keeps its acknowledged uploads and deletes the rest.

Real ffmpeg, PyAV and the bundled model; the bucket is the in-memory store, whose write hook
makes the job record's PUT fail (a real S3 server cannot be made to fail one PUT on demand).
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
    from indexing.models.configs import VIGIL_TINY_DIR
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex
    from services.ingest.jobs import JobRegistry
    from services.ingest.pipeline import IngestPipeline
    from services.ingest.runner import JobRunner
    from services.node.metrics import Metrics
    from services.settings import IngestSettings

    embedder = ClipEmbedder(ModelSpec(path=VIGIL_TINY_DIR))
    index = FrameIndex(embedder.dim)
    pipeline = IngestPipeline(store, index, IndexLog(store, "staged-test"), embedder.embed_images,
                              IngestSettings(segment_seconds=4.0), work / "work", batch=4,
                              same_scene=lambda: embedder.same_scene(embedder.spec.calibration.dedup_cosine))
    jobs = JobRegistry(store)
    (work / "uploads").mkdir()
    runner = JobRunner(store, jobs, pipeline, threading.Lock(), work / "uploads", "node-a",
                       Metrics(lambda: len(index), jobs.backlog, lambda: 0), media_timeout_s=60)
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
    assert writes[0] == f"jobs/{job.job_id}.json"
    assert any(k.startswith("segments/") for k in writes) and any(k.startswith("thumbnails/") for k in writes)
    assert len(index) > 0 and list((tmp_path / "uploads").iterdir()) == []  # staged copy gone when done


@pytest.mark.integration
def test_a_job_that_cannot_be_acknowledged_leaves_nothing(footage: Path, tmp_path: Path) -> None:
    store = MemoryStore()

    def refuse_job_record(op: str, key: str) -> None:
        if key.startswith("jobs/"):
            raise OSError("the bucket refused the job record")

    store.before_write = refuse_job_record
    runner, jobs, index = _runner(store, tmp_path)
    with pytest.raises(OSError, match="refused the job record"):
        runner.submit(CAMERA, START_MS, _upload(footage, tmp_path), "in.mp4")
    runner.stop()
    assert store.objects == {}
    assert len(index) == 0 and jobs.backlog() == 0
    assert list((tmp_path / "uploads").iterdir()) == []


@pytest.mark.integration
def test_a_restarted_node_runs_its_staged_jobs_and_deletes_unacknowledged_uploads(
        footage: Path, tmp_path: Path) -> None:
    from services.ingest.jobs import Job

    store = MemoryStore()
    runner, jobs, index = _runner(store, tmp_path)
    uploads = tmp_path / "uploads"
    acknowledged = Job(job_id="a" * 32, camera_id=CAMERA, start_ms=START_MS, label="in.mp4", node_id="node-a")
    jobs.put(acknowledged)  # as a node killed after the acknowledgement left it
    (uploads / f"{acknowledged.job_id}.staged").write_bytes(footage.read_bytes())
    (uploads / f"{'b' * 32}.staged").write_bytes(b"staged, killed before its job record")
    (uploads / "tmpx1y2.upload").write_bytes(b"a transfer cut off")
    lost = Job(job_id="c" * 32, camera_id=CAMERA, start_ms=START_MS, label="gone.mp4", node_id="node-a")
    jobs.put(lost)  # its staged upload is missing (the node's disk was replaced)
    assert runner.resume() == 2
    runner.stop()
    assert jobs.get(acknowledged.job_id).state == "succeeded" and len(index) > 0  # type: ignore[union-attr]
    assert jobs.get(lost.job_id).error == "staged upload lost"  # type: ignore[union-attr]
    assert list(uploads.iterdir()) == []


@pytest.mark.integration
def test_a_raw_h264_stream_is_put_in_mp4_and_ingested_at_its_own_frame_rate(footage: Path,
                                                                             tmp_path: Path) -> None:
    """A DVR's `.h264` export: frames with no timestamps. Refused before as 'no decodable video
    frames'; now stream-copied into MP4 at the stream's own rate (10 fps here, from its VUI)."""
    import subprocess

    from storage.media_tools import ffmpeg_exe

    store = MemoryStore()
    runner, jobs, index = _runner(store, tmp_path)
    raw = tmp_path / "uploads" / "job.upload"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(footage), "-c", "copy",
                    "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(raw)], check=True, timeout=60)
    job = runner.submit(CAMERA, START_MS, raw, "export.h264")
    runner.stop()
    assert jobs.get(job.job_id).state == "succeeded"  # type: ignore[union-attr]
    wholes = sorted(r.time_ms - START_MS for r in index.records() if r.box is None)
    assert wholes[0] == 0 and wholes[-1] == 6000  # 8 s at 10 fps, keyframes every 2 s (or fewer: dedup)
    assert max(r.end_ms for r in index.records()) - START_MS == 8000
    assert list((tmp_path / "uploads").iterdir()) == []  # neither the raw file nor its MP4 is left
