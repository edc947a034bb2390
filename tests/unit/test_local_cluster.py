"""The in-process cluster keeps the Ray cluster's semantics: shard writers acknowledge in the
bucket and feed followers, a restarted writer makes followers reload, pools take turns and hold
CPUs, live recordings go through the same manager. No Ray, no server."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import ray

from indexing.embedder import ModelSpec
from indexing.errors import ModelUnavailableError
from indexing.frame_columns import FrameRecord
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex
from services.cluster.index_writers import WRITER_PREFIX
from services.cluster.live_recorders import LiveConfig
from services.cluster.local import LocalCluster
from services.live.manager import LiveManager
from services.settings import IngestSettings, RaySettings
from storage.cameras import Camera
from storage.timeutil import DAY_MS
from tests.colour_embedder import DIM, load_colours
from tests.memory_store import MemoryStore

MODEL = "colours-random"
MIDNIGHT = 20_000 * DAY_MS


def _frames(camera: str, start_ms: int, n: int) -> tuple[list[FrameRecord], np.ndarray]:
    records = [FrameRecord(camera, start_ms + 2000 * i, start_ms + 2000 * (i + 1), f"segments/{camera}/s.mp4",
                           start_ms, start_ms + 2000 * n, f"thumbnails/{camera}/{i}.jpg") for i in range(n)]
    vectors = np.random.default_rng(n).normal(size=(n, DIM)).astype(np.float32)
    return records, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _times(index: FrameIndex) -> list[tuple[str, int]]:
    return sorted((r.camera_id, r.time_ms) for r in index.records())


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def cluster(store: MemoryStore) -> LocalCluster:
    return LocalCluster(store, RaySettings(num_cpus=3), load=load_colours)


def test_unit_tests_cannot_start_ray() -> None:
    with pytest.raises(RuntimeError, match="start no Ray cluster"):
        ray.init()


def test_each_utc_day_has_its_own_writer_and_every_batch_is_acknowledged_in_the_bucket(
        cluster: LocalCluster, store: MemoryStore) -> None:
    appended: list[int] = []
    writers = cluster.index_writers(MODEL, on_append=lambda: appended.append(1))
    records, vectors = _frames("cam-a", MIDNIGHT - 4000, 4)  # two frames each side of midnight
    writers.append("b1", records, vectors)
    assert appended == [1]
    day = MIDNIGHT // DAY_MS
    assert sorted(cluster._writers) == [f"{WRITER_PREFIX}-{MODEL}-{day - 1}-",
                                        f"{WRITER_PREFIX}-{MODEL}-{day}-"]
    reloaded = FrameIndex(DIM)
    assert IndexLog(store, MODEL).replay(reloaded) == 4


def test_a_follower_gets_additions_and_deletions_then_reloads_after_a_writer_restart(
        cluster: LocalCluster, store: MemoryStore) -> None:
    writers = cluster.index_writers(MODEL)
    first, first_vectors = _frames("cam-a", MIDNIGHT, 3)
    writers.append("b0", first, first_vectors)
    index, log = FrameIndex(DIM), IndexLog(store, MODEL)
    reloads: list[int] = []

    def reload() -> int:
        reloads.append(1)
        return log.replay(index)

    follower = cluster.index_follower(MODEL, index, reload)
    follower.mark()
    log.replay(index)  # a front end starting: mark, read the bucket, then follow
    records, vectors = _frames("cam-b", MIDNIGHT, 3)
    writers.append("b1", records, vectors)
    assert follower.poll() == 3 and not reloads
    writers.delete_range("cam-b", MIDNIGHT, MIDNIGHT + 2000)
    follower.poll()
    assert _times(index) == [("cam-a", MIDNIGHT + 2000 * i) for i in range(3)] + [
        ("cam-b", MIDNIGHT + 2000), ("cam-b", MIDNIGHT + 4000)]

    cluster.restart_writers()  # their feeds are gone; the bucket has everything
    index.delete_range("cam-a", MIDNIGHT, MIDNIGHT + 1)  # as if this front end had missed it
    follower.poll()
    assert reloads == [1] and ("cam-a", MIDNIGHT) in _times(index)


def test_a_pool_takes_turns_in_batches_keeps_order_and_holds_a_cpu_per_embedder(
        cluster: LocalCluster) -> None:
    spec = ModelSpec(name="colours")
    pool = cluster.embedder_pool(spec, RaySettings(embedders=2, embed_batch=4))
    assert cluster.free_cpus() == 1 and cluster.nodes() == ["local"] and cluster.cpus() == 3.0
    frames = [np.full((8, 8, 3), i * 20, dtype=np.uint8) for i in range(12)]
    vectors = pool.embed(frames)
    assert np.allclose(vectors, load_colours(spec, 1).embed_images(frames))
    assert pool.frames_embedded() == [8, 4]
    for i in range(4):  # one batch per call: the calls take turns too
        pool.embed(frames[i * 3:i * 3 + 3])
    assert pool.frames_embedded() == [14, 10]
    with pytest.raises(ModelUnavailableError, match="free CPUs"):
        cluster.embedder_pool(ModelSpec(name="colours-swapped"), RaySettings(embedders=2))
    pool.close()
    assert cluster.free_cpus() == 3


def test_the_live_manager_records_through_the_cluster_and_reports_a_refused_stream(
        cluster: LocalCluster, tmp_path: Path) -> None:
    pool = cluster.embedder_pool(ModelSpec(name="colours"), RaySettings(embedders=1))
    config = LiveConfig(MODEL, IngestSettings(), batch=4, work_dir=tmp_path, same_scene=None)
    live = LiveManager(cluster, config, pool.embed, FrameIndex(DIM))
    camera = Camera("cam-moved", group="g", stream_url="rtsp://admin:Pa55w0rd@127.0.0.2:8554/ch1")
    assert live.apply(camera) and not live.apply(camera)  # the same URL again: one recording
    deadline = time.monotonic() + 10
    while "is loopback" not in live.status(camera.camera_id).last_error:
        assert time.monotonic() < deadline, live.status(camera.camera_id)
        time.sleep(0.05)
    status = live.status(camera.camera_id)
    assert status.recording and status.segments_stored == 0 and "Pa55w0rd" not in status.last_error
    stopped = live.stop(camera.camera_id)
    assert not stopped.recording and "Pa55w0rd" not in stopped.last_error
    assert not cluster._recorders  # killed: the name is free for the next recording
