"""The ffmpeg command lines Vigil runs, written once: quiet global options and the stream-copy
segmenter that cuts files (`storage.media.segment`) and live streams
(`services.live.stream.recorder_command`) alike.

Segments are keyframe-aligned fragmented MP4 (init section, then one fragment per keyframe: what
HLS players stream, CMAF; an ordinary MP4 to every other tool), cut by stream copy of one
video stream (no re-encode), each with timestamps starting at 0, and listed in a CSV segment list
(`name,start,end` per line, appended when a segment file is closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from storage.media_tools import ffmpeg_exe

QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error")  # no prompts, errors only on stderr
FRAGMENTED_MP4 = "movflags=+frag_keyframe+empty_moov+default_base_moof"


def segmenting_args(segment_seconds: float, listing: Path, stream: int = 0) -> list[str]:
    """Output options: video stream `stream` (`storage.media.VideoInfo.stream`; a live stream's
    first) copied into segments of about `segment_seconds` (cut at the next keyframe), listed in
    the CSV file `listing`."""
    return ["-map", f"0:v:{stream}", "-c", "copy", "-f", "segment", "-segment_time", f"{segment_seconds:.3f}",
            "-reset_timestamps", "1", "-segment_format", "mp4", "-segment_format_options", FRAGMENTED_MP4,
            "-segment_list", str(listing), "-segment_list_type", "csv"]


def segment_command(input_args: Sequence[str], segment_seconds: float, listing: Path, pattern: Path,
                    extra: Sequence[str] = (), stream: int = 0) -> list[str]:
    """ffmpeg cutting the input that `input_args` open into segment files named by `pattern`
    (`…_%06d.mp4`; see `segmenting_args`); `extra` output options (e.g. progress reporting) go
    before the pattern."""
    return [ffmpeg_exe(), *QUIET, "-y", *input_args, *segmenting_args(segment_seconds, listing, stream),
            *extra, str(pattern)]
