"""Keyframe records of one shard as columns: ≈ 25 bytes per keyframe instead of a Python object.

A keyframe's record is (camera, time, end, segment start and end, segment key,
thumbnail key), and for a region of the keyframe (`indexing.regions`) its box.
The keys Vigil writes are derived from the rest (`storage.keys`), so a shard
keeps per frame only five int32 columns (camera code; time and segment start as
offsets from the shard's UTC day start; end as an offset from time; segment
end as an offset from segment start), an alive flag, and the frame's place in
its camera's time-ordered list. Once a shard holds a region, a box column
joins them: 4 × uint16 per frame in 1/65535ths of the frame (`Box.snapped`),
all zeros for a whole frame (8 bytes more per frame; a shard without regions
has none). A record whose keys are not the derived ones, whose box is not on
that grid, or whose offsets do not fit in 32 bits, is kept whole in a side
table, so every record comes back exactly as it was added.

A whole frame is unique per (camera, time), a region per (camera, time, box):
a keyframe is stored as its whole-frame vector and its regions' vectors. Only
whole frames make a camera's timeline (`span_at`, so "is this keyframe
indexed" still asks about the keyframe); regions have their own list per
camera, to find duplicates.

Before this, each keyframe cost ≈ 400-560 bytes of Python objects (the record,
its thumbnail key string, five ints) next to ≈ 47 bytes of PQ codes.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from storage import keys
from storage.timeutil import DAY_MS

_INT32 = (-(2**31), 2**31 - 1)
MASKS_KEPT = 4  # filter masks kept per shard (a 250k-frame shard's mask is 250 kB)


BOX_SCALE = 65535  # a box coordinate is kept as a uint16 count of 1/65535ths of the frame


@dataclass(frozen=True, slots=True)
class Box:
    """A region of a keyframe as fractions of its width and height: 0 <= x0 < x1 <= 1, same for y."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (0 <= self.x0 < self.x1 <= 1 and 0 <= self.y0 < self.y1 <= 1):
            raise ValueError(f"box ({self.x0}, {self.y0}, {self.x1}, {self.y1}) is not a region of the "
                             "frame: give 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")

    @classmethod
    def snapped(cls, x0: float, y0: float, x1: float, y1: float) -> Box:
        """The box with its coordinates rounded to 1/65535ths (what the index keeps compactly),
        clipped to the frame; at least one step wide and high."""
        q = [min(BOX_SCALE, max(0, round(v * BOX_SCALE))) for v in (x0, y0, x1, y1)]
        q[0], q[1] = min(q[0], BOX_SCALE - 1), min(q[1], BOX_SCALE - 1)
        q[2], q[3] = max(q[2], q[0] + 1), max(q[3], q[1] + 1)
        return cls(*(v / BOX_SCALE for v in q))

    @property
    def area(self) -> float:
        """The fraction of the frame it covers."""
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def iou(self, other: Box) -> float:
        """Intersection over union of the two boxes (0: disjoint, 1: the same)."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        inter = max(0.0, w) * max(0.0, h)
        return inter / (self.area + other.area - inter) if inter > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FrameKey:
    """Which frame: a camera's keyframe at a time (`box` None) or its region at that time and box."""

    camera_id: str
    time_ms: int
    box: Box | None = None


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """A keyframe: it stands for the footage from `time_ms` until `end_ms` (the next keyframe).

    `box` is None for the whole keyframe; a region's vector (`indexing.regions`) carries its box.
    """

    camera_id: str
    time_ms: int
    end_ms: int
    segment_key: str
    segment_start_ms: int
    segment_end_ms: int
    thumbnail_key: str
    box: Box | None = None

    @property
    def key(self) -> FrameKey:
        return FrameKey(self.camera_id, self.time_ms, self.box)


class CameraCodes:
    """Camera ids as small ints, shared by an index's shards (a code per camera, never reused)."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._ids: list[str] = []

    def code(self, camera_id: str) -> int:
        """The camera's code, assigned on first use."""
        if (code := self._codes.get(camera_id)) is None:
            code = self._codes[camera_id] = len(self._ids)
            self._ids.append(camera_id)
        return code

    def get(self, camera_id: str) -> int | None:
        return self._codes.get(camera_id)

    def camera(self, code: int) -> str:
        return self._ids[code]


def _fits(*values: int) -> bool:
    return all(_INT32[0] <= v <= _INT32[1] for v in values)


class FrameColumns:
    """The records of one shard (one UTC day), by frame id; each (camera, time, box) at most once.

    Frame ids are dense and never reused: a deleted frame keeps its id with its
    alive flag cleared. Not thread-safe (`FrameIndex` holds the lock).
    """

    def __init__(self, day_start_ms: int, cameras: CameraCodes) -> None:
        self._base = day_start_ms
        self._boxes: array[int] | None = None  # 4 per frame (0 0 0 0: whole), from the first region
        self._names = cameras
        self._cameras = array("i")
        self._times = array("i")  # from the day start
        self._ends = array("i")  # from time
        self._segment_starts = array("i")  # from the day start (a segment may begin the day before)
        self._segment_ends = array("i")  # from segment start
        self._alive = array("b")
        self._whole: dict[int, FrameRecord] = {}  # frames whose keys or offsets are not derivable
        self._timelines: dict[int, array[int]] = {}  # camera code -> whole-frame ids, sorted by time
        self._regions: dict[int, array[int]] = {}  # camera code -> region frame ids, sorted by time
        self._masks: dict[tuple[bytes | None, int | None, int | None], np.ndarray] = {}

    def __len__(self) -> int:
        """Frame ids handed out, deleted frames included."""
        return len(self._alive)

    @property
    def alive(self) -> np.ndarray:
        return np.frombuffer(self._alive, dtype=np.int8).astype(bool)

    def append(self, records: Sequence[FrameRecord]) -> list[int]:
        """Add the records whose (camera, time, box) is new, with the next frame ids in order;
        returns their positions in `records`."""
        added = []
        self._masks.clear()
        for position, r in enumerate(records):
            code = self._names.code(r.camera_id)
            offset = r.time_ms - self._base
            if not 0 <= offset < DAY_MS:
                raise ValueError(f"frame at {r.time_ms} ms is outside the shard's day")
            box = _quantized(r.box)
            if not self._insert(code, offset, len(self._alive), box):
                continue
            added.append(position)
            if box != _NO_BOX and self._boxes is None:
                self._boxes = array("H", bytes(8 * len(self._alive)))
            if self._boxes is not None:
                self._boxes.extend(box)
            self._cameras.append(code)
            self._times.append(offset)
            self._alive.append(1)
            end, start = r.end_ms - r.time_ms, r.segment_start_ms - self._base
            length = r.segment_end_ms - r.segment_start_ms
            if _fits(end, start, length) and r == self._derived(code, offset, end, start, length, box):
                self._ends.append(end)
                self._segment_starts.append(start)
                self._segment_ends.append(length)
            else:
                self._whole[len(self._alive) - 1] = r
                self._ends.append(0)
                self._segment_starts.append(0)
                self._segment_ends.append(0)
        return added

    def record(self, frame_id: int) -> FrameRecord | None:
        """The frame's record; None once deleted."""
        if not self._alive[frame_id]:
            return None
        if (whole := self._whole.get(frame_id)) is not None:
            return whole
        return self._derived(self._cameras[frame_id], self._times[frame_id], self._ends[frame_id],
                             self._segment_starts[frame_id], self._segment_ends[frame_id],
                             self._box(frame_id))

    def records(self) -> Iterator[FrameRecord]:
        """The live frames in the order added."""
        return (r for i in range(len(self._alive)) if (r := self.record(i)) is not None)

    def snapshot(self) -> FrameColumns:
        """A copy of the records as they are now (a memory copy of the columns), to read
        without the index lock; it has no camera lists, so it is for reading records only."""
        copy = FrameColumns(self._base, self._names)
        for name in ("_cameras", "_times", "_ends", "_segment_starts", "_segment_ends", "_alive"):
            setattr(copy, name, array(getattr(self, name).typecode, getattr(self, name)))
        copy._boxes = None if self._boxes is None else array("H", self._boxes)
        copy._whole = dict(self._whole)
        return copy

    def span_at(self, code: int, time_ms: int) -> tuple[int, int] | None:
        """(time, end) of the camera's latest whole frame here that starts at or before `time_ms`."""
        ids = self._timelines.get(code)
        if not ids:
            return None
        i = bisect.bisect_right(ids, time_ms - self._base, key=self._times.__getitem__) - 1
        if i < 0:
            return None
        frame = ids[i]
        time = self._base + self._times[frame]
        whole = self._whole.get(frame)
        return time, whole.end_ms if whole is not None else time + self._ends[frame]

    def holds(self, record: FrameKey | FrameRecord) -> bool:
        """Whether the frame's camera, time and box are stored here (and not deleted)."""
        code, box = self._names.get(record.camera_id), _quantized(record.box)
        ids = None if code is None else (self._timelines if box == _NO_BOX else self._regions).get(code)
        if not ids:
            return False
        offset = record.time_ms - self._base
        i = bisect.bisect_left(ids, offset, key=self._times.__getitem__)
        while i < len(ids) and self._times[ids[i]] == offset:
            if self._box(ids[i]) == box:
                return True
            i += 1
        return False

    def at(self, code: int, time_ms: int) -> list[int]:
        """Ids of the camera's live whole frame and regions at exactly `time_ms` (a hit named again)."""
        offset, found = time_ms - self._base, []
        for lists in (self._timelines, self._regions):
            ids = lists.get(code) or array("i")
            i = bisect.bisect_left(ids, offset, key=self._times.__getitem__)
            while i < len(ids) and self._times[ids[i]] == offset:
                found.append(ids[i])
                i += 1
        return found

    def mask(self, codes: np.ndarray | None, start_ms: int | None, end_ms: int | None) -> np.ndarray | None:
        """Live frames of the cameras `codes` (None: all) with time in [start_ms, end_ms);
        None when that is every live frame. The last few masks are kept until the shard
        changes: an investigator repeats a filter, and past days do not change."""
        if start_ms is not None and start_ms <= self._base:
            start_ms = None
        if end_ms is not None and end_ms >= self._base + DAY_MS:
            end_ms = None
        if codes is None and start_ms is None and end_ms is None:
            return None
        key = (None if codes is None else codes.tobytes(), start_ms, end_ms)
        if (m := self._masks.get(key)) is None:
            if len(self._masks) >= MASKS_KEPT:
                del self._masks[next(iter(self._masks))]
            m = self._masks[key] = self._mask(codes, start_ms, end_ms)
        return m

    def _mask(self, codes: np.ndarray | None, start_ms: int | None, end_ms: int | None) -> np.ndarray:
        m = self.alive
        if codes is not None:
            cameras = np.frombuffer(self._cameras, dtype=np.int32)
            wanted = np.zeros(max(int(cameras.max(initial=0)), int(codes.max(initial=0))) + 1, dtype=bool)
            wanted[codes] = True
            m &= wanted[cameras]
        times = np.frombuffer(self._times, dtype=np.int32)
        if start_ms is not None:
            m &= times >= start_ms - self._base
        if end_ms is not None:
            m &= times < end_ms - self._base
        return m

    def remove(self, frame_ids: np.ndarray) -> None:
        """Mark the frames deleted and drop them from their cameras' lists (frames and regions)."""
        if frame_ids.size == 0:
            return
        self._masks.clear()
        alive = np.frombuffer(self._alive, dtype=np.int8)
        alive[frame_ids] = 0
        for frame in frame_ids.tolist():
            self._whole.pop(frame, None)
        cameras = np.frombuffer(self._cameras, dtype=np.int32)
        for code in np.unique(cameras[frame_ids]).tolist():
            for lists in (self._timelines, self._regions):
                if code in lists:
                    ids = np.frombuffer(lists[code], dtype=np.int32)
                    lists[code] = array("i", ids[alive[ids] == 1].tobytes())

    def camera_count(self) -> int:
        """How many cameras the live frames come from."""
        cameras = np.frombuffer(self._cameras, dtype=np.int32)
        return int(np.unique(cameras[self.alive]).size)

    def nbytes(self) -> int:
        """Bytes of the columns and camera lists (side-table records not counted)."""
        columns = (self._cameras, self._times, self._ends, self._segment_starts, self._segment_ends,
                   self._alive, *self._timelines.values(), *self._regions.values(),
                   *([] if self._boxes is None else [self._boxes]))
        return sum(c.buffer_info()[1] * c.itemsize for c in columns)

    def _derived(self, code: int, offset: int, end: int, start: int, length: int,
                 box: tuple[int, int, int, int]) -> FrameRecord:
        camera, time, segment_start = self._names.camera(code), self._base + offset, self._base + start
        segment_end = segment_start + length
        return FrameRecord(camera, time, time + end, keys.segment_key(camera, segment_start, segment_end),
                           segment_start, segment_end, keys.thumbnail_key(camera, time),
                           None if box == _NO_BOX else Box(*(v / BOX_SCALE for v in box)))

    def _box(self, frame_id: int) -> tuple[int, int, int, int]:
        if self._boxes is None:
            return _NO_BOX
        b = self._boxes
        return b[4 * frame_id], b[4 * frame_id + 1], b[4 * frame_id + 2], b[4 * frame_id + 3]

    def _insert(self, code: int, offset: int, frame_id: int, box: tuple[int, int, int, int]) -> bool:
        """Place the frame in its camera's list (whole frames or regions) unless the camera has
        one at that time (with that box)."""
        lists = self._timelines if box == _NO_BOX else self._regions
        ids = lists.get(code)
        if ids is None:
            ids = lists[code] = array("i")
        if not ids or self._times[ids[-1]] < offset:  # frames mostly arrive in time order
            ids.append(frame_id)
            return True
        i = bisect.bisect_left(ids, offset, key=self._times.__getitem__)
        while i < len(ids) and self._times[ids[i]] == offset:
            if self._box(ids[i]) == box:
                return False
            i += 1
        ids.insert(i, frame_id)
        return True


_NO_BOX = (0, 0, 0, 0)  # a whole frame's box column (no region has x0 == x1)


def _quantized(box: Box | None) -> tuple[int, int, int, int]:
    """The box on the column's 1/65535 grid (what identifies a region of a keyframe)."""
    if box is None:
        return _NO_BOX
    q = Box.snapped(box.x0, box.y0, box.x1, box.y1)
    return (round(q.x0 * BOX_SCALE), round(q.y0 * BOX_SCALE), round(q.x1 * BOX_SCALE),
            round(q.y1 * BOX_SCALE))
