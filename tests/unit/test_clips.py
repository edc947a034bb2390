from __future__ import annotations

from dataclasses import replace

from indexing.clips import group_into_clips
from indexing.frame_columns import Box
from indexing.vector_index import FrameHit, FrameRecord


def _hit(camera: str, t: int, score: float) -> FrameHit:
    return FrameHit(FrameRecord(camera, t, t + 2000, "seg", 0, 0, f"thumb-{t}"), score)


def test_frames_close_in_time_form_one_clip_per_camera_run() -> None:
    hits = [_hit("a", 0, 0.5), _hit("a", 2000, 0.9), _hit("a", 4000, 0.4),
            _hit("a", 60_000, 0.7), _hit("b", 2000, 0.8)]
    clips = group_into_clips(hits, max_gap_ms=3000)
    assert [(c.camera_id, c.start_ms, c.end_ms, c.frames) for c in clips] == [
        ("a", 0, 6000, 3), ("b", 2000, 4000, 1), ("a", 60_000, 62_000, 1)]
    assert clips[0].best.record.thumbnail_key == "thumb-2000"
    assert clips[0].score == 0.9


def test_no_hits_no_clips() -> None:
    assert group_into_clips([], 1000) == []


def test_a_keyframe_matched_whole_and_by_regions_counts_once_and_the_best_region_keeps_its_box() -> None:
    box = Box.snapped(0.6, 0.4, 0.7, 0.6)
    hits = [_hit("a", 0, 0.3), FrameHit(replace(_hit("a", 0, 0).record, box=box), 0.8),
            FrameHit(replace(_hit("a", 0, 0).record, box=Box.snapped(0, 0, 0.5, 0.5)), 0.4),
            _hit("a", 2000, 0.5)]
    [clip] = group_into_clips(hits, max_gap_ms=3000)
    assert (clip.start_ms, clip.end_ms, clip.frames) == (0, 4000, 2)
    assert clip.best.record.box == box and clip.score == 0.8
