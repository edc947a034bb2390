"""How the index's objects are encoded: frame batches (npz) and tombstones (JSON).

A frame batch (a log object or a snapshot run) holds float32 vectors and their
`FrameRecord`s in one object, so it is wholly present or absent. A record is a
JSON object of its fields; a region's carries `box` as [x0, y0, x1, y1], a
whole frame's has no `box` (as every record written before regions: those
decode as whole frames, and a batch of whole frames encodes as it always did).
Tombstones are (camera, time range) deletions of frames and their regions alike;
a `TombstoneSet` coalesces them per camera and answers whether a frame is deleted.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from indexing.frame_columns import Box
from indexing.vector_index import FrameRecord
from storage.timeutil import DAY_MS

# numpy reads an .npy header with `ast.literal_eval`, and CPython 3.11 builds ASTs with one
# recursion counter per interpreter: two threads decoding at once (a shard server loading its
# shards side by side) failed now and then with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). Headers are read one at a time.
_NPY_HEADERS = threading.Lock()


@dataclass(frozen=True, eq=False)
class FrameBatch:
    records: list[FrameRecord]
    vectors: np.ndarray  # float32, one row per record

    def __len__(self) -> int:
        return len(self.records)

    def digest(self) -> str:
        """A content hash (records and vectors), stable across runs: names a snapshot run."""
        h = hashlib.sha256(_records_json(self.records))
        h.update(np.ascontiguousarray(self.vectors, dtype=np.float32).tobytes())
        return h.hexdigest()[:20]

    def where(self, keep: Sequence[bool]) -> FrameBatch:
        rows = np.flatnonzero(np.asarray(keep, dtype=bool))
        return FrameBatch([self.records[i] for i in rows], self.vectors[rows])


def concat(batches: Sequence[FrameBatch], dim: int) -> FrameBatch:
    """The batches in order, each (camera, time, box) once: the first occurrence wins, as in
    `FrameIndex.add`."""
    seen: set[tuple[str, int, Box | None]] = set()
    records, rows = [], []
    for b in batches:
        for i, r in enumerate(b.records):
            if (r.camera_id, r.time_ms, r.box) not in seen:
                seen.add((r.camera_id, r.time_ms, r.box))
                records.append(r)
                rows.append(b.vectors[i])
    vectors = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), dtype=np.float32)
    return FrameBatch(records, vectors)


def encode_batch(batch: FrameBatch) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, vectors=np.asarray(batch.vectors, dtype=np.float32),
             records=np.frombuffer(_records_json(batch.records), dtype=np.uint8))
    return buf.getvalue()


def decode_batch(data: bytes) -> FrameBatch:
    with _NPY_HEADERS, np.load(io.BytesIO(data), allow_pickle=False) as npz:
        records = json.loads(npz["records"].tobytes())
        vectors = npz["vectors"]
    return FrameBatch([_record(r) for r in records], vectors)


def _record(fields: dict[str, Any]) -> FrameRecord:  # one decoded JSON object
    """A decoded record whose camera id and segment key are shared with the segment's other frames."""
    box = fields.get("box")
    return FrameRecord(**{**fields, "camera_id": sys.intern(str(fields["camera_id"])),
                          "segment_key": sys.intern(str(fields["segment_key"])),
                          "box": None if box is None else Box(*(float(v) for v in box))})


def _records_json(records: Sequence[FrameRecord]) -> bytes:
    return json.dumps([_fields(r) for r in records]).encode()


def _fields(record: FrameRecord) -> dict[str, Any]:
    fields = asdict(record)
    box = fields.pop("box")
    if box is not None:
        fields["box"] = [box["x0"], box["y0"], box["x1"], box["y1"]]
    return fields


@dataclass(frozen=True, order=True)
class Tombstone:
    """The camera's frames with time in [start_ms, end_ms) are deleted."""

    camera_id: str
    start_ms: int
    end_ms: int

    def overlaps_day(self, day: int) -> bool:
        return self.start_ms < (day + 1) * DAY_MS and self.end_ms > day * DAY_MS


def encode_tombstones(tombstones: Iterable[Tombstone]) -> bytes:
    return json.dumps([asdict(t) for t in tombstones]).encode()


def decode_tombstones(data: bytes) -> list[Tombstone]:
    """A JSON list of ranges, or one range (the format before compaction)."""
    value = json.loads(data)
    return [Tombstone(**t) for t in (value if isinstance(value, list) else [value])]


class TombstoneSet:
    """Tombstones coalesced per camera (overlapping or touching ranges merged)."""

    def __init__(self, tombstones: Iterable[Tombstone] = ()) -> None:
        by_camera: dict[str, list[tuple[int, int]]] = {}
        for t in sorted(tombstones):
            spans = by_camera.setdefault(t.camera_id, [])
            if spans and t.start_ms <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], t.end_ms))
            elif t.end_ms > t.start_ms:
                spans.append((t.start_ms, t.end_ms))
        self._spans = by_camera
        self._starts = {c: [s for s, _ in spans] for c, spans in by_camera.items()}

    def __iter__(self) -> Iterator[Tombstone]:
        return (Tombstone(c, s, e) for c in sorted(self._spans) for s, e in self._spans[c])

    def __len__(self) -> int:
        return sum(len(s) for s in self._spans.values())

    def deletes(self, camera_id: str, time_ms: int) -> bool:
        return self.covers(Tombstone(camera_id, time_ms, time_ms + 1))

    def covers(self, t: Tombstone) -> bool:
        """Whether every frame `t` deletes is deleted already."""
        starts = self._starts.get(t.camera_id)
        if not starts:
            return False
        i = bisect.bisect_right(starts, t.start_ms) - 1
        return i >= 0 and self._spans[t.camera_id][i][1] >= t.end_ms

    def alive(self, batch: FrameBatch) -> FrameBatch:
        """The batch without the frames these tombstones delete."""
        return batch.where([not self.deletes(r.camera_id, r.time_ms) for r in batch.records])
