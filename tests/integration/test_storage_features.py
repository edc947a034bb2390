"""Cameras, HLS playback, evidence export, retention with legal holds — over gRPC, on real
SeaweedFS and ffmpeg. Each test uses its own camera ids, so they share the session server."""

from __future__ import annotations

import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import grpc
import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.manifests import sha256_file
from storage.media_tools import ffmpeg_exe
from storage.timeutil import from_ms, to_ms
from tests.media import SCENE_S, SCENES
from vigil.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    cameras_pb2,
    cameras_pb2_grpc,
    common_pb2,
    playback_pb2,
    playback_pb2_grpc,
)

START = datetime(2026, 11, 19, 10, 0, 0, tzinfo=UTC)
DURATION_S = SCENE_S * len(SCENES)


def _range(start: datetime, end: datetime) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(to_ms(start)), end=ts_from_ms(to_ms(end)))


@pytest.fixture(scope="module")
def channel(server: object, admin_token: str) -> grpc.Channel:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        yield c.channel


@pytest.fixture(scope="module")
def token(admin_token: str) -> str:
    return admin_token


def _ingest(server: object, video: Path, camera: str, start: datetime, token: str) -> None:
    with VigilClient(server.address, token) as c:  # type: ignore[attr-defined]
        assert c.wait_for_job(c.ingest_file(video, camera, start), timeout_s=300).state == "succeeded"


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size)


def test_camera_registry_masks_stream_credentials(channel: grpc.Channel) -> None:
    stub = cameras_pb2_grpc.CameraServiceStub(channel)
    # a closed loopback port: registering a stream starts a (failing) recording; nothing leaves the host
    url = "rtsp://admin:Pa55w0rd!@127.0.0.1:9/Streaming/Channels/101?token=abc123"
    registered = stub.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
        camera_id="cam-reg-1", name="Hẻm 12 Lê Lợi", group="phuong-ben-thanh", stream_url=url,
        retention_days=30)))
    fetched = stub.GetCamera(cameras_pb2.GetCameraRequest(camera_id="cam-reg-1"))
    for cam in (registered, fetched):
        assert "Pa55w0rd" not in cam.stream_url and "abc123" not in cam.stream_url
        assert cam.stream_url.startswith("rtsp://admin:***@127.0.0.1:9/")
    listed = stub.ListCameras(cameras_pb2.ListCamerasRequest(group="phuong-ben-thanh")).cameras
    assert [c.name for c in listed] == ["Hẻm 12 Lê Lợi"]
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCamera(cameras_pb2.GetCameraRequest(camera_id="cam-nobody"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    stopped = stub.StopCamera(cameras_pb2.StopCameraRequest(camera_id="cam-reg-1"))
    assert not stopped.recording and "Pa55w0rd" not in str(stopped)


def test_playlist_plays_in_ffmpeg_and_shows_gaps(server: object, channel: grpc.Channel,
                                                 video: Path, tmp_path: Path, token: str) -> None:
    _ingest(server, video, "cam-play", START, token)
    later = START + timedelta(seconds=DURATION_S + 60)  # a one-minute hole in the recording
    _ingest(server, video, "cam-play", later, token)
    stub = playback_pb2_grpc.PlaybackServiceStub(channel)
    resp = stub.GetPlaylist(playback_pb2.GetPlaylistRequest(
        camera_id="cam-play", time_range=_range(START, later + timedelta(seconds=DURATION_S))))
    assert resp.segments == 2 * len(SCENES)
    assert [(g.start.ToMilliseconds(), g.end.ToMilliseconds()) for g in resp.gaps] == [
        (to_ms(START) + DURATION_S * 1000, to_ms(later))]
    assert resp.m3u8.count("#EXT-X-MAP") == 2 * len(SCENES) and "#EXT-X-ENDLIST" in resp.m3u8
    assert f"#EXT-X-PROGRAM-DATE-TIME:{later.isoformat(timespec='milliseconds')}" in resp.m3u8
    playlist = tmp_path / "play.m3u8"
    playlist.write_text(resp.m3u8)
    out = tmp_path / "played.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-protocol_whitelist", "file,http,tcp",
                    "-i", str(playlist), "-c", "copy", str(out)], check=True, timeout=120)
    assert _frames(out) == 2 * DURATION_S * 10  # every frame of both recordings, 10 fps


def test_export_is_a_verified_stream_copy_of_the_range(server: object, channel: grpc.Channel,
                                                      video: Path, tmp_path: Path, token: str) -> None:
    for cam in ("cam-ex-a", "cam-ex-b"):
        _ingest(server, video, cam, START, token)
    stub = playback_pb2_grpc.PlaybackServiceStub(channel)
    resp = stub.ExportClip(playback_pb2.ExportClipRequest(
        camera_ids=["cam-ex-a", "cam-ex-b"],
        time_range=_range(START + timedelta(seconds=5), START + timedelta(seconds=15))))
    assert [c.camera_id for c in resp.clips] == ["cam-ex-a", "cam-ex-b"]
    for clip in resp.clips:
        local = tmp_path / f"{clip.camera_id}.mp4"
        with urllib.request.urlopen(clip.url, timeout=30) as r:  # noqa: S310 - loopback presigned URL
            local.write_bytes(r.read())
        assert sha256_file(local) == clip.sha256
        # stream copy: starts at the keyframe at or before 5 s (keyframes every 2 s) → [4 s, 15 s)
        assert from_ms(clip.delivered.start.ToMilliseconds()) == START + timedelta(seconds=4)
        assert _frames(local) == 110
        assert clip.source_segments == 3  # scenes [4,8), [8,12), [12,16)


def test_export_of_an_empty_range_is_not_found(channel: grpc.Channel) -> None:
    stub = playback_pb2_grpc.PlaybackServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.ExportClip(playback_pb2.ExportClipRequest(
            camera_ids=["cam-never"], time_range=_range(START, START + timedelta(minutes=1))))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_retention_deletes_expired_footage_except_under_hold(
        server: object, node: object, channel: grpc.Channel, video: Path, token: str) -> None:
    camera = "cam-retain"
    cameras_pb2_grpc.CameraServiceStub(channel).RegisterCamera(cameras_pb2.RegisterCameraRequest(
        camera=cameras_pb2.Camera(camera_id=camera, retention_days=1)))
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    _ingest(server, video, camera, old, token)
    admin = admin_pb2_grpc.AdminServiceStub(channel)
    hold = admin.PlaceHold(admin_pb2.PlaceHoldRequest(
        camera_id=camera, reason="case 2026-1142: stolen bicycle",
        time_range=_range(old + timedelta(seconds=9), old + timedelta(seconds=10))))
    first = admin.RunRetention(admin_pb2.RunRetentionRequest())
    assert (first.segments_deleted, first.segments_held) == (len(SCENES) - 1, 1)
    assert first.vectors_deleted == (len(SCENES) - 1) * SCENE_S // 2
    with VigilClient(server.address, token) as c:  # type: ignore[attr-defined]
        left = c.search("anything", top_k=50, camera_ids=[camera], frames=True, min_score=-1).hits
        assert {h.segment_start for h in left} == {old + timedelta(seconds=8)}
    admin.ReleaseHold(admin_pb2.ReleaseHoldRequest(hold_id=hold.hold_id))
    second = admin.RunRetention(admin_pb2.RunRetentionRequest())
    assert (second.segments_deleted, second.segments_held) == (1, 0)
    store = node.store  # type: ignore[attr-defined]
    assert not list(store.list(f"segments/{camera}/"))
    assert not list(store.list(f"thumbnails/{camera}/"))
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex

    restarted = FrameIndex(node.index.dim)  # type: ignore[attr-defined]
    IndexLog(store, node.model_id).replay(restarted)  # type: ignore[attr-defined]
    assert not [r for r in restarted.records() if r.camera_id == camera]


def test_a_segment_whose_upload_was_killed_is_invisible_until_reingested(
        server: object, node: object, channel: grpc.Channel, video: Path, tmp_path: Path, token: str) -> None:
    """A crash between the segment PUT and its manifest leaves an object no reader trusts."""
    from storage import keys

    camera, start_ms = "cam-crash", to_ms(START)
    orphan = keys.segment_key(camera, start_ms, start_ms + SCENE_S * 1000)
    node.store.put_bytes(orphan, video.read_bytes()[:50_000], "video/mp4")  # type: ignore[attr-defined]
    stub = playback_pb2_grpc.PlaybackServiceStub(channel)
    request = playback_pb2.GetPlaylistRequest(
        camera_id=camera, time_range=_range(START, START + timedelta(seconds=DURATION_S)))
    with pytest.raises(grpc.RpcError) as err:
        stub.GetPlaylist(request)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    _ingest(server, video, camera, START, token)  # the retry replaces the torn object
    assert stub.GetPlaylist(request).segments == len(SCENES)
    local = tmp_path / "seg.mp4"
    node.store.get_file(orphan, local)  # type: ignore[attr-defined]
    assert local.stat().st_size > 50_000
