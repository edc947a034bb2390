"""A worker killed mid-ingest: Ray restarts the embedder actor, the call is retried, and the job
ends exactly as an uninterrupted one (no keyframe lost or duplicated)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import ray

from services.api.client import VigilClient

START = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)


def _frames(client: VigilClient, camera: str) -> list[tuple[float, float]]:
    hits = client.search("xe đạp", top_k=100, camera_ids=[camera], frames=True, min_score=-1).hits
    return sorted(((h.frame_time - START).total_seconds(), (h.end - START).total_seconds()) for h in hits)


def test_killing_an_embedder_process_mid_ingest_loses_nothing(client: VigilClient, node: object,
                                                              video: Path) -> None:
    reference = client.wait_for_job(client.ingest_file(video, "cam-fault-ref", START), timeout_s=300)
    actor = node.pool._actors[0]  # type: ignore[attr-defined]
    pid = ray.get(actor.pid.remote())
    job_id = client.ingest_file(video, "cam-fault", START)
    os.kill(pid, signal.SIGKILL)  # the worker process dies with a batch in flight
    status = client.wait_for_job(job_id, timeout_s=300)
    assert status.state == "succeeded", status.error
    assert (status.segments, status.vectors) == (reference.segments, reference.vectors)
    assert _frames(client, "cam-fault") == _frames(client, "cam-fault-ref")  # none lost or doubled
    deadline = time.monotonic() + 60
    while ray.get(actor.pid.remote()) == pid:  # restarted under the same name
        assert time.monotonic() < deadline
        time.sleep(0.5)
