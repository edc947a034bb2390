"""Cutting a file into segments while ffmpeg runs: each segment as soon as ffmpeg has closed it.

The cut is `storage.media.segment`'s (the stream-copy segmenter of `storage.ffmpeg_commands`:
keyframe-aligned fragmented MP4, listed in a CSV segment list that ffmpeg appends a line to when it
closes a segment file), but streamed, so a segment can be uploaded, and the keyframes it holds
acknowledged, while ffmpeg cuts the rest of the file; the whole file is not waited for.

Offsets and durations come from the source's keyframe times, probed once (`VideoInfo`). Every
segment starts at a keyframe (stream copy drops the non-keyframes a file may begin with, so the
first starts at the first keyframe) and ends where the next one starts, the last at the file's
end. A boundary is the keyframe nearest to its listed time minus the listing's offset, which
depends on the file (ffmpeg lists from zero, from the container's start time or from the first
packet, shifted by the B-frame delay): it is measured once, on the first boundary, as its listed
time minus the first segment's probed end (first keyframe + duration). So a segment is yielded
when the next one is listed (or ffmpeg has ended), and only the first is probed: probing each
cost ≈ 30 ms of a core (≈ 1.8 s for a 10-minute file of 10 s segments).
"""

from __future__ import annotations

import bisect
import csv
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from storage.errors import MediaError
from storage.ffmpeg_commands import segment_command
from storage.media import SegmentFile, VideoInfo, probe

POLL_S = 0.05  # how often the segment list is read while ffmpeg runs


def iter_segments(source: Path, info: VideoInfo, out_dir: Path, segment_seconds: float,
                  timeout_s: float) -> Iterator[SegmentFile]:
    """Yield the segments of `source` (probed as `info`), in order, as ffmpeg closes their files.

    Raises `MediaError` naming the file when ffmpeg fails (its last error line), runs past
    `timeout_s`, or cuts no segment; ffmpeg is killed if the caller stops early.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    listing, log = out_dir / "segments.csv", out_dir / "ffmpeg.log"
    cmd = segment_command(("-i", str(source)), segment_seconds, listing, out_dir / "seg_%06d.mp4",
                          stream=info.stream)
    deadline = time.monotonic() + timeout_s
    with log.open("wb") as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    listed = 0
    pending: tuple[Path, float] | None = None  # the segment listed last: its file and its start
    offset: float | None = None  # listed time minus time in the file
    try:
        while True:
            finished = proc.poll() is not None  # before reading: every line of a finished run is read
            for name, start, _end in csv.reader(_complete_lines(listing)[listed:]):
                listed += 1
                if pending is None:
                    pending = (out_dir / name, info.keyframes_s[0])
                    continue
                if offset is None:
                    offset = float(start) - (pending[1] + probe(pending[0]).duration_s)
                boundary = _boundary(info.keyframes_s, pending[1], float(start) - offset, source.name)
                yield SegmentFile(path=pending[0], offset_s=pending[1], duration_s=boundary - pending[1])
                pending = (out_dir / name, boundary)
            if finished:
                break
            if time.monotonic() > deadline:
                raise MediaError(f"{source.name}: ffmpeg did not finish within {timeout_s:.0f} s")
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MediaError(f"{source.name}: ffmpeg failed ({tail[0][:200]})")
    if pending is None:
        raise MediaError(f"{source.name}: ffmpeg produced no segments")
    yield SegmentFile(path=pending[0], offset_s=pending[1], duration_s=info.duration_s - pending[1])


def _complete_lines(listing: Path) -> list[str]:
    """The lines ffmpeg has finished writing (a line without its newline is still being written)."""
    try:
        text = listing.read_text()
    except FileNotFoundError:
        return []
    return text.splitlines()[:text.count("\n")]


def _boundary(keyframes_s: tuple[float, ...], after_s: float, t: float, name: str) -> float:
    """The keyframe after `after_s` (where the segment it ends starts) nearest to `t`."""
    later = keyframes_s[bisect.bisect_right(keyframes_s, after_s):]
    if not later:
        raise MediaError(f"{name}: ffmpeg cut a segment at no keyframe of the file")
    return min(later, key=lambda k: abs(k - t))
