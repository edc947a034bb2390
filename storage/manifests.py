"""Segment manifests: the facts of one stored segment, written after it.

A manifest is the commit marker of its segment: readers (search, playback,
export) only trust segments whose manifest exists.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SegmentManifest:
    camera_id: str
    segment_key: str
    start_ms: int
    end_ms: int
    bytes: int
    sha256: str
    codec: str
    width: int
    height: int
    init_bytes: int  # size of the fMP4 init section (ftyp + moov), for HLS EXT-X-MAP

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    def to_json(self) -> builtins.bytes:  # `bytes` is a field here
        return json.dumps({**asdict(self), "duration_ms": self.duration_ms},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: builtins.bytes) -> SegmentManifest:
        raw = json.loads(data)
        raw.pop("duration_ms", None)
        return cls(**raw)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
