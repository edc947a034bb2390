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

`FramePlan` says which frames to index: the keyframes thinned to at most one
per interval (an all-intra stream — MJPEG, a GOP of one frame — has a keyframe
per frame, and embedding 25 of them a second costs 25× a city camera's 2 s GOP
for the same footage; a keyframe not kept never reaches the decoder), and in a
long GOP frames between keyframes too, decoded through the GOP from its
keyframe (the only case where non-key frames are decoded).
"""

from __future__ import annotations

import bisect
import io
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.sidedata.sidedata import SideDataContainer
from av.sidedata.sidedata import Type as SideDataType
from PIL import Image

from storage.errors import MediaError

EMBED_SHORT_SIDE = 224  # frames travel to embedders at this size; models resize further
_T = Image.Transpose
# a display matrix's 2x2 part (a, b, c, d: entries 0, 1, 3, 4, 16.16 fixed point, rounded) -> the
# transpose that shows the decoded frame as a player does (rotations by quarter turns, mirrors)
_UPRIGHT = {(-1, 0, 0, 1): _T.FLIP_LEFT_RIGHT, (1, 0, 0, -1): _T.FLIP_TOP_BOTTOM,
            (-1, 0, 0, -1): _T.ROTATE_180, (0, -1, 1, 0): _T.ROTATE_90, (0, 1, -1, 0): _T.ROTATE_270,
            (0, 1, 1, 0): _T.TRANSPOSE, (0, -1, -1, 0): _T.TRANSVERSE}
_SWAPS_AXES = frozenset({_T.ROTATE_90, _T.ROTATE_270, _T.TRANSPOSE, _T.TRANSVERSE})


@dataclass(frozen=True)
class Keyframe:
    offset_s: float  # relative to the first video timestamp of the file
    rgb: np.ndarray  # H×W×3 uint8, short side EMBED_SHORT_SIDE
    jpeg: bytes  # thumbnail
    detail: np.ndarray | None = None  # H×W×3 uint8 at the short side asked for region crops; None: not asked

    @property
    def offset_ms(self) -> int:
        return round(self.offset_s * 1000)


@dataclass(frozen=True)
class FramePlan:
    """Which frames of a video to index (times relative to its first video timestamp).

    `keyframes_s`: its keyframes, thinned to at most one per `min_interval_s`; `between_s`: in a
    gap between two of them (or before the end) longer than `max_gap_s`, evenly spaced times
    where the frame at or just after is indexed too (decoded from the keyframe on). A city
    camera's 2 s GOP gets keyframes only; x264's default GOP (250 frames, 10 s at 25 fps) would
    otherwise leave a subject crossing in 5 s unindexed.
    """

    keyframes_s: tuple[float, ...]
    between_s: tuple[float, ...]
    duration_s: float

    @classmethod
    def of(cls, keyframes_s: Sequence[float], duration_s: float, min_interval_s: float,
           max_gap_s: float) -> FramePlan:
        """`keyframes_s` ascending, as `storage.media.probe` gives them; `max_gap_s` 0: keyframes only."""
        kept: list[float] = []
        for t in keyframes_s:
            if not kept or t - kept[-1] >= min_interval_s - 1e-6:
                kept.append(t)
        between: list[float] = []
        for a, b in zip(kept, (*kept[1:], duration_s), strict=True):
            if max_gap_s > 0 and b - a > max_gap_s + 1e-6:
                parts = math.ceil((b - a) / max_gap_s - 1e-6)
                between += [a + (b - a) * i / parts for i in range(1, parts)]
        return cls(tuple(kept), tuple(between), duration_s)

    @cached_property
    def times_s(self) -> tuple[float, ...]:
        return tuple(sorted((*self.keyframes_s, *self.between_s)))

    def end_s(self, offset_s: float) -> float:
        """Where the frame indexed at `offset_s` stops standing for the video: the next planned time."""
        i = bisect.bisect_right(self.times_s, offset_s + 1e-6)
        return self.times_s[i] if i < len(self.times_s) else self.duration_s


def iter_keyframes(path: Path, origin_s: float, thumbnail_width: int, detail_short_side: int = 0,
                   plan: FramePlan | None = None, stream: int = 0) -> Iterator[Keyframe]:
    """Yield the frames to index of video stream `stream` (the probe's `VideoInfo.stream`), in
    order, upright: every keyframe, or those of `plan` and the frames it asks for between them.

    `origin_s` is the file's first video timestamp (from probing), so offsets
    line up with segment offsets. `detail_short_side` > 0: each keyframe also
    carries `detail`, the frame at that short side (never upscaled), to crop
    regions from; the frame is then converted once at that size, not at the
    embedder's. A keyframe not in the plan is skipped before decoding (unless
    a GOP is being decoded through it).
    """
    kept = None if plan is None else sorted({_ms(t) for t in plan.keyframes_s})
    between = [] if plan is None else [_ms(t) for t in plan.between_s]
    with av.open(str(path)) as container:
        video = container.streams.video[stream]
        if video.time_base is None:
            raise MediaError(f"{path.name}: the video stream has no time base")
        tb = float(video.time_base)
        decoder = video.codec_context
        clock = _Clock(tb, origin_s, thumbnail_width, detail_short_side)
        unit: _Unit | None = None  # the GOP being decoded through, for frames due before its end
        for packet in container.demux(video):
            if packet.pts is None:
                continue  # the demuxer's last, empty packet: draining is done below
            at = _ms(packet.pts * tb - origin_s)
            if packet.is_keyframe and (kept is None or _holds(kept, at)):
                if unit is not None:
                    yield from unit.take(decoder.decode(None))
                decoder.flush_buffers()  # each keyframe on its own: see the module doc
                nxt = None if kept is None else _after(kept, at)
                due = between[bisect.bisect_right(between, at):
                              len(between) if nxt is None else bisect.bisect_left(between, nxt)]
                unit = _Unit(at, deque(due), clock)
                frames = decoder.decode(packet)
                if not due:  # the keyframe alone
                    frames += decoder.decode(None)
                yield from unit.take(frames)
                if not due:
                    unit = None
            elif unit is not None:  # through the GOP, until its last frame due is out
                yield from unit.take(decoder.decode(packet))
                if not unit.due:
                    unit = None
        if unit is not None:
            yield from unit.take(decoder.decode(None))


@dataclass(frozen=True)
class _Clock:
    """How a decoded frame becomes a `Keyframe`: its offset (time base, origin) and sizes."""

    tb: float
    origin_s: float
    thumbnail_width: int
    detail_short_side: int


@dataclass
class _Unit:
    """A keyframe being decoded and the times (ms) of frames due after it in its GOP."""

    keyframe_ms: int
    due: deque[int]
    clock: _Clock

    def take(self, frames: Sequence[av.VideoFrame]) -> Iterator[Keyframe]:
        """The keyframe itself and each first frame at or after a time due (frames before the
        keyframe, an open GOP's leading ones, are not this unit's)."""
        c = self.clock
        for frame in frames:
            if frame.pts is None:
                continue
            offset_s = frame.pts * c.tb - c.origin_s
            at = _ms(offset_s)
            if at == self.keyframe_ms or (self.due and at >= self.due[0]):
                while self.due and self.due[0] <= at:
                    self.due.popleft()
                yield _keyframe(frame, offset_s, c.thumbnail_width, c.detail_short_side)


def _ms(t: float) -> int:
    return round(t * 1000)


def _holds(sorted_ms: list[int], at: int) -> bool:
    i = bisect.bisect_left(sorted_ms, at)
    return i < len(sorted_ms) and sorted_ms[i] == at


def _after(sorted_ms: list[int], at: int) -> int | None:
    i = bisect.bisect_right(sorted_ms, at)
    return sorted_ms[i] if i < len(sorted_ms) else None


def _keyframe(frame: av.VideoFrame, offset_s: float, thumbnail_width: int,
              detail_short_side: int) -> Keyframe:
    upright = _upright(frame)
    swaps = upright in _SWAPS_AXES
    shown_w, shown_h = (frame.height, frame.width) if swaps else (frame.width, frame.height)
    width, height = _decoded_size(shown_w, shown_h, thumbnail_width, detail_short_side)
    if swaps:
        width, height = height, width
    image = frame.to_image(width=width, height=height, interpolation="AREA")
    if upright is not None:
        image = image.transpose(upright)
    return Keyframe(offset_s=offset_s, rgb=_embed_size(image), jpeg=_thumbnail(image, thumbnail_width),
                    detail=np.asarray(image.convert("RGB")) if detail_short_side else None)


def _upright(frame: av.VideoFrame) -> Image.Transpose | None:
    """The transpose that shows `frame` as its display matrix says (None: as decoded, or a matrix
    that is no quarter turn or mirror, which is then ignored)."""
    for data in cast(SideDataContainer, frame.side_data):  # PyAV's stub calls it a TypedDict
        if data.type is SideDataType.DISPLAYMATRIX:
            a, b, _, c, d = (round(int(v) / 65536) for v in np.frombuffer(bytes(data), np.int32)[:5])
            return _UPRIGHT.get((a, b, c, d))
    return None


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
