"""Just enough ISO-BMFF parsing to find a fragmented MP4's init section (ftyp + moov)."""

from __future__ import annotations

import struct
from pathlib import Path

from storage.errors import MediaError


def init_section_size(path: Path) -> int:
    """Bytes before the first `moof` box: the init section HLS players fetch via EXT-X-MAP."""
    offset = 0
    with path.open("rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moof":
                return offset
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            if size < 8:
                break
            offset += size
            f.seek(offset)
    raise MediaError(f"{path.name}: not a fragmented MP4 (no moof box)")
