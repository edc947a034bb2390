"""Live camera recording over gRPC: an ffmpeg MPEG-TS source on loopback UDP is recorded by a
Ray actor into wall-clock segments; an outage shows as a gap; StopCamera leaves no ffmpeg behind.

One recording (with one outage) is made per module; the tests read what it left."""

from __future__ import annotations

import itertools
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.cameras import Camera
from storage.manifests import SegmentManifest
from storage.media_tools import ffmpeg_exe
from tests.processes import command_lines
from vigil.v1 import cameras_pb2, cameras_pb2_grpc, common_pb2, playback_pb2, playback_pb2_grpc

CAMERA = "cam-live-udp"
OUTAGE_S = 5.0
WAIT_S = 40.0


@dataclass(frozen=True)
class Recorded:
    port: int
    began: float  # wall clock when the source started
    outage_start: float  # … when it stopped for OUTAGE_S
    ended: float  # … when StopCamera returned
    stopped: cameras_pb2.CameraStatus


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _source(port: int) -> subprocess.Popen[bytes]:
    """A live camera: 10 fps H.264 (keyframe every second) in MPEG-TS over UDP, paced in real time."""
    return subprocess.Popen(
        ["nice", "-n", "10", ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
         "-re", "-readrate_initial_burst", "0", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10",
         "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])


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


def _ffmpeg_args() -> list[str]:
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True, timeout=10)
    return [line for line in ps.stdout.splitlines() if "ffmpeg" in line]


def _recorders(camera_id: str) -> list[str]:
    """Command lines of running ffmpeg processes recording the camera (into its spill folder; the
    stream URL itself is never on the command line)."""
    return [a for a in _ffmpeg_args() if f"/{camera_id}/run" in a and "-segment_list" in a]




def _status(cameras: cameras_pb2_grpc.CameraServiceStub, camera_id: str) -> cameras_pb2.CameraStatus:
    return cameras.GetCameraStatus(cameras_pb2.GetCameraStatusRequest(camera_id=camera_id))


def _register(cameras: cameras_pb2_grpc.CameraServiceStub, url: str, camera_id: str = CAMERA) -> None:
    cameras.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
        camera_id=camera_id, group="live-test", stream_url=url, retention_days=1)))


@pytest.fixture(scope="module")
def channel(server: object, admin_token: str) -> Iterator[grpc.Channel]:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        yield c.channel


@pytest.fixture(scope="module")
def cameras(channel: grpc.Channel) -> cameras_pb2_grpc.CameraServiceStub:
    return cameras_pb2_grpc.CameraServiceStub(channel)


@pytest.fixture(scope="module")
def recorded(cameras: cameras_pb2_grpc.CameraServiceStub) -> Recorded:
    """Record ≥ 2 segments, stop the source for OUTAGE_S, record ≥ 2 more, StopCamera."""
    port = _free_udp_port()
    _register(cameras, f"udp://127.0.0.1:{port}")
    _register(cameras, f"udp://127.0.0.1:{port}")  # the same URL again: still one recorder
    began, source = time.time(), _source(port)
    try:
        _wait_for(lambda: _status(cameras, CAMERA).segments_stored >= 2, "two segments before the outage")
        assert len(_recorders(CAMERA)) == 1
    finally:
        outage_start = _end(source)
    time.sleep(OUTAGE_S)  # the outage itself
    before, source = _status(cameras, CAMERA).segments_stored, _source(port)
    try:
        _wait_for(lambda: _status(cameras, CAMERA).segments_stored >= before + 2,
                  "two segments after the outage")
    finally:
        _end(source)
    stopped = cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=CAMERA))
    return Recorded(port, began, outage_start, time.time(), stopped)


@pytest.fixture(scope="module")
def segments(node: object, recorded: Recorded) -> list[SegmentManifest]:
    return list(node.recordings.segments(  # type: ignore[attr-defined]
        CAMERA, int(recorded.began * 1000) - 60_000, int(recorded.ended * 1000) + 60_000))


def test_segments_carry_increasing_non_overlapping_wall_clock_times(
        recorded: Recorded, segments: list[SegmentManifest]) -> None:
    assert len(segments) == recorded.stopped.segments_stored >= 4
    assert recorded.began - 1 < segments[0].start_ms / 1000
    assert segments[-1].end_ms / 1000 < recorded.ended
    assert recorded.stopped.last_segment_end.ToMilliseconds() == segments[-1].end_ms
    for a, b in itertools.pairwise(segments):
        assert a.start_ms < a.end_ms <= b.start_ms


def test_the_outage_is_a_gap_in_the_playlist(channel: grpc.Channel, recorded: Recorded,
                                             segments: list[SegmentManifest]) -> None:
    playlist = playback_pb2_grpc.PlaybackServiceStub(channel).GetPlaylist(
        playback_pb2.GetPlaylistRequest(camera_id=CAMERA, time_range=common_pb2.TimeRange(
            start=ts_from_ms(segments[0].start_ms), end=ts_from_ms(segments[-1].end_ms))))
    assert playlist.segments == len(segments)
    [gap] = playlist.gaps
    gap_s = (gap.end.ToMilliseconds() - gap.start.ToMilliseconds()) / 1000
    assert OUTAGE_S - 1 <= gap_s <= OUTAGE_S + 6, gap_s
    assert abs(gap.start.ToMilliseconds() / 1000 - recorded.outage_start) < 3
    assert recorded.stopped.reconnects >= 1


def test_live_keyframes_become_searchable(node: object, server: object, admin_token: str,
                                         recorded: Recorded, segments: list[SegmentManifest]) -> None:
    with VigilClient(server.address, admin_token) as client:  # type: ignore[attr-defined]
        hits = client.search("a colourful test pattern", top_k=100, camera_ids=[CAMERA], frames=True,
                             min_score=-1).hits
    indexed = [r for r in node.index.records() if r.camera_id == CAMERA]  # type: ignore[attr-defined]
    assert len(indexed) == recorded.stopped.keyframes_indexed >= len(segments)
    assert hits and {h.segment_key for h in hits} <= {s.segment_key for s in segments}


def test_stop_camera_ends_recording_and_its_ffmpeg(cameras: cameras_pb2_grpc.CameraServiceStub,
                                                   recorded: Recorded) -> None:
    assert not recorded.stopped.recording and recorded.stopped.queue_depth == 0
    assert _recorders(CAMERA) == []
    assert not _status(cameras, CAMERA).recording
    assert cameras.GetCamera(cameras_pb2.GetCameraRequest(camera_id=CAMERA)).stream_url == ""


def test_registered_camera_resumes_and_retries_a_dead_stream_without_leaking_credentials(
        node: object, cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    with socket.socket() as s:  # a loopback TCP port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = int(s.getsockname()[1])
    camera = "cam-live-dead"
    node.cameras.put(Camera(camera, group="live-test",  # type: ignore[attr-defined]
                            stream_url=f"rtsp://admin:Pa55w0rd@127.0.0.1:{dead}/ch1"))
    assert node.live.resume(node.cameras.list()) >= 1  # type: ignore[attr-defined]  # as at start
    _wait_for(lambda: _status(cameras, camera).reconnects >= 2, "reconnect attempts")
    status = _status(cameras, camera)
    assert status.recording and status.segments_stored == 0 and status.last_error
    assert "Pa55w0rd" not in status.last_error
    stopped = cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=camera))
    assert not stopped.recording and "Pa55w0rd" not in stopped.last_error
    assert _recorders(camera) == []


def test_a_udp_port_another_socket_holds_is_named_in_the_camera_s_status(
        cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    """The recorder cannot listen; its status says why (not ffmpeg's last, vaguer line) and when."""
    camera, began = "cam-live-port-taken", time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        _register(cameras, f"udp://127.0.0.1:{holder.getsockname()[1]}", camera)
        _wait_for(lambda: bool(_status(cameras, camera).last_error), "a failed start")
        status = _status(cameras, camera)
    cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=camera))
    assert status.segments_stored == 0
    assert status.last_error == "udp: bind failed: Address already in use"
    assert began - 1 < status.last_error_at.ToMilliseconds() / 1000 < time.time()


def test_stream_passwords_are_on_no_command_line(cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    """A camera's RTSP server that reads the request and, while ffmpeg waits for the answer,
    reads every process's command line."""
    camera, seen = "cam-live-secret", threading.Event()
    lines: list[str] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                lines.extend(command_lines())
                seen.set()

        threading.Thread(target=answer, daemon=True).start()
        _register(cameras, f"rtsp://admin:Pa55w0rd@127.0.0.1:{listener.getsockname()[1]}/ch1", camera)
        assert seen.wait(WAIT_S), "the recorder never connected"
    stopped = cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=camera))
    assert [a for a in lines if f"/{camera}/run" in a]  # the recorder's ffmpeg was running
    assert not [a for a in lines if "Pa55w0rd" in a]
    assert "Pa55w0rd" not in stopped.last_error


@pytest.mark.parametrize("url, words", [
    ("file:///etc/passwd", "camera stream scheme 'file' not allowed"),
    ("rtsp://admin:Pa55w0rd@127.0.0.2/ch1", "camera stream host 127.0.0.2 is loopback; allowed: public "
                                            "addresses, private networks, fetch.camera_allow [127.0.0.1/32]"),
    ("http://169.254.169.254/latest/meta-data/", "is link-local"),
    ("udp://127.0.0.2:5000", "is loopback"),
])
def test_refused_stream_urls_are_not_registered(cameras: cameras_pb2_grpc.CameraServiceStub,
                                                url: str, words: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        _register(cameras, url, "cam-live-refused")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in err.value.details() and "Pa55w0rd" not in err.value.details()
    with pytest.raises(grpc.RpcError) as missing:
        cameras.GetCamera(cameras_pb2.GetCameraRequest(camera_id="cam-live-refused"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_stored_url_is_checked_again_when_recording_starts(
        node: object, cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    """A URL stored before the policy refused it (or whose host now resolves elsewhere) records nothing."""
    camera = "cam-live-moved"
    node.cameras.put(Camera(camera, group="live-test",  # type: ignore[attr-defined]
                            stream_url="rtsp://admin:Pa55w0rd@127.0.0.2:8554/ch1"))
    assert node.live.resume([node.cameras.get(camera)]) == 1  # type: ignore[attr-defined]
    _wait_for(lambda: "is loopback" in _status(cameras, camera).last_error, "the refusal")
    assert _recorders(camera) == [] and "Pa55w0rd" not in _status(cameras, camera).last_error
    cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=camera))


def test_status_of_unknown_camera_is_not_found(cameras: cameras_pb2_grpc.CameraServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        cameras.GetCameraStatus(cameras_pb2.GetCameraStatusRequest(camera_id="cam-live-nobody"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
