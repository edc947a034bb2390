"""Segments streamed while ffmpeg cuts a file are the segments `storage.media.segment` cuts (same
files, offsets and durations, no probe per segment); a file ffmpeg cannot cut is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.segmenting import iter_segments
from storage.errors import MediaError
from storage.media import VideoInfo, probe, segment
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
