"""Live camera recording over gRPC: an ffmpeg MPEG-TS source on loopback UDP is recorded by a
Ray actor into wall-clock segments; an outage shows as a gap; StopCamera leaves no ffmpeg behind."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

import grpc
import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.media_tools import ffmpeg_exe
from vigil.v1 import cameras_pb2, cameras_pb2_grpc, common_pb2, playback_pb2, playback_pb2_grpc

CAMERA = "cam-live-udp"
OUTAGE_S = 5.0
WAIT_S = 40.0


@pytest.fixture()
def cameras(client: VigilClient) -> cameras_pb2_grpc.CameraServiceStub:
    return cameras_pb2_grpc.CameraServiceStub(client.channel)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _source(port: int) -> subprocess.Popen[bytes]:
    """A live camera: 10 fps H.264 (keyframe every second) in MPEG-TS over UDP, paced in real time."""
    return subprocess.Popen(
        ["nice", "-n", "10", ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
         "-re", "-readrate_initial_burst", "0", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-c:v", "libx264", "-preset", "ultrafast",
         "-tune", "zerolatency", "-g", "10", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])


def _end(source: subprocess.Popen[bytes]) -> float:
    """Stop the source; the wall time its last packet left."""
    source.terminate()
    source.wait(timeout=10)
    return time.time()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_S:.0f} s waiting for {what}")
        time.sleep(0.5)


def _recorders(port: int) -> list[str]:
    """Command lines of running ffmpeg processes recording from the port."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True, timeout=10)
    return [line for line in ps.stdout.splitlines()
            if f"127.0.0.1:{port}?timeout" in line and "-segment_list" in line]


def _register(cameras: cameras_pb2_grpc.CameraServiceStub, url: str) -> None:
    cameras.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
        camera_id=CAMERA, group="live-test", stream_url=url, retention_days=1)))


def test_live_camera_records_wall_clock_segments_with_gaps_and_stops(
        node: object, client: VigilClient, cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    port = _free_udp_port()
    status = lambda: cameras.GetCameraStatus(cameras_pb2.GetCameraStatusRequest(camera_id=CAMERA))  # noqa: E731
    _register(cameras, f"udp://127.0.0.1:{port}")
    _register(cameras, f"udp://127.0.0.1:{port}")  # the same URL again: still one recorder
    began = time.time()
    source = _source(port)
    try:
        _wait_for(lambda: status().segments_stored >= 2, "two segments before the outage")
        assert len(_recorders(port)) == 1
    finally:
        outage_start = _end(source)
    time.sleep(OUTAGE_S)  # the outage
    before = status().segments_stored
    source = _source(port)
    try:
        _wait_for(lambda: status().segments_stored >= before + 2, "two segments after the outage")
    finally:
        _end(source)
    stopped = cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=CAMERA))
    ended = time.time()

    assert not stopped.recording and stopped.reconnects >= 1 and stopped.queue_depth == 0
    assert _recorders(port) == []  # no ffmpeg outlives the recording
    assert cameras.GetCamera(cameras_pb2.GetCameraRequest(camera_id=CAMERA)).stream_url == ""

    segments = list(node.recordings.segments(CAMERA, int(began * 1000) - 60_000,  # type: ignore[attr-defined]
                                             int(ended * 1000) + 60_000))
    assert len(segments) == stopped.segments_stored >= 4
    assert stopped.last_segment_end.ToMilliseconds() == segments[-1].end_ms
    assert began - 1 < segments[0].start_ms / 1000 and segments[-1].end_ms / 1000 < ended
    for a, b in zip(segments, segments[1:]):
        assert a.start_ms < a.end_ms <= b.start_ms  # increasing, never overlapping

    playlist = playback_pb2_grpc.PlaybackServiceStub(client.channel).GetPlaylist(
        playback_pb2.GetPlaylistRequest(camera_id=CAMERA, time_range=common_pb2.TimeRange(
            start=ts_from_ms(segments[0].start_ms), end=ts_from_ms(segments[-1].end_ms))))
    assert playlist.segments == len(segments)
    [gap] = playlist.gaps
    gap_s = (gap.end.ToMilliseconds() - gap.start.ToMilliseconds()) / 1000
    assert OUTAGE_S - 1 <= gap_s <= OUTAGE_S + 6, gap_s
    assert abs(gap.start.ToMilliseconds() / 1000 - outage_start) < 3

    hits = client.search("a colourful test pattern", top_k=100, camera_ids=[CAMERA], frames=True,
                         min_score=-1).hits
    indexed = [r for r in node.index.records() if r.camera_id == CAMERA]  # type: ignore[attr-defined]
    assert len(indexed) == stopped.keyframes_indexed >= len(segments)
    assert hits and {h.segment_key for h in hits} <= {s.segment_key for s in segments}


def test_status_of_unknown_camera_is_not_found(cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        cameras.GetCameraStatus(cameras_pb2.GetCameraStatusRequest(camera_id="cam-live-nobody"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
