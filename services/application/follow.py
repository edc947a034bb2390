"""Follow a subject from camera to camera: a time-ordered trail of visits within a window.

The algorithm (`follow`), for one index version:
1. The query is the seed's vector: the stored vector of the hit the investigator picked (its
   keyframe, or the region of it, `FrameRef`), or the embedding of a photo.
2. One frame-level search (keyframe and region vectors, not clips) with the filter applied
   inside FAISS: the window and the caller's cameras (∩ those asked for), for the
   `MAX_CANDIDATES` best vectors. A hit's own camera is searched too, so the trail holds the
   seed's own visit.
3. Hits below the threshold are dropped: the request's `min_score`, else the appearance cut
   (`SearchEngine.appearance_threshold`: `search.appearance_z` standard deviations above what
   the query scores with a sample of stored footage, and never below the model's calibrated
   threshold). With neither (`appearance_z` unset, a model without a calibration) there is no
   cut: the trail is then the best visits, ranked, and `max_steps` bounds it.
4. Visits: per camera, hits in time order at most `search.clip_gap_ms` apart form one visit (the
   grouping clips use). A visit stands for the subject's stay in view: it spans its first to
   its last matching keyframe and is shown by its best hit (time, box, score, segment,
   thumbnail). A subject that comes back to a camera later makes a second visit.
5. The `max_steps` best visits, by their best hit's score, ordered by the time of that best hit
   (then camera) are the trail (`trail`, pure): the moment the subject is seen best orders the
   cameras even when a visit's span is stretched by a look-alike passing just before.
6. With `expand`: average query expansion. The query becomes the normalised sum of the seed's
   vector and the stored vectors of the best hits of the `EXPAND_STEPS` best visits found, and
   steps 2-5 run again with it; scores are then against the expanded query. Another view of
   the subject (another camera's angle and light) pulls in views the first query missed; it can
   also pull towards a look-alike, so it is the caller's choice.

`no_good_match` is as for search: footage was searched and nothing passed the threshold.
The caller's scoping, limits and audit are `services.application.search.SearchService.follow`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexing.clips import ClipHit, group_into_clips
from indexing.vector_index import FrameHit, SearchFilter
from services.index.search import FrameRef, SearchEngine

EXPAND_STEPS = 3


@dataclass(frozen=True)
class FollowQuery:
    where: SearchFilter  # the window and cameras (already inside the caller's)
    max_steps: int
    min_score: float | None = None  # None: the engine's threshold for its model
    expand: bool = False


@dataclass(frozen=True)
class Trail:
    steps: list[ClipHit]  # one per visit, in time order
    no_good_match: bool  # footage was searched, nothing passed the threshold


def trail(kept: Sequence[FrameHit], gap_ms: int, max_steps: int) -> list[ClipHit]:
    """The `max_steps` best visits of the hits that passed the threshold, in time order."""
    best = group_into_clips(kept, gap_ms)[:max_steps]
    return sorted(best, key=lambda v: (v.best.record.time_ms, v.camera_id))


def expanded(seed: np.ndarray, views: Sequence[np.ndarray]) -> np.ndarray:
    """The unit vector of the seed plus the other views of the subject (average query expansion)."""
    total = np.asarray(np.sum([seed, *views], axis=0), dtype=np.float32)
    norm = float(np.linalg.norm(total))
    return seed if norm == 0.0 else total / norm


def follow(engine: SearchEngine, seed: np.ndarray, query: FollowQuery) -> Trail:
    """The trail of the subject `seed` shows (see the module docstring)."""
    searched, kept = engine.frames(seed, query.where, query.min_score)
    steps = trail(kept, engine.clip_gap_ms, query.max_steps)
    if query.expand and steps:
        best = sorted(steps, key=lambda v: -v.score)[:EXPAND_STEPS]
        views = [v for s in best if (v := engine.stored(FrameRef.of(s.best.record))) is not None]
        searched, kept = engine.frames(expanded(seed, views), query.where, query.min_score)
        steps = trail(kept, engine.clip_gap_ms, query.max_steps)
    return Trail(steps, no_good_match=bool(searched) and not steps)
