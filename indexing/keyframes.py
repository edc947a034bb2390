"""Keyframe extraction: decode I-frames only (the decoder skips every other frame).

Each keyframe is converted to RGB once, by swscale, straight at the size its
two uses need (the embedder's 224-px short side and the thumbnail's width),
never at full resolution: for 1080p that is ≈ 4× less work per keyframe than
converting the whole frame and resizing it in PIL, and the conversion is what
limits decoding (the decoder alone does ≈ 170 keyframes/s on one core).

Keyframes are upright as a player shows them: a stream whose display matrix
says to rotate it (a camera mounted on its side, a phone's portrait video) is
turned by quarter turns after conversion, so thumbnails, embeddings and region
boxes all see what the investigator sees.

Only keyframe packets reach the decoder, each after a flush and drained at
once. Fed a stream's keyframes one after another instead (or all its packets
with `skip_frame` "NONKEY"), FFmpeg's H.264 decoder loses most keyframes of an
open-GOP stream with B-frames (x264 `open-gop`: 3 of 60 in a 2-minute file,
in reverse order), as its picture-order bookkeeping needs the frames between;
decoded on its own, every keyframe comes out, at the same speed.

`sampled` thins the keyframes to at most one per interval: an all-intra stream
(MJPEG, a GOP of one frame) has a keyframe per frame, and embedding 25 of them
a second costs 25× a city camera's 2 s GOP for the same footage. A keyframe not
kept is not decoded at all (its packet never reaches the decoder).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from storage.errors import MediaError

EMBED_SHORT_SIDE = 224  # frames travel to embedders at this size; models resize further
_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class Keyframe:
    offset_s: float  # relative to the first video timestamp of the file
    rgb: np.ndarray  # H×W×3 uint8, short side EMBED_SHORT_SIDE
    jpeg: bytes  # thumbnail
    detail: np.ndarray | None = None  # H×W×3 uint8 at the short side asked for region crops; None: not asked

    @property
    def offset_ms(self) -> int:
        return round(self.offset_s * 1000)


def iter_keyframes(path: Path, origin_s: float, thumbnail_width: int, detail_short_side: int = 0,
                   only: Sequence[float] | None = None, stream: int = 0) -> Iterator[Keyframe]:
    """Yield every keyframe of video stream `stream` (the probe's `VideoInfo.stream`), in order, upright.

    `origin_s` is the file's first video timestamp (from probing), so offsets
    line up with segment offsets. `detail_short_side` > 0: each keyframe also
    carries `detail`, the frame at that short side (never upscaled), to crop
    regions from; the frame is then converted once at that size, not at the
    embedder's. `only`: the keyframe offsets to decode (`sampled` of the
    probe's `keyframes_s`); the others are skipped before decoding.
    """
    wanted = None if only is None else {round(t * 1000) for t in only}
    with av.open(str(path)) as container:
        video = container.streams.video[stream]
        if video.time_base is None:
            raise MediaError(f"{path.name}: the video stream has no time base")
        tb = float(video.time_base)
        decoder = video.codec_context
        for packet in container.demux(video):
            if not packet.is_keyframe or packet.pts is None:
                continue  # never decoded (nor the demuxer's last, empty packet)
            if wanted is not None and round((packet.pts * tb - origin_s) * 1000) not in wanted:
                continue
            decoder.flush_buffers()  # each keyframe on its own: see the module doc
            for frame in (*decoder.decode(packet), *decoder.decode(None)):
                if frame.pts is not None:
                    yield _keyframe(frame, frame.pts * tb - origin_s, thumbnail_width, detail_short_side)


def sampled(keyframes_s: Sequence[float], min_interval_s: float) -> tuple[float, ...]:
    """The keyframe times to index: the first, then each at least `min_interval_s` after the last
    one kept (0: all of them). `keyframes_s` ascending, as `storage.media.probe` gives them."""
    kept: list[float] = []
    for t in keyframes_s:
        if not kept or t - kept[-1] >= min_interval_s - 1e-6:
            kept.append(t)
    return tuple(kept)


def _keyframe(frame: av.VideoFrame, offset_s: float, thumbnail_width: int,
              detail_short_side: int) -> Keyframe:
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns to show it upright
    shown_w, shown_h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
    width, height = _decoded_size(shown_w, shown_h, thumbnail_width, detail_short_side)
    if turns % 2:
        width, height = height, width
    image = frame.to_image(width=width, height=height, interpolation="AREA")
    if turns:
        image = image.transpose(_TURNS[turns])
    return Keyframe(offset_s=offset_s, rgb=_embed_size(image), jpeg=_thumbnail(image, thumbnail_width),
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
