"""Index-writer actors: one per shard, and every front end follows what they acknowledge.

A second front end is played by a real `IndexFollower` of the node's Ray cluster, with its own
in-memory index on the same bucket, as a second `vigil serve` would run.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import ray

from indexing.vector_index import FrameIndex, SearchFilter
from services.api.client import JobStatus, VigilClient
from services.cluster.index_writers import WRITER_PREFIX, IndexFollower
from storage.timeutil import to_ms

CAMERA = "cam-writers-1"
START = datetime(2026, 11, 21, 23, 59, 50, tzinfo=UTC)  # the footage crosses a UTC midnight


@pytest.fixture(scope="module")
def other_front_end(node: object) -> tuple[FrameIndex, IndexFollower]:
    """A front end that started before the ingest: it marked the feeds and read the bucket."""
    from indexing.stored_index import IndexLog

    index = FrameIndex(node.index.dim)  # type: ignore[attr-defined]
    log = IndexLog(node.store, node.model_id)  # type: ignore[attr-defined]
    follower = node.cluster.index_follower(node.model_id, index,  # type: ignore[attr-defined]
                                           lambda: log.replay(index))
    follower.mark()
    log.replay(index)
    return index, follower


@pytest.fixture(scope="module")
def ingested(server: object, video: Path, admin_token: str, other_front_end) -> JobStatus:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        return c.wait_for_job(c.ingest_file(video, CAMERA, START), timeout_s=300)


def _frames(index: FrameIndex) -> list[tuple[int, int]]:
    return sorted((r.time_ms, r.end_ms) for r in index.records() if r.camera_id == CAMERA)


def _writers(node: object) -> list[str]:
    prefix = f"{WRITER_PREFIX}-{node.model_id}-"  # type: ignore[attr-defined]
    return sorted(n for n in ray.util.list_named_actors() if n.startswith(prefix))


def _wait_for_restart(epochs: dict[str, str], timeout_s: float = 60) -> None:
    """Until every writer answers from its new life (ray.kill returns before the actor dies)."""
    deadline = time.monotonic() + timeout_s
    for name, epoch in epochs.items():
        while ray.get(ray.get_actor(name).head.remote()).epoch == epoch:
            assert time.monotonic() < deadline, f"{name} was not restarted"
            time.sleep(0.1)


def test_each_utc_day_of_the_footage_has_its_own_writer(ingested: JobStatus, node: object) -> None:
    assert ingested.state == "succeeded", ingested.error
    day = to_ms(START) // 86_400_000
    names = _writers(node)
    assert any(n.endswith(f"-{day}-") for n in names) and any(n.endswith(f"-{day + 1}-") for n in names)


def test_another_front_end_finds_what_this_one_ingested(ingested: JobStatus, node: object,
                                                        other_front_end) -> None:
    index, follower = other_front_end
    follower.poll()
    assert _frames(index) == _frames(node.index)  # type: ignore[attr-defined]
    assert len(_frames(index)) == ingested.vectors
    query = np.ones(index.dim, dtype=np.float32) / np.sqrt(index.dim)
    where = SearchFilter(camera_ids=frozenset({CAMERA}))
    mine = [h.record for h in node.index.search(query, 5, where)]  # type: ignore[attr-defined]
    assert [h.record for h in index.search(query, 5, where)] == mine


def test_a_deletion_on_this_front_end_reaches_the_other(ingested: JobStatus, node: object,
                                                        other_front_end) -> None:
    index, follower = other_front_end
    follower.poll()
    first = min(t for t, _ in _frames(index))
    removed = node.delete_range(CAMERA, first, first + 4000)  # type: ignore[attr-defined]
    assert removed >= 1
    follower.poll()
    assert _frames(index) == _frames(node.index)  # type: ignore[attr-defined]
    assert min(t for t, _ in _frames(index)) >= first + 4000


def test_a_killed_writer_loses_nothing_and_followers_reload(ingested: JobStatus, node: object,
                                                            other_front_end) -> None:
    index, follower = other_front_end
    names = _writers(node)
    epochs = {n: ray.get(ray.get_actor(n).head.remote()).epoch for n in names}
    for name in names:
        ray.kill(ray.get_actor(name), no_restart=False)  # Ray restarts it with an empty feed
    _wait_for_restart(epochs)
    lost = [r for r in index.records() if r.camera_id == CAMERA][:3]
    index.delete_range(CAMERA, lost[0].time_ms, lost[-1].time_ms + 1)  # as if never fetched
    follower.poll()  # the feed's epoch changed: reload from the bucket
    assert _frames(index) == _frames(node.index)  # type: ignore[attr-defined]

    hour_before = to_ms(START) - 3_600_000  # same UTC day, no frame there yet
    late = replace(lost[0], time_ms=hour_before, end_ms=hour_before + 2000)
    node.serving.current.writes.append("late", [late], np.ones((1, index.dim), np.float32))  # type: ignore[attr-defined]
    follower.poll()  # the restarted writer's feed is followed from its start
    assert late.time_ms in {t for t, _ in _frames(index)}
    node.delete_range(CAMERA, late.time_ms, late.end_ms)  # type: ignore[attr-defined]
