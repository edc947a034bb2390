"""A static camera's consecutive near-identical keyframes are stored once.

Compared on the embedding vectors, which ingest computes anyway and which are
what search sees: sensor noise and compression change every pixel but barely
move the vector. The rule (`SameScene`) is the model's calibrated cosine (`dedup_cosine` in
`indexing.calibration`; the bundled model's calibration is explained in its
README) over CLIP's part of the vector: a fused appearance tower's part
(`indexing.reid`) tells subjects apart and so moves with sensor noise, and is left out. A model
without a calibration is not deduplicated. Each keyframe is
compared with the *kept* keyframe of its run, not with its predecessor, so a
slow change (dusk, a parked car creeping in) ends the run once it adds up; a
keyframe whose content changed is never dropped. The kept record's `end_ms` is
extended over the dropped ones, so the span is still found and played; its
segment fields stay those of its own segment (playback goes by time).

Regions (`indexing.regions`) are deduplicated the same way, place by place
(`dedup_regions`): a region within the threshold of the camera's kept region
at the same place (boxes overlapping by `SAME_PLACE_IOU`) is not indexed
again, and that kept region's `end_ms` is extended over it. A grid tile comes
up every few keyframes, not every one, so regions need not be contiguous: the
span of a kept region runs to the end of the last keyframe it stands for.
The whole frame and its regions are decided separately: a distant subject
walking through a static view keeps its regions though the frame is a duplicate.
Across batches (a live camera's segment is a batch of a few keyframes, too few
for the grid's tiles to come round twice), a `RegionMemory` of each camera's
stored regions drops a region within the threshold of the one stored at its
place at most `REGION_MEMORY_MS` before; that one's span is not extended (it is
acknowledged already), so a still subject is stored again at least that often.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from indexing.frame_columns import Box
from indexing.vector_index import FrameRecord

SAME_PLACE_IOU = 0.5  # two regions of a camera whose boxes overlap this much are at the same place
REGION_MEMORY_MS = 60_000  # a stored region stands for a later batch's duplicate this long


@dataclass(frozen=True)
class SameScene:
    """Two vectors show the same scene when their first `dims` components (all when None) have a
    cosine of at least `cosine`."""

    cosine: float
    dims: int | None = None

    def units(self, vectors: np.ndarray) -> np.ndarray:
        """The compared part of each vector, normalised."""
        part = vectors if self.dims is None else vectors[..., :self.dims]
        unit: np.ndarray = part / np.maximum(np.linalg.norm(part, axis=-1, keepdims=True), 1e-12)
        return unit


@dataclass(frozen=True)
class Deduped:
    kept: list[int]  # positions of the kept keyframes in the input
    records: list[FrameRecord]  # their records, each extended over the keyframes it stands for
    # per input position, the kept input position standing for it (itself when kept; None when
    # `RegionMemory` recalled a region stored by an earlier batch)
    stands_for: list[int | None]


def dedup_consecutive(records: Sequence[FrameRecord], vectors: np.ndarray,
                      rule: SameScene | None) -> Deduped:
    """Merge each run of contiguous keyframes of one camera that stay the same scene as its first
    (`rule`; None keeps every keyframe)."""
    if rule is None:
        return _all_kept(records)
    unit = rule.units(vectors)
    kept: list[int] = []
    out: list[FrameRecord] = []
    stands_for: list[int | None] = []
    for i, record in enumerate(records):
        if kept and _continues(out[-1], record) and float(unit[kept[-1]] @ unit[i]) >= rule.cosine:
            out[-1] = replace(out[-1], end_ms=max(out[-1].end_ms, record.end_ms))
        else:
            kept.append(i)
            out.append(record)
        stands_for.append(kept[-1])
    return Deduped(kept, out, stands_for)


def _all_kept(records: Sequence[FrameRecord]) -> Deduped:
    every = list(range(len(records)))
    return Deduped(every, list(records), list(every))


def _continues(span: FrameRecord, record: FrameRecord) -> bool:
    """Same camera, starting where the span ends (no gap in the footage between them)."""
    return record.camera_id == span.camera_id and span.time_ms < record.time_ms <= span.end_ms


class RegionMemory:
    """Each camera's regions stored lately, one per place, across batches; thread-safe.

    `remember` what was acknowledged (never what might not be stored), `recalls` before storing."""

    def __init__(self, horizon_ms: int = REGION_MEMORY_MS, max_cameras: int = 4096) -> None:
        self._horizon, self._max_cameras = horizon_ms, max_cameras
        self._stored: OrderedDict[str, list[tuple[FrameRecord, np.ndarray]]] = OrderedDict()
        self._lock = threading.Lock()

    def recalls(self, region: FrameRecord, unit: np.ndarray, rule: SameScene) -> bool:
        """Whether the camera stored a region at this place at most the horizon before, the same
        scene as `unit` (the region's compared part, `rule.units`)."""
        with self._lock:
            return any(_same_place(r, region) and region.time_ms - r.time_ms <= self._horizon
                       and v.shape == unit.shape and float(v @ unit) >= rule.cosine
                       for r, v in self._stored.get(region.camera_id, ()))

    def remember(self, records: Sequence[FrameRecord], vectors: np.ndarray, rule: SameScene | None) -> None:
        """Keep the regions among `records` (acknowledged, in time order) as their places' latest
        (nothing without a rule: nothing is deduplicated)."""
        if rule is None:
            return
        with self._lock:
            for record, unit in zip(records, rule.units(vectors), strict=True):
                if record.box is None:
                    continue
                stored = self._stored.pop(record.camera_id, [])
                stored = [(r, v) for r, v in stored
                          if r.box is None or r.box.iou(record.box) < SAME_PLACE_IOU]
                stored.append((record, unit))
                self._stored[record.camera_id] = stored  # most recently stored camera last
            while len(self._stored) > self._max_cameras:
                self._stored.popitem(last=False)


def dedup_keyframes(records: Sequence[FrameRecord], boxes: Sequence[Sequence[Box]], vectors: np.ndarray,
                    rule: SameScene | None, memory: RegionMemory | None = None) -> Deduped:
    """Keyframes as whole frames (`records`, one each, in time order) and their regions (`boxes`,
    per keyframe), with `vectors` laid out as `indexing.regions.with_crops` lays out images: the
    frames' rows, then each keyframe's regions' rows. Both deduplicated; `kept` and `stands_for`
    index `vectors`, the whole frames' records first, then the regions' (each the keyframe's
    record with its box)."""
    n = len(records)
    frames = dedup_consecutive(records, vectors[:n], rule)
    regions = dedup_regions([replace(r, box=b) for r, own in zip(records, boxes, strict=True) for b in own],
                            vectors[n:], rule, memory)
    return Deduped(frames.kept + [n + k for k in regions.kept], frames.records + regions.records,
                   frames.stands_for + [None if k is None else n + k for k in regions.stands_for])


def dedup_regions(records: Sequence[FrameRecord], vectors: np.ndarray,
                  rule: SameScene | None, memory: RegionMemory | None = None) -> Deduped:
    """Drop each region (a record with a box; records in time order) that is the same scene
    (`rule`) as its camera's kept region at the same place, extending that one over it, or as the
    region `memory` recalls there (None keeps every region)."""
    if rule is None:
        return _all_kept(records)
    unit = rule.units(vectors)
    kept: list[int] = []
    out: list[FrameRecord] = []
    stands_for: list[int | None] = []
    places: dict[str, list[int]] = {}  # camera -> places in `out` of its latest kept regions
    for i, record in enumerate(records):
        if record.box is None:
            raise ValueError(f"{record.camera_id} at {record.time_ms}: a whole frame among regions; "
                             "deduplicate whole frames with dedup_consecutive")
        latest = places.setdefault(record.camera_id, [])
        here = [j for j in latest if _same_place(out[j], record)]
        same = next((j for j in here if float(unit[kept[j]] @ unit[i]) >= rule.cosine), None)
        if same is not None:
            out[same] = replace(out[same], end_ms=max(out[same].end_ms, record.end_ms))
            stands_for.append(kept[same])
            continue
        if not here and memory is not None and memory.recalls(record, unit[i], rule):
            stands_for.append(None)
            continue
        latest[:] = [j for j in latest if j not in here] + [len(out)]
        stands_for.append(i)
        kept.append(i)
        out.append(record)
    return Deduped(kept, out, stands_for)


def _same_place(region: FrameRecord, record: FrameRecord) -> bool:
    """An earlier region of the camera whose box overlaps the record's."""
    return (region.box is not None and record.box is not None and region.time_ms < record.time_ms
            and region.box.iou(record.box) >= SAME_PLACE_IOU)
