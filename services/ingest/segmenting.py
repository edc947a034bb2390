"""Cutting a file into segments while ffmpeg runs: each segment as soon as ffmpeg has closed it.

The cut is `storage.media.segment`'s (the stream-copy segmenter of `storage.ffmpeg_commands`:
keyframe-aligned fragmented MP4, listed in a CSV segment list that ffmpeg appends a line to when it
closes a segment file), but streamed, so a segment can be uploaded, and the keyframes it holds
acknowledged, while ffmpeg cuts the rest of the file; the whole file is not waited for.

Offsets and durations come from the source's keyframe times, probed once (`VideoInfo`): listed
times are taken relative to the first segment's listed start (the first keyframe; ffmpeg lists
them from zero or from the container's start time, depending on the file), and a segment
runs from the keyframe its listed start is nearest to, to the keyframe (or the end of the file)
its listed end is nearest to (ffmpeg's listed times are shifted by the B-frame delay). No segment
is probed: probing each one cost ≈ 30 ms of a core (≈ 1.8 s for a 10-minute file of 10 s segments).
"""

from __future__ import annotations

import csv
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from storage.errors import MediaError
from storage.ffmpeg_commands import segment_command
from storage.media import SegmentFile, VideoInfo

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
    bounds = (*info.keyframes_s, info.duration_s)
    deadline = time.monotonic() + timeout_s
    with log.open("wb") as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    listed = 0
    base: float | None = None  # the listed time of the file's first keyframe
    try:
        while True:
            finished = proc.poll() is not None  # before reading: every line of a finished run is read
            for name, start, end in csv.reader(_complete_lines(listing)[listed:]):
                listed += 1
                if base is None:  # listed times may or may not carry the container's start offset
                    base = float(start) - bounds[0]
                first = _nearest(bounds, float(start) - base)
                last = _nearest(bounds, float(end) - base)
                yield SegmentFile(path=out_dir / name, offset_s=first, duration_s=last - first)
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
    if not listed:
        raise MediaError(f"{source.name}: ffmpeg produced no segments")


def _complete_lines(listing: Path) -> list[str]:
    """The lines ffmpeg has finished writing (a line without its newline is still being written)."""
    try:
        text = listing.read_text()
    except FileNotFoundError:
        return []
    return text.splitlines()[:text.count("\n")]


def _nearest(bounds: tuple[float, ...], t: float) -> float:
    return min(bounds, key=lambda b: abs(b - t))
