"""Keyframe extraction: decode I-frames only (the decoder skips every other frame).

Each keyframe is converted to RGB once, by swscale, straight at the size its
two uses need (the embedder's 224-px short side and the thumbnail's width),
never at full resolution: for 1080p that is ≈ 4× less work per keyframe than
converting the whole frame and resizing it in PIL, and the conversion is what
limits decoding (the decoder alone does ≈ 170 keyframes/s on one core).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from storage.errors import MediaError

EMBED_SHORT_SIDE = 224  # frames travel to embedders at this size; models resize further


@dataclass(frozen=True)
class Keyframe:
    offset_s: float  # relative to the first video timestamp of the file
    rgb: np.ndarray  # H×W×3 uint8, short side EMBED_SHORT_SIDE
    jpeg: bytes  # thumbnail
    detail: np.ndarray | None = None  # H×W×3 uint8 at the short side asked for region crops; None: not asked

    @property
    def offset_ms(self) -> int:
        return round(self.offset_s * 1000)


def iter_keyframes(path: Path, origin_s: float, thumbnail_width: int,
                   detail_short_side: int = 0) -> Iterator[Keyframe]:
    """Yield every keyframe of the first video stream, in order.

    `origin_s` is the file's first video timestamp (from probing), so offsets
    line up with segment offsets. `detail_short_side` > 0: each keyframe also
    carries `detail`, the frame at that short side (never upscaled), to crop
    regions from; the frame is then converted once at that size, not at the
    embedder's.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        if stream.time_base is None:
            raise MediaError(f"{path.name}: the video stream has no time base")
        tb = float(stream.time_base)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            width, height = _decoded_size(frame.width, frame.height, thumbnail_width, detail_short_side)
            image = frame.to_image(width=width, height=height, interpolation="AREA")
            yield Keyframe(offset_s=frame.pts * tb - origin_s, rgb=_embed_size(image),
                           jpeg=_thumbnail(image, thumbnail_width),
                           detail=np.asarray(image.convert("RGB")) if detail_short_side else None)


def _decoded_size(width: int, height: int, thumbnail_width: int,
                  detail_short_side: int = 0) -> tuple[int, int]:
    """The smallest size that still serves the embedder, the thumbnail and region crops (never upscaled)."""
    short = min(width, height)
    scale = min(1.0, max(EMBED_SHORT_SIDE / short, thumbnail_width / width, detail_short_side / short))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _embed_size(image: Image.Image) -> np.ndarray:
    w, h = image.size
    scale = EMBED_SHORT_SIDE / min(w, h)
    if scale < 1:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return np.asarray(image.convert("RGB"))


def _thumbnail(image: Image.Image, width: int) -> bytes:
    w, h = image.size
    if w > width:
        image = image.resize((width, max(1, round(h * width / w))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=80)
    return buf.getvalue()
