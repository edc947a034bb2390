"""Media probing (PyAV), keyframe-aligned segmenting (ffmpeg stream copy, no re-encode), and raw
elementary streams put in a container (stream copy) so they have timestamps."""

from __future__ import annotations

import csv
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av

from storage.cameras import mask_url
from storage.errors import DiskFullError, MediaError
from storage.ffmpeg_commands import QUIET, segment_command
from storage.ffmpeg_input import GuardedInput
from storage.media_tools import ffmpeg_exe
from storage.timeutil import DAY_S
from storage.url_policy import Purpose, UrlPolicy, UrlRefusedError, check_url

logger = logging.getLogger(__name__)
MAX_DIMENSION = 8192
MAX_DURATION_S = 7 * DAY_S


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    duration_s: float
    start_s: float  # the first video timestamp in the file
    keyframes_s: tuple[float, ...]  # keyframe times relative to start_s
    frames: int
    stream: int = 0  # the video stream these facts are of, among the file's video streams (`0:v:N`)


@dataclass(frozen=True)
class SegmentFile:
    path: Path
    offset_s: float  # start relative to the source's first video timestamp
    duration_s: float


def probe(path: Path, label: str | None = None) -> VideoInfo:
    """Read the facts of the file's main video stream from the container, exactly.

    The main stream is FFmpeg's best video stream (`av_find_best_stream`): not a cover picture
    (an MKV's PNG cover is a "video stream" listed first), the default or largest of several.
    Everything else (segmenting, keyframes) uses that stream, `VideoInfo.stream`.
    `label` names the file in error messages (defaults to its base name).
    """
    name = label or path.name
    try:
        with av.open(str(path)) as container:
            best = container.streams.best("video")
            if best is None:
                raise MediaError("no video stream")
            index = [s.index for s in container.streams.video].index(best.index)
            stream = container.streams.video[index]
            first, last, keys, frames = _packet_span(container, stream)
            ctx = stream.codec_context
            info = VideoInfo(codec=ctx.name, width=ctx.width, height=ctx.height,
                             duration_s=last - first, start_s=first,
                             keyframes_s=tuple(k - first for k in keys), frames=frames,
                             stream=index)
    except av.FFmpegError as exc:
        if isinstance(exc, av.InvalidDataError) and _is_mp4(path):
            raise MediaError(f"{name}: not a readable video (an MP4 without its index, the moov box: "
                             "a truncated or unfinished recording?)") from None
        raise MediaError(f"{name}: not a readable video ({_reason(exc)})") from None
    except MediaError as exc:
        raise MediaError(f"{name}: {exc}") from None
    _check_sane(name, info)
    return info


def _is_mp4(path: Path) -> bool:
    """Whether the file begins as an ISO media file (MP4, MOV): an `ftyp` box first."""
    with path.open("rb") as f:
        return f.read(8)[4:8] == b"ftyp"


def _packet_span(container: av.container.InputContainer,
                 stream: av.VideoStream) -> tuple[float, float, list[float], int]:
    """(first pts, last pts + duration, keyframe pts, frames), seconds, from packets (no decoding)."""
    if stream.time_base is None:
        raise MediaError("the video stream has no time base")
    tb = float(stream.time_base)
    first = last = None
    keys: list[float] = []
    frames = 0
    cut_short = False  # the last packet read is incomplete (the demuxer flags a short read corrupt)
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        frames += 1
        cut_short = packet.is_corrupt
        start = packet.pts * tb
        end = start + (packet.duration or 0) * tb
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
        if packet.is_keyframe:
            keys.append(start)
    if first is None or last is None or not keys:
        raise MediaError("no decodable video frames")
    if cut_short and stream.frames > 0:  # an index (MP4, MOV) promised frames whose data is not there
        raise MediaError(f"the file is truncated: its index lists {stream.frames} frames and the data "
                         f"ends within frame {frames} (an interrupted copy or download?)")
    return first, last, sorted(keys), frames


RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "vvc", "mpegvideo", "m4v"})  # FFmpeg demuxer names


def containerised(path: Path, label: str, timeout_s: float) -> Path:
    """`path`, or for a raw elementary stream (a DVR's `.h264`/`.264`/`.hevc` export: frames with
    no timestamps) an MP4 beside it made by stream copy, timestamps generated at the stream's own
    frame rate (its VUI timing, else FFmpeg's 25 fps); the raw file is then removed.
    `label` names the file in errors."""
    try:
        with av.open(str(path)) as container:
            kind = container.format.name
    except av.FFmpegError:
        return path  # probing says what is wrong with it
    if kind not in RAW_STREAM_FORMATS:
        return path
    out = path.with_name(path.name + ".mp4")
    try:
        _run([ffmpeg_exe(), *QUIET, "-y", "-fflags", "+genpts", "-i", str(path), "-map", "0:v:0",
              "-c", "copy", "-f", "mp4", str(out)], label, timeout_s)
    except MediaError:
        out.unlink(missing_ok=True)
        raise
    path.unlink()
    logger.info("%s: a raw %s stream, put in MP4 with generated timestamps", label, kind)
    return out


def _check_sane(name: str, info: VideoInfo) -> None:
    if info.frames < 2:
        raise MediaError(f"{name}: a single still image, not video footage")
    if not (0 < info.width <= MAX_DIMENSION and 0 < info.height <= MAX_DIMENSION):
        raise MediaError(f"{name}: unsupported dimensions {info.width}x{info.height}")
    if not (0 < info.duration_s <= MAX_DURATION_S):
        raise MediaError(f"{name}: unsupported duration {info.duration_s:.3f} s")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__


def segment(source: Path, out_dir: Path, segment_seconds: float, timeout_s: float) -> list[SegmentFile]:
    """Cut `source` into keyframe-aligned fragmented-MP4 segments by stream copy
    (`storage.ffmpeg_commands.segment_command`, as live streams are cut).

    Each segment starts at a keyframe. ffmpeg's segment list gives approximate
    start times (shifted by the B-frame delay), so each is snapped to the
    source keyframe it names; durations come from probing the segment files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "segments.csv"
    info = probe(source)
    cmd = segment_command(("-i", str(source)), segment_seconds, listing, out_dir / "seg_%06d.mp4",
                          stream=info.stream)
    _run(cmd, source.name, timeout_s)
    segments = []
    with listing.open(newline="") as f:
        for name, start, _end in csv.reader(f):
            approx = float(start) - info.start_s
            offset = min(info.keyframes_s, key=lambda k: abs(k - approx))
            path = out_dir / name
            segments.append(SegmentFile(path=path, offset_s=offset,
                                        duration_s=probe(path).duration_s))
    if not segments:
        raise MediaError(f"{source.name}: ffmpeg produced no segments")
    return segments


def _run(cmd: list[str], name: str, timeout_s: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(f"{name}: ffmpeg did not finish within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MediaError(f"{name}: ffmpeg failed ({tail[0][:200]})")


FETCH_RW_TIMEOUT_US = "15000000"  # no bytes for 15 s: the source is gone


def fetch(uri: str, policy: UrlPolicy, out: Path, timeout_s: float, max_bytes: int) -> Path:
    """Copy a remote recording into a local MP4 by stream copy (no re-encode), size-limited.

    The URI must pass `policy` as an ingest URI (http/https; see storage.url_policy), and so must
    every connection ffmpeg makes for it (redirects, HLS segments). The URI, credentials
    included, reaches ffmpeg on stdin, never on its command line; errors name it masked.
    """
    try:
        checked = check_url(uri, Purpose.INGEST, policy)
    except UrlRefusedError:
        out.unlink(missing_ok=True)
        raise
    shown = mask_url(uri)
    with GuardedInput(checked, policy, {"rw_timeout": FETCH_RW_TIMEOUT_US}) as guarded:
        cmd = [ffmpeg_exe(), *QUIET, "-y",
               *guarded.input.args, "-an", "-sn", "-dn",  # ffmpeg's choice of one video stream: the best
               "-c", "copy", "-fs", str(max_bytes),
               "-f", "mp4", str(out)]
        try:
            proc = subprocess.run(cmd, input=guarded.input.script, env=guarded.input.env,
                                  capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            out.unlink(missing_ok=True)
            raise MediaError(f"{shown}: fetching did not finish within {timeout_s:.0f} s") from None
        refusals = guarded.refusals
    if refusals:  # a redirect or a playlist entry pointed somewhere the policy refuses
        out.unlink(missing_ok=True)
        raise UrlRefusedError(f"{shown}: {refusals[0]}")
    if proc.returncode != 0 or not out.is_file():
        out.unlink(missing_ok=True)
        if b"No space left on device" in proc.stderr:
            raise DiskFullError(shown)
        raise MediaError(f"{shown}: could not be fetched as video")
    if b"Error during demuxing" in proc.stderr or b"ends prematurely" in proc.stderr:
        out.unlink(missing_ok=True)
        raise MediaError(f"{shown}: the transfer was incomplete (does the server support ranges?)")
    return out
