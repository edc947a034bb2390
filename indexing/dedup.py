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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from indexing.vector_index import FrameRecord


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
