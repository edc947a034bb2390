"""SearchSimilar and Follow end to end: the same footage passes three cameras a minute apart, two
in one ward and one in another (real SeaweedFS, Ray, gRPC; the session's random-weight model).

What such a model honestly supports: a keyframe's stored vector is closest to the same picture on
another camera, so SearchSimilar finds the other camera's copy of the scene, and Follow strings
the cameras together in the order the footage passed them. A viewer of one ward never sees the
other ward's camera in a trail, and a hit on it is NOT_FOUND.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.api.client import HitRef, Trail, VigilClient
from tests.media import SCENE_S, frame_png
from tests.served import run_cli
from vigil.v1 import cameras_pb2

WARD, OTHER_WARD = "follow-ward-1", "follow-ward-2"
CAMERAS = {"follow-a": (WARD, 0), "follow-b": (WARD, 60), "follow-c": (OTHER_WARD, 120)}  # group, delay s
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
SCENE = 2  # the mandelbrot scene: its keyframes at 8 s and 10 s into each camera's footage
SAME = 0.99  # a model's vectors of one picture on two cameras score ≈ 1


@pytest.fixture(scope="module")
def ward_viewer(server: Any, admin_token: str, video: Path) -> Iterator[VigilClient]:
    """The three cameras with their footage; a client of a ward-1 viewer."""
    with VigilClient(server.address, admin_token) as admin:
        for camera, (group, delay_s) in CAMERAS.items():
            admin.register_camera(cameras_pb2.Camera(camera_id=camera, name=camera, group=group,
                                                     retention_days=30))
            job = admin.ingest_file(video, camera, START + timedelta(seconds=delay_s))
            assert admin.wait_for_job(job, timeout_s=600).state == "succeeded"
        token = admin.create_token("follow-viewer", "viewer", [WARD])[0]
    with VigilClient(server.address, token) as viewer:
        yield viewer


def _seed(client: VigilClient) -> HitRef:
    """Camera a's best hit 8 s in (the scene's first keyframe; a region of it, or the whole)."""
    hits = client.search("street", top_k=50, frames=True, camera_ids=["follow-a"], min_score=-1).hits
    at = START + timedelta(seconds=SCENE * SCENE_S)
    return next(h.ref for h in hits if h.frame_time == at)


def _at(camera: str, seconds: float) -> datetime:
    return START + timedelta(seconds=CAMERAS[camera][1] + seconds)


def _cameras_in_order(trail: Trail) -> list[str]:
    return [s.camera_id for i, s in enumerate(trail.steps)
            if i == 0 or trail.steps[i - 1].camera_id != s.camera_id]


def test_similar_finds_the_same_scene_on_the_other_camera_of_the_ward(ward_viewer: VigilClient) -> None:
    seed = _seed(ward_viewer)
    hits = ward_viewer.search_similar(seed, top_k=5, frames=True, min_score=-1).hits
    assert hits[0].camera_id == "follow-b" and hits[0].frame_time == _at("follow-b", SCENE * SCENE_S)
    assert hits[0].score > SAME and hits[0].box == seed.box  # the same region of the same picture
    assert {h.camera_id for h in hits} == {"follow-b"}  # not its own camera, not the other ward's
    same = ward_viewer.search_similar(seed, top_k=5, frames=True, include_same_camera=True,
                                      min_score=-1).hits
    assert (seed.camera_id, seed.frame_time) in {(h.camera_id, h.frame_time) for h in same}


def test_a_trail_follows_the_footage_from_camera_to_camera_in_time_order(
        ward_viewer: VigilClient, client: VigilClient) -> None:
    seed = _seed(ward_viewer)
    window = {"start": START, "end": START + timedelta(minutes=5)}
    trail = ward_viewer.follow(seed, min_score=SAME, **window)
    starts = [s.start for s in trail.steps]
    assert starts == sorted(starts) and not trail.no_good_match
    assert _cameras_in_order(trail) == ["follow-a", "follow-b"]
    best_on_b = max((s for s in trail.steps if s.camera_id == "follow-b"), key=lambda s: s.score)
    assert best_on_b.start <= _at("follow-b", SCENE * SCENE_S) <= best_on_b.end
    assert any(s.start <= seed.frame_time <= s.end and s.camera_id == "follow-a" for s in trail.steps)
    everyone = client.follow(seed, min_score=SAME, camera_ids=list(CAMERAS), **window)  # a '*' admin
    assert _cameras_in_order(everyone) == ["follow-a", "follow-b", "follow-c"]


def test_a_photo_starts_the_same_trail(ward_viewer: VigilClient, video: Path, tmp_path: Path) -> None:
    photo = frame_png(video, SCENE * SCENE_S, tmp_path / "photo.png")
    trail = ward_viewer.follow(photo, min_score=SAME, start=START, end=START + timedelta(minutes=5))
    assert _cameras_in_order(trail) == ["follow-a", "follow-b"]


def test_a_hit_on_the_other_wards_camera_is_not_found(ward_viewer: VigilClient, client: VigilClient) -> None:
    hidden = HitRef("follow-c", _at("follow-c", SCENE * SCENE_S))
    missing = HitRef("follow-zz", hidden.frame_time)
    assert client.search_similar(hidden, top_k=1).hits  # it exists: a '*' admin finds it
    for ref in (hidden, missing):
        for call in (ward_viewer.search_similar, ward_viewer.follow):
            with pytest.raises(grpc.RpcError) as err:
                call(ref)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
            assert f"no stored keyframe of camera {ref.camera_id!r}" in err.value.details()  # type: ignore[attr-defined]


def test_the_cli_prints_hit_references_that_follow_and_similar_take(server: Any, admin_token: str,
                                                                    ward_viewer: VigilClient) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_CLIENT__TOKEN"] = admin_token
    address = ("--address", server.address)
    found = run_cli(env, "search", "street", "--frames", "--top-k", "1", "--camera", "follow-a",
                    "--min-score", "-1", *address)
    ref = found.split(" hit ")[-1].strip()
    assert HitRef.parse(ref).camera_id == "follow-a"
    similar = run_cli(env, "search", "--similar", ref, "--frames", "--top-k", "1", "--camera",
                      "follow-b", "--min-score", "-1", *address)
    assert "  follow-b  " in similar and " hit follow-b@" in similar
    followed = run_cli(env, "follow", ref, "--camera", "follow-a", "--camera", "follow-b",
                       "--min-score", "-1", *address)
    assert "visits in time order" in followed and " hit follow-b@" in followed
    both = run_cli(env, "search", "street", "--camera", "follow-a", "--camera", "follow-b", "--follow",
                   "--min-score", "-1", *address)
    assert "following the top hit follow-" in both and "trail: " in both
