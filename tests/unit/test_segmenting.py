"""Segments streamed while ffmpeg cuts a file are the segments `storage.media.segment` cuts (same
files, offsets and durations, no probe per segment); a file ffmpeg cannot cut is named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.ingest.segmenting import iter_segments
from storage.errors import MediaError
from storage.media import VideoInfo, probe, segment
from storage.media_tools import ffmpeg_exe
from tests.media import make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "scenes.mp4")  # 20 s, GOP 2 s, B-frames


def test_streamed_segments_are_the_segments_of_a_whole_cut(video: Path, tmp_path: Path) -> None:
    whole = segment(video, tmp_path / "whole", 4.0, 60)
    streamed = list(iter_segments(video, probe(video), tmp_path / "streamed", 4.0, 60))
    assert [(s.path.name, s.offset_s) for s in streamed] == [(s.path.name, s.offset_s) for s in whole]
    assert [s.duration_s for s in streamed] == pytest.approx([s.duration_s for s in whole], abs=1e-6)
    assert [s.path.read_bytes() for s in streamed] == [s.path.read_bytes() for s in whole]


def test_a_file_ffmpeg_cannot_cut_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-video.mp4"
    bogus.write_bytes(b"\x00" * 1024)
    info = VideoInfo(codec="h264", width=640, height=360, duration_s=4.0, start_s=0.0,
                     keyframes_s=(0.0, 2.0), frames=40)
    with pytest.raises(MediaError, match=r"not-a-video\.mp4: ffmpeg failed"):
        list(iter_segments(bogus, info, tmp_path / "out", 4.0, 60))


def _cut(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args, str(out)], check=True, timeout=120)
    return out


def _spans(video: Path, out: Path) -> list[tuple[float, float]]:
    return [(round(s.offset_s, 3), round(s.offset_s + s.duration_s, 3))
            for s in iter_segments(video, probe(video), out, 10.0, 60)]


def test_a_file_beginning_with_non_keyframes_gets_each_segment_s_own_span(tmp_path: Path) -> None:
    """Cut 1 s into a GOP: the first keyframe is 3 s in (frames before it are kept but undecodable).
    Each segment's span is where its footage lies in the file, so playback and export find it."""
    whole = _cut(tmp_path, "gop4.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=20", "-c:v", "libx264",
                 "-pix_fmt", "yuv420p", "-g", "100", "-keyint_min", "100", "-sc_threshold", "0")
    late = _cut(tmp_path, "late.mp4", "-i", str(whole), "-ss", "1", "-c", "copy", "-copyinkf")
    info = probe(late)
    assert info.keyframes_s[0] == pytest.approx(3.0, abs=0.05)
    spans = _spans(late, tmp_path / "late")
    assert spans == [(pytest.approx(3.0, abs=0.05), pytest.approx(15.0, abs=0.05)),
                     (pytest.approx(15.0, abs=0.05), pytest.approx(info.duration_s, abs=1e-3))]
    cuts = iter_segments(late, info, tmp_path / "again", 10.0, 60)
    for cut, (start, end) in zip(cuts, spans, strict=True):
        assert probe(cut.path).duration_s == pytest.approx(end - start, abs=0.05)  # the footage it holds


def test_a_last_segment_of_one_frame_keeps_its_frame_s_length(tmp_path: Path) -> None:
    """Interlaced MPEG-2 in MPEG-TS whose last keyframe is its last frame: ffmpeg lists the boundary
    one field late, nearer the file's end than the keyframe; the segment still starts at it."""
    ts = _cut(tmp_path, "interlaced.ts", "-f", "lavfi", "-i", "testsrc2=s=176x144:r=25:d=10", "-vf",
              "tinterlace=mode=interleave_top,fieldorder=tff", "-c:v", "mpeg2video", "-flags", "+ilme+ildct",
              "-b:v", "1M", "-f", "mpegts")
    info = probe(ts)
    spans = _spans(ts, tmp_path / "ts")
    assert len(spans) == 2 and all(end > start for start, end in spans)
    assert all(min(abs(start - k) for k in info.keyframes_s) < 1e-3 for start, _ in spans)
    assert spans[0][1] == spans[1][0] and spans[-1][1] == pytest.approx(info.duration_s, abs=1e-3)
