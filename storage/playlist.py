"""HLS playback over stored segments: an m3u8 playlist of presigned segment URLs.

Each stored segment is a self-contained fragmented MP4: the playlist points
EXT-X-MAP at its init section and EXT-X-BYTERANGE at its fragments (HLS v7,
CMAF), and marks every segment boundary as a discontinuity because each
segment's timestamps start at zero. EXT-X-PROGRAM-DATE-TIME carries the wall
clock, so a gap in the recording shows as a jump in time, never papered over.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from storage.manifests import SegmentManifest
from storage.timeutil import from_ms

GAP_TOLERANCE_MS = 100


def hls_playlist(segments: list[SegmentManifest], url_for: Callable[[str], str]) -> str:
    if not segments:
        raise ValueError("no segments to play")
    target = max(math.ceil(m.duration_ms / 1000) for m in segments)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for i, m in enumerate(segments):
        url = url_for(m.segment_key)
        if i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{from_ms(m.start_ms).isoformat(timespec='milliseconds')}",
                  f'#EXT-X-MAP:URI="{url}",BYTERANGE="{m.init_bytes}@0"',
                  f"#EXTINF:{m.duration_ms / 1000:.3f},",
                  f"#EXT-X-BYTERANGE:{m.bytes - m.init_bytes}@{m.init_bytes}", url]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def gaps(segments: list[SegmentManifest]) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of every hole between consecutive segments."""
    return [(a.end_ms, b.start_ms) for a, b in itertools.pairwise(segments)
            if b.start_ms - a.end_ms > GAP_TOLERANCE_MS]
