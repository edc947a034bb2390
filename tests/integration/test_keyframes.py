"""Keyframes decoded from real footage (ffmpeg, PyAV): one per GOP, at the sizes the embedder and
the thumbnail need, never upscaled; every keyframe of an open-GOP stream, in order; upright when
the stream says to rotate it; an all-intra stream thinned to one keyframe per interval."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexing.keyframes import EMBED_SHORT_SIDE, FramePlan, iter_keyframes
from storage.media import probe
from storage.media_tools import ffmpeg_exe
from tests.media import frame_png


def _footage(path: Path, size: str) -> Path:
    from benchmarks import _harness

    return _harness.city_camera_footage(path, size, 6, fps=10)


@pytest.mark.integration
@pytest.mark.parametrize(("size", "embed", "thumbnail"), [
    ("1280x720", (398, 224), (320, 180)),  # 16:9 HD: shrunk once, straight to the embedder's size
    ("640x480", (299, 224), (320, 240)),  # 4:3 SD: the thumbnail's width needs more than the embedder
    ("256x144", (256, 144), (256, 144)),  # smaller than both: kept as it is
])
def test_keyframes_come_at_the_embedder_and_thumbnail_sizes(tmp_path: Path, size: str,
                                                           embed: tuple[int, int],
                                                           thumbnail: tuple[int, int]) -> None:
    keyframes = list(iter_keyframes(_footage(tmp_path / "in.mp4", size), 0.0, 320))
    assert [k.offset_ms for k in keyframes] == [0, 2000, 4000]  # the 2 s GOP
    for k in keyframes:
        assert (k.rgb.shape[1], k.rgb.shape[0]) == embed and k.rgb.shape[2] == 3
        assert min(embed) <= EMBED_SHORT_SIDE
        with Image.open(io.BytesIO(k.jpeg)) as thumb:
            assert thumb.size == thumbnail and thumb.format == "JPEG"


def _encode(path: Path, source: str, seconds: int, *codec: str) -> Path:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", source,
                    "-t", str(seconds), *codec, str(path)], check=True, timeout=300)
    return path


@pytest.mark.integration
def test_every_keyframe_of_an_open_gop_stream_with_b_frames_comes_out_in_order(tmp_path: Path) -> None:
    """x264's open GOPs (I-frames that are not IDR) with B-frames: FFmpeg's decoder, fed the
    keyframes in a row, gave 3 of these 30, last first."""
    video = _encode(tmp_path / "open-gop.mp4", "testsrc2=size=320x240:rate=25", 60, "-c:v", "libx264",
                    "-preset", "ultrafast", "-bf", "3", "-x264-params", "open-gop=1:keyint=50")
    info = probe(video)
    assert len(info.keyframes_s) == 30
    offsets = [k.offset_ms for k in iter_keyframes(video, info.start_s, 320)]
    assert offsets == [round(t * 1000) for t in info.keyframes_s] == list(range(0, 60_000, 2000))


@pytest.mark.integration
@pytest.mark.parametrize("rotation, mirror", [(90, ""), (180, ""), (-90, ""), (0, "-display_hflip"),
                                              (0, "-display_vflip"), (90, "-display_hflip"),
                                              (180, "-display_vflip")])
def test_a_rotated_stream_gives_keyframes_upright_as_a_player_shows_them(tmp_path: Path, rotation: int,
                                                                         mirror: str) -> None:
    """A camera mounted on its side (or a phone's portrait video, or a mirrored one) says so in its
    display matrix; the keyframe (thumbnail, embedding, region boxes) is what ffmpeg's own
    player-side rotation and flip show."""
    coded = _encode(tmp_path / "coded.mp4", "testsrc2=size=320x180:rate=10", 2, "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "20", "-pix_fmt", "yuv444p")
    rotated = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-display_rotation", str(rotation),
                    *([mirror] if mirror else []), "-i", str(coded), "-c", "copy", str(rotated)],
                   check=True, timeout=60)
    png = frame_png(rotated, 0.0, tmp_path / "shown.png")
    upright = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    first = next(iter_keyframes(rotated, probe(rotated).start_s, 320))
    with Image.open(io.BytesIO(first.jpeg)) as thumb:
        shown = np.asarray(thumb.convert("RGB").resize((upright.shape[1], upright.shape[0])), np.float32)
    assert (first.rgb.shape[0] > first.rgb.shape[1]) == (upright.shape[0] > upright.shape[1])
    assert np.abs(shown - upright).mean() < 12  # same picture (JPEG apart), not a turned one
    as_coded = np.asarray(Image.open(io.BytesIO(frame_png(coded, 0.0, tmp_path / "coded.png"))).convert("RGB")
                          .resize((upright.shape[1], upright.shape[0])), np.float32)
    assert np.abs(shown - as_coded).mean() > 20  # the display matrix was applied, not ignored


@pytest.mark.integration
def test_an_all_intra_stream_is_thinned_to_one_frame_per_interval(tmp_path: Path) -> None:
    """MJPEG: every frame a keyframe. The plan keeps one a second; the rest are never decoded."""
    video = _encode(tmp_path / "mjpeg.avi", "testsrc2=size=320x180:rate=25", 6, "-c:v", "mjpeg", "-q:v", "5")
    info = probe(video)
    assert len(info.keyframes_s) == 150
    plan = FramePlan.of(info.keyframes_s, info.duration_s, 1.0, 4.0)
    assert plan.between_s == ()
    offsets = [k.offset_ms for k in iter_keyframes(video, info.start_s, 320, plan=plan)]
    assert offsets == [round(t * 1000) for t in plan.keyframes_s] == list(range(0, 6000, 1000))


@pytest.mark.integration
@pytest.mark.parametrize("bframes", [0, 3])
def test_a_long_gop_gets_frames_between_its_keyframes(tmp_path: Path, bframes: int) -> None:
    """x264's default GOP (250 frames: 10 s at 25 fps): one frame at most every 4 s, the frames
    between decoded through the GOP, each showing its own moment (not the keyframe again)."""
    video = _encode(tmp_path / "long-gop.mp4", "testsrc2=size=320x180:rate=25", 25, "-c:v", "libx264",
                    "-preset", "ultrafast", "-bf", str(bframes), "-g", "250", "-sc_threshold", "0")
    info = probe(video)
    assert [round(t) for t in info.keyframes_s] == [0, 10, 20]
    plan = FramePlan.of(info.keyframes_s, info.duration_s, 1.0, 4.0)
    frames = list(iter_keyframes(video, info.start_s, 320, plan=plan))
    assert [k.offset_ms for k in frames] == [0, 3360, 6680, 10000, 13360, 16680, 20000, 22520]
    assert [plan.end_s(k.offset_s) for k in frames][:3] == pytest.approx([10 / 3, 20 / 3, 10.0])
    for k in frames[1:3]:  # testsrc2 draws its clock: a frame between keyframes is its own picture
        png = frame_png(video, k.offset_s, tmp_path / "at.png")
        truth = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize(k.rgb.shape[1::-1]), np.float32)
        assert np.abs(k.rgb.astype(np.float32) - truth).mean() < 6
        assert np.abs(frames[0].rgb.astype(np.float32) - truth).mean() > np.abs(
            k.rgb.astype(np.float32) - truth).mean() + 1
