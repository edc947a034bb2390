"""Clips, not frames: matching keyframes of one camera close in time become one clip hit.

A keyframe may match whole and by some of its regions (`FrameRecord.box`): they are hits of the
same keyframe, counted once in `frames`; the clip's best hit is whichever scored highest, and a
region's keeps its box (the thumbnail shows where).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from indexing.vector_index import FrameHit


@dataclass(frozen=True)
class ClipHit:
    camera_id: str
    start_ms: int  # first matching keyframe
    end_ms: int  # end of the span the last matching keyframe covers
    best: FrameHit  # the best-scoring keyframe or region: its time, box, thumbnail and segment
    frames: int  # matching keyframes (a keyframe matched whole and by regions counts once)

    @property
    def score(self) -> float:
        return self.best.score


def group_into_clips(hits: Sequence[FrameHit], max_gap_ms: int) -> list[ClipHit]:
    """Group frame hits per camera into runs whose neighbours are at most `max_gap_ms` apart.

    Clips are ordered by their best frame's score, best first.
    """
    by_camera: dict[str, list[FrameHit]] = {}
    for hit in hits:
        by_camera.setdefault(hit.record.camera_id, []).append(hit)
    clips = []
    for camera, frames in by_camera.items():
        frames.sort(key=lambda h: h.record.time_ms)
        run = [frames[0]]
        for hit in frames[1:]:
            if hit.record.time_ms - run[-1].record.end_ms > max_gap_ms:
                clips.append(_clip(camera, run))
                run = []
            run.append(hit)
        clips.append(_clip(camera, run))
    return sorted(clips, key=lambda c: -c.score)


def _clip(camera: str, run: list[FrameHit]) -> ClipHit:
    return ClipHit(camera_id=camera, start_ms=run[0].record.time_ms,
                   end_ms=max(h.record.end_ms for h in run),
                   best=max(run, key=lambda h: h.score), frames=len({h.record.time_ms for h in run}))
