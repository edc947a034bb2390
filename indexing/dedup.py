"""A static camera's consecutive near-identical keyframes are stored once.

Compared on the embedding vectors, which ingest computes anyway and which are
what search sees: sensor noise and compression change every pixel but barely
move the vector. The threshold is calibrated per model (`dedup_cosine` in
`indexing.calibration`; the bundled model's calibration is explained in its
README); a model without one is not deduplicated. Each keyframe is
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from indexing.frame_columns import Box
from indexing.vector_index import FrameRecord

SAME_PLACE_IOU = 0.5  # two regions of a camera whose boxes overlap this much are at the same place


@dataclass(frozen=True)
class Deduped:
    kept: list[int]  # positions of the kept keyframes in the input
    records: list[FrameRecord]  # their records, each extended over the keyframes it stands for


def dedup_consecutive(records: Sequence[FrameRecord], vectors: np.ndarray,
                      threshold: float | None) -> Deduped:
    """Merge each run of contiguous keyframes of one camera that stay within `threshold` of its first
    (None keeps every keyframe)."""
    if threshold is None:
        return Deduped(list(range(len(records))), list(records))
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    kept: list[int] = []
    out: list[FrameRecord] = []
    for i, record in enumerate(records):
        if kept and _continues(out[-1], record) and float(unit[kept[-1]] @ unit[i]) >= threshold:
            out[-1] = replace(out[-1], end_ms=max(out[-1].end_ms, record.end_ms))
        else:
            kept.append(i)
            out.append(record)
    return Deduped(kept, out)


def _continues(span: FrameRecord, record: FrameRecord) -> bool:
    """Same camera, starting where the span ends (no gap in the footage between them)."""
    return record.camera_id == span.camera_id and span.time_ms < record.time_ms <= span.end_ms


def dedup_keyframes(records: Sequence[FrameRecord], boxes: Sequence[Sequence[Box]], vectors: np.ndarray,
                    threshold: float | None) -> Deduped:
    """Keyframes as whole frames (`records`, one each, in time order) and their regions (`boxes`,
    per keyframe), with `vectors` laid out as `indexing.regions.with_crops` lays out images: the
    frames' rows, then each keyframe's regions' rows. Both deduplicated; `kept` indexes `vectors`,
    the whole frames' records first, then the regions' (each the keyframe's record with its box)."""
    n = len(records)
    frames = dedup_consecutive(records, vectors[:n], threshold)
    regions = dedup_regions([replace(r, box=b) for r, own in zip(records, boxes, strict=True) for b in own],
                            vectors[n:], threshold)
    return Deduped(frames.kept + [n + k for k in regions.kept], frames.records + regions.records)


def dedup_regions(records: Sequence[FrameRecord], vectors: np.ndarray,
                  threshold: float | None) -> Deduped:
    """Drop each region (a record with a box; records in time order) within `threshold` of its
    camera's kept region at the same place, extending that one over it (None keeps every region)."""
    if threshold is None:
        return Deduped(list(range(len(records))), list(records))
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    kept: list[int] = []
    out: list[FrameRecord] = []
    places: dict[str, list[int]] = {}  # camera -> places in `out` of its latest kept regions
    for i, record in enumerate(records):
        if record.box is None:
            raise ValueError(f"{record.camera_id} at {record.time_ms}: a whole frame among regions; "
                             "deduplicate whole frames with dedup_consecutive")
        latest = places.setdefault(record.camera_id, [])
        here = [j for j in latest if _same_place(out[j], record)]
        same = next((j for j in here if float(unit[kept[j]] @ unit[i]) >= threshold), None)
        if same is not None:
            out[same] = replace(out[same], end_ms=max(out[same].end_ms, record.end_ms))
            continue
        latest[:] = [j for j in latest if j not in here] + [len(out)]
        kept.append(i)
        out.append(record)
    return Deduped(kept, out)


def _same_place(region: FrameRecord, record: FrameRecord) -> bool:
    """An earlier region of the camera whose box overlaps the record's."""
    return (region.box is not None and record.box is not None and region.time_ms < record.time_ms
            and region.box.iou(record.box) >= SAME_PLACE_IOU)
