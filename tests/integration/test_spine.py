"""The spine end to end: a file goes in over gRPC, search comes back with the right segment.

Real SeaweedFS, real ffmpeg, real Ray, real gRPC on loopback. The model has
seeded random weights, so the assertions are only what such a model honestly
supports: a frame of the video, uploaded as a photo, finds its own segment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from services.api.client import JobStatus, VigilClient
from storage.manifests import SegmentManifest
from storage.media import probe
from storage.timeutil import to_ms
from tests.media import SCENE_S, SCENES, frame_png

START = datetime(2026, 11, 20, 21, 59, 50, tzinfo=UTC)  # crosses an hour boundary


@pytest.fixture(scope="module")
def ingested(server: object, video: Path, admin_token: str) -> JobStatus:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        return c.wait_for_job(c.ingest_file(video, "cam-hem-12", START), timeout_s=300)


def _manifests(node: object, camera: str) -> list[SegmentManifest]:
    store = node.store  # type: ignore[attr-defined]
    return sorted((SegmentManifest.from_json(store.get_bytes(o.key))
                   for o in store.list(f"segments/{camera}/") if o.key.endswith(".json")),
                  key=lambda m: m.start_ms)


def test_ingest_succeeds_with_every_segment_and_keyframe(ingested: JobStatus) -> None:
    assert ingested.state == "succeeded", ingested.error
    assert ingested.segments == len(SCENES)
    assert ingested.keyframes == len(SCENES) * SCENE_S // 2  # a keyframe every 2 s
    assert ingested.vectors == ingested.keyframes


def test_segments_have_exact_times_and_hour_partitioned_keys(
        ingested: JobStatus, node: object, video: Path) -> None:
    manifests = _manifests(node, "cam-hem-12")
    start = to_ms(START)
    assert [m.start_ms - start for m in manifests] == [i * SCENE_S * 1000 for i in range(len(SCENES))]
    assert all(m.end_ms - m.start_ms == SCENE_S * 1000 for m in manifests)
    assert manifests[-1].end_ms - start == round(probe(video).duration_s * 1000)
    hours = {m.segment_key.split("/")[5] for m in manifests}
    assert hours == {"21", "22"}
    first = manifests[0]
    assert first.segment_key == f"segments/cam-hem-12/2026/11/20/21/{first.start_ms}-{first.end_ms}.mp4"
    assert (first.codec, first.width, first.height) == ("h264", 640, 360)


def test_stored_segments_are_stream_copies_that_play(ingested: JobStatus, node: object,
                                                     tmp_path: Path) -> None:
    m = _manifests(node, "cam-hem-12")[1]
    local = tmp_path / "seg.mp4"
    node.store.get_file(m.segment_key, local)  # type: ignore[attr-defined]
    info = probe(local)
    assert info.codec == "h264" and round(info.duration_s * 1000) == m.end_ms - m.start_ms
    from storage.manifests import sha256_file
    assert sha256_file(local) == m.sha256


@pytest.mark.parametrize("scene", range(len(SCENES)))
def test_a_frame_used_as_a_photo_finds_its_own_segment_first(
        ingested: JobStatus, client: VigilClient, video: Path, tmp_path: Path, scene: int) -> None:
    photo = frame_png(video, scene * SCENE_S + 1.0, tmp_path / "photo.png")
    # other tests ingest the same video on other cameras: look on this one
    hits = client.search_by_image(photo, top_k=3, frames=True, camera_ids=["cam-hem-12"]).hits
    expected_start = START + timedelta(seconds=scene * SCENE_S)
    assert hits[0].camera_id == "cam-hem-12"
    assert hits[0].segment_start == expected_start
    assert hits[0].segment_end == expected_start + timedelta(seconds=SCENE_S)
    assert expected_start <= hits[0].frame_time < hits[0].segment_end


def test_text_search_returns_complete_hits_within_filters(ingested: JobStatus, client: VigilClient) -> None:
    # this module's camera: others' footage in the session's index has other GOPs (a live test's is 1 s)
    hits = client.search("person carrying a bicycle at night", top_k=4, frames=True,
                         camera_ids=["cam-hem-12"]).hits
    assert len(hits) == 4
    assert all(h.segment_start <= h.frame_time < h.segment_end and h.frames == 1 for h in hits)
    assert all(h.end - h.start == timedelta(seconds=2) for h in hits)  # a keyframe every 2 s
    assert all(h.thumbnail_key.endswith(".jpg") for h in hits)
    window_start = START + timedelta(seconds=8)
    window_end = START + timedelta(seconds=12)
    windowed = client.search("xe đạp", top_k=10, start=window_start, end=window_end, frames=True)
    assert {h.frame_time for h in windowed.hits} == {window_start, window_start + timedelta(seconds=2)}
    assert client.search("xe đạp", camera_ids=["no-such-camera"]).hits == []


def test_keyframes_close_in_time_come_back_as_one_clip(ingested: JobStatus, client: VigilClient) -> None:
    result = client.search("xe máy chở hai người", top_k=5, camera_ids=["cam-hem-12"])
    assert len(result.hits) == 1
    clip = result.hits[0]
    assert (clip.start, clip.end, clip.frames) == (START, START + timedelta(seconds=20), 10)
    assert clip.start <= clip.frame_time < clip.end


def test_a_threshold_above_every_score_says_no_good_match(ingested: JobStatus, client: VigilClient) -> None:
    result = client.search("a dog in the rain", min_score=1.0)
    assert result.hits == [] and result.no_good_match


def test_thumbnails_are_stored_jpegs(ingested: JobStatus, client: VigilClient, node: object) -> None:
    hit = client.search("street", top_k=1).hits[0]
    data = node.store.get_bytes(hit.thumbnail_key)  # type: ignore[attr-defined]
    assert data[:3] == b"\xff\xd8\xff"


def test_ingesting_the_same_file_again_stores_nothing_new(
        ingested: JobStatus, client: VigilClient, node: object, video: Path) -> None:
    before = sorted(o.key for o in node.store.list("segments/"))  # type: ignore[attr-defined]
    vectors_before = len(node.index)  # type: ignore[attr-defined]
    again = client.wait_for_job(client.ingest_file(video, "cam-hem-12", START), timeout_s=300)
    assert again.state == "succeeded"
    assert again.segments_skipped == again.segments == len(SCENES)
    assert again.vectors == 0
    assert sorted(o.key for o in node.store.list("segments/")) == before  # type: ignore[attr-defined]
    assert len(node.index) == vectors_before  # type: ignore[attr-defined]


def _stored(node: object) -> list[str]:
    """Every key in the bucket but the audit trail's."""
    return sorted(o.key for o in node.store.list("")  # type: ignore[attr-defined]
                  if not o.key.startswith("audit/"))


def test_an_unreadable_file_is_refused_and_nothing_is_stored(
        ingested: JobStatus, client: VigilClient, node: object, tmp_path: Path, video: Path) -> None:
    before = _stored(node)
    corrupt = tmp_path / "evidence.mp4"
    corrupt.write_bytes(video.read_bytes()[:2000])  # truncated: header only
    with pytest.raises(grpc.RpcError) as err:
        client.ingest_file(corrupt, "cam-hem-12", START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "evidence.mp4" in err.value.details()
    assert "/tmp" not in err.value.details()
    assert _stored(node) == before  # the refusal itself is audited: that is all that was written
    assert client.search("still serving", top_k=1).hits  # the server stays up


@pytest.mark.parametrize("camera", ["../etc", "cam/../../x", "", "ca m", "x" * 65, "camé"])
def test_hostile_camera_ids_are_refused(client: VigilClient, video: Path, camera: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        client.ingest_file(video, camera, START)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "camera id" in err.value.details()


def test_bad_requests_get_clear_statuses(client: VigilClient) -> None:
    cases = [
        (lambda: client.search(""), grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        (lambda: client.search("x" * 5000), grpc.StatusCode.INVALID_ARGUMENT, "limit"),
        (lambda: client.search("bike", top_k=10_000), grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
        (lambda: client.search("bike", min_score=7.0), grpc.StatusCode.INVALID_ARGUMENT, "min_score"),
        (lambda: client.search_by_image(b"not an image"), grpc.StatusCode.INVALID_ARGUMENT, "image"),
        (lambda: client.get_job("0" * 32), grpc.StatusCode.NOT_FOUND, "no job"),
        (lambda: client.get_job("../../secrets"), grpc.StatusCode.INVALID_ARGUMENT, "job_id"),
    ]
    for call, code, words in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == code
        assert words in err.value.details()


def test_a_restarted_node_loads_every_vector_from_the_bucket(ingested: JobStatus, node: object) -> None:
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex

    fresh = FrameIndex(node.index.dim)  # type: ignore[attr-defined]
    IndexLog(node.store, node.model_id).replay(fresh)  # type: ignore[attr-defined]
    assert sorted(fresh.records(), key=lambda r: (r.camera_id, r.time_ms)) == sorted(
        node.index.records(), key=lambda r: (r.camera_id, r.time_ms))  # type: ignore[attr-defined]


def test_health_and_reflection_answer_without_a_token(server: object) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:  # type: ignore[attr-defined]
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="vigil.v1.SearchService"), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"vigil.v1.SearchService", "vigil.v1.IngestService", "grpc.health.v1.Health"} <= names


def test_watching_a_job_streams_its_progress_until_it_ends(client: VigilClient, video: Path) -> None:
    job_id = client.ingest_file(video, "cam-watch", START)
    updates = list(client.watch_job(job_id, timeout_s=300))
    assert updates[-1].state == "succeeded" and updates[-1].vectors == 10
    assert [u.keyframes for u in updates] == sorted(u.keyframes for u in updates)
    assert list(client.watch_job(job_id)) == [updates[-1]]  # a finished job: one message


def _scrape(node: object, token: str | None) -> tuple[int, str]:
    """GET /metrics with this bearer token (None: no Authorization header): status and body."""
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{node.metrics_port}/metrics"  # type: ignore[attr-defined]
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_the_metrics_port_answers_only_a_metrics_or_admin_token_over_every_camera(
        ingested: JobStatus, node: object) -> None:
    """The counts name every camera of every group: no token, another role's, or one ward's is 401
    (every scrape audited); Prometheus gets a token of its own role."""
    from services.security.auth import Role

    tokens = node.tokens  # type: ignore[attr-defined]
    refused = {"none": None, "junk": "not-a-token",
               "viewer *": tokens.create("spine-viewer", Role.VIEWER, ["*"]),
               "metrics of one ward": tokens.create("spine-prom-ward", Role.METRICS, ["ward-1"])}
    for who, token in refused.items():
        status, body = _scrape(node, token)
        assert status == 401 and "vigil_" not in body and "cam-hem-12" not in body, who
    status, body = _scrape(node, tokens.create("spine-prometheus", Role.METRICS, ["*"]))
    assert status == 200 and "vigil_vectors " in body
    assert node.audit.flush()  # type: ignore[attr-defined]
    store, trail = node.store, f"audit/{node.node_id}/"  # type: ignore[attr-defined]
    records = [json.loads(line) for o in store.list(trail) for line in store.get_bytes(o.key).splitlines()]
    scrapes = [r for r in records if r["action"].startswith("metrics_scrape")]
    assert [r["action"] for r in scrapes].count("metrics_scrape_refused") >= 4
    assert any(r["action"] == "metrics_scrape" and r["caller"] == "spine-prometheus" for r in scrapes)
    assert not [r for r in scrapes if "not-a-token" in json.dumps(r)]  # a token is never recorded


def test_prometheus_metrics_report_ingest_and_search(ingested: JobStatus, client: VigilClient,
                                                     node: object) -> None:
    from services.security.auth import Role

    client.search("xe đạp", min_score=-1)
    token = node.tokens.create("spine-metrics", Role.METRICS, ["*"])  # type: ignore[attr-defined]
    _, text = _scrape(node, token)
    assert 'vigil_segments_stored_total{camera="cam-hem-12"} 5.0' in text
    assert 'vigil_vectors_added_total{camera="cam-hem-12"} 10.0' in text
    assert 'vigil_search_latency_seconds_count{kind="text"}' in text
    assert "vigil_vectors " in text and "vigil_ingest_lag_seconds" in text
    free = next(line for line in text.splitlines() if line.startswith("vigil_data_dir_free_bytes "))
    assert float(free.split()[1]) > 0


def test_pages_walk_through_every_hit_once(ingested: JobStatus, client: VigilClient) -> None:
    everything = client.search("xe đạp", top_k=10, camera_ids=["cam-hem-12"], frames=True, min_score=-1)
    seen, token = [], ""
    for _ in range(10):
        page = client.search("xe đạp", top_k=3, camera_ids=["cam-hem-12"], frames=True, min_score=-1,
                             page_token=token)
        seen += [h.frame_time for h in page.hits]
        token = page.next_page_token
        if not token:
            break
    assert seen == [h.frame_time for h in everything.hits] and len(seen) == 10
    with pytest.raises(grpc.RpcError) as err:  # a token is bound to its query
        client.search("con chó", top_k=3, camera_ids=["cam-hem-12"], frames=True, min_score=-1,
                      page_token=client.search("xe đạp", top_k=3, camera_ids=["cam-hem-12"], frames=True,
                                               min_score=-1).next_page_token)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "different query" in err.value.details()
