"""Pure logic: key layout, manifests, jobs, error mapping, the FAISS filter."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from services.errors import InvalidArgumentError, status_for
from services.ingest.jobs import Job, JobProgress, JobState
from storage import keys
from storage.errors import MediaError, ObjectNotFoundError, StorageUnavailableError
from storage.manifests import SegmentManifest


def test_segment_keys_partition_by_camera_and_utc_hour() -> None:
    start = 1_795_507_200_000  # 2026-11-24T08:00:00Z
    key = keys.segment_key("cam-1", start, start + 4000)
    assert key == f"segments/cam-1/2026/11/24/08/{start}-{start + 4000}.mp4"
    assert keys.manifest_key(key).endswith(f"{start}-{start + 4000}.json")
    assert keys.thumbnail_key("cam-1", start + 3_600_000).startswith("thumbnails/cam-1/2026/11/24/09/")


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a..b", "-lead", "x" * 65, "cam\n1", "camé"])
def test_camera_ids_that_could_escape_the_layout_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="camera id"):
        keys.validate_camera_id(bad)


def test_manifest_round_trips() -> None:
    m = SegmentManifest("cam", "segments/cam/x.mp4", 1000, 5000, 123, "ab" * 32, "h264", 1280, 720, 800)
    assert SegmentManifest.from_json(m.to_json()) == m
    assert m.duration_ms == 4000


def test_job_round_trips() -> None:
    job = Job("a" * 32, "cam", JobState.SUCCEEDED, JobProgress(10, 2, 1, 4, 3), "")
    assert Job.from_json(job.to_json()) == job


@pytest.mark.parametrize("exc, code", [
    (MediaError("x.mp4: not a readable video"), grpc.StatusCode.INVALID_ARGUMENT),
    (ObjectNotFoundError("gone"), grpc.StatusCode.NOT_FOUND),
    (StorageUnavailableError("down"), grpc.StatusCode.UNAVAILABLE),
    (InvalidArgumentError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_domain_errors_map_to_grpc_statuses(exc: Exception, code: grpc.StatusCode) -> None:
    assert status_for(exc) == (code, str(exc))


def test_unexpected_errors_reveal_nothing() -> None:
    code, message = status_for(RuntimeError("/srv/vigil/secret path"))
    assert code == grpc.StatusCode.INTERNAL and "/srv" not in message


def _random_index(n: int, dim: int, cameras: int, seed: int) -> tuple[FrameIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [FrameRecord(f"cam-{i % cameras}", 1000 * i, 1000 * i + 1000, "s", 0, 1, "t") for i in range(n)]
    index = FrameIndex(dim)
    index.add(records, vectors)
    return index, vectors


def test_filtered_search_fills_top_k_with_the_best_allowed_frames() -> None:
    index, vectors = _random_index(2000, 32, cameras=10, seed=1)
    query = vectors[7] + 0.1
    where = SearchFilter(camera_ids=frozenset({"cam-3"}), start_ms=200_000, end_ms=1_500_000)
    hits = index.search(query, 10, where)
    allowed = [i for i, r in enumerate(index.records()) if where.allows(r)]
    exact = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:10]
    assert [h.record.time_ms for h in hits] == [1000 * i for i in exact]


def test_adding_the_same_frames_twice_keeps_one_copy() -> None:
    index, vectors = _random_index(50, 8, cameras=2, seed=2)
    assert index.add(list(index.records()), vectors) == 0
    assert len(index) == 50
