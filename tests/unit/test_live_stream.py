"""The pure parts of live recording: wall-clock anchoring, stall timeouts, masking, backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cluster.live_recorders import BACKOFF_MAX_S, BACKOFF_MIN_S, next_backoff
from services.live.stream import WallAnchor, listens, masked, recorder_command, stream_input, telling_error
from storage.ffmpeg_input import GuardedInput
from storage.url_policy import CheckedUrl, Purpose, UrlPolicy, check_url


def test_anchor_is_the_tightest_causal_bound_then_frozen() -> None:
    anchor = WallAnchor()
    anchor.observe(stream_s=1.0, wall_s=101.6)  # delivered late: bound 100.6
    anchor.observe(stream_s=3.0, wall_s=103.2)  # tighter: 100.2
    anchor.observe(stream_s=4.0, wall_s=105.0)  # looser, ignored
    assert anchor.wall_ms(4.0) == 104_200
    anchor.observe(stream_s=8.0, wall_s=100.0)  # after the first placement nothing moves
    assert anchor.wall_ms(8.0) == 108_200


def test_anchor_without_observations_refuses() -> None:
    with pytest.raises(RuntimeError):
        WallAnchor().wall_ms(0.0)


def _checked(url: str) -> CheckedUrl:
    return check_url(url, Purpose.CAMERA, UrlPolicy(), resolve=lambda host, port: ["10.0.0.7"],
                     is_local=lambda ip: False)


def test_every_protocol_gets_a_stall_timeout() -> None:
    udp, options = stream_input(_checked("udp://cam.lan:5000"))
    assert udp.url == "udp://10.0.0.7:5000?timeout=2000000" and options == {}
    assert stream_input(_checked("udp://cam.lan:5000?fifo_size=1000"))[0].url.endswith("&timeout=2000000")
    assert stream_input(_checked("rtsp://cam/1"))[1] == {"rtsp_transport": "tcp", "timeout": "2000000"}
    assert stream_input(_checked("https://cdn/live.m3u8"))[1] == {"rw_timeout": "2000000"}


def test_recorder_cuts_keyframe_aligned_fragmented_mp4_by_stream_copy(tmp_path: Path) -> None:
    checked, options = stream_input(_checked("rtsp://admin:Pa55w0rd@cam.lan/ch1"))
    with GuardedInput(checked, UrlPolicy(), options) as guarded:
        cmd = recorder_command(guarded.input.args, tmp_path, "run000001", 4.0)
    assert not [arg for arg in cmd if "Pa55w0rd" in arg or "cam.lan" in arg or "10.0.0.7" in arg]
    assert b"'rtsp://admin:Pa55w0rd@10.0.0.7/ch1'" in guarded.input.script  # on stdin instead
    assert cmd[cmd.index("-c") + 1] == "copy" and cmd[cmd.index("-segment_time") + 1] == "4.000"
    assert "movflags=+frag_keyframe+empty_moov+default_base_moof" in cmd
    assert cmd[-1] == str(tmp_path / "run000001_%06d.mp4")


def test_errors_never_carry_stream_credentials() -> None:
    line = "Error opening input file rtsp://admin:Pa55w0rd@10.0.0.7/ch1?token=abc: Connection refused"
    assert masked(line) == ("Error opening input file rtsp://admin:***@10.0.0.7/ch1?token=***: "
                            "Connection refused")


def test_a_recording_s_error_is_the_log_line_that_names_the_cause() -> None:
    taken = ["[udp @ 0x55ff8b7b99c0] bind failed: Address already in use",  # ffmpeg 7's log
             "[in#0 @ 0x55ff8b7b8d00] Error opening input: Inappropriate ioctl for device",
             "Error opening input file udp://127.0.0.1:51680?timeout=2000000.",
             "Error opening input files: Inappropriate ioctl for device"]
    assert telling_error(taken) == "udp: bind failed: Address already in use"
    refused = ["[tcp @ 0x5556f0f139c0] Connection to tcp://admin:Pa55w0rd@10.0.0.7:554 failed: "
               "Connection refused", "Error opening input files: Connection refused"]
    assert masked(telling_error(refused)) == ("tcp: Connection to tcp://admin:***@10.0.0.7:554 failed: "
                                              "Connection refused")
    silent = ["[in#0 @ 0x555f0221bd00] Error opening input: Input/output error",
              "Error opening input files: Input/output error"]
    assert telling_error(silent) == "Error opening input files: Input/output error"
    assert telling_error([]) == ""
    ffmpeg5 = ["[udp @ 0x5581c4e1a040] bind failed: Address already in use",  # names the input by URL
               "udp://127.0.0.1:51680?timeout=2000000: Input/output error"]
    assert telling_error(ffmpeg5) == "udp: bind failed: Address already in use"
    mid_stream = ["[mpegts @ 0x55d1] Packet corrupt (stream = 0, dts = 1800)",  # an old, non-fatal line
                  "Error during demuxing: Connection timed out"]
    assert telling_error(mid_stream) == "Error during demuxing: Connection timed out"


def test_backoff_doubles_to_a_bound_and_restarts_after_footage() -> None:
    delays, delay = [], BACKOFF_MIN_S / 2
    for _ in range(8):
        delay = next_backoff(delay, received=False)
        delays.append(delay)
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(delays) == BACKOFF_MAX_S
    assert next_backoff(BACKOFF_MAX_S, received=True) == BACKOFF_MIN_S


def test_a_udp_listener_waiting_for_its_camera_starts_again_at_once() -> None:
    assert listens("udp://0.0.0.0:5000") and listens("RTP://239.0.0.1:5004") and not listens("rtsp://cam/1")
    assert next_backoff(BACKOFF_MAX_S, received=False, listening=True) == BACKOFF_MIN_S
