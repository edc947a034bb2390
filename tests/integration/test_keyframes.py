"""Keyframes decoded from real H.264 (ffmpeg, PyAV): one per GOP, at the sizes the embedder and
the thumbnail need, never upscaled."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from indexing.keyframes import EMBED_SHORT_SIDE, iter_keyframes


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
