"""Static cameras: near-identical consecutive keyframes are stored once, changed content never dropped."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np

from indexing.dedup import RegionMemory, SameScene, dedup_consecutive, dedup_regions
from indexing.frame_columns import Box
from indexing.vector_index import FrameIndex, FrameRecord

DIM = 64
SAME_SCENE = SameScene(0.999)  # the bundled model's calibrated cosine; the logic holds for any


def _record(i: int, camera: str = "cam-1", step: int = 2000) -> FrameRecord:
    return FrameRecord(camera, i * step, (i + 1) * step, "s", 0, 10_000, f"t{i}")


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _static_then_change(rng: np.random.Generator) -> np.ndarray:
    """Five frames of one scene with sensor noise, then five of a car in front of it."""
    scene, car = rng.standard_normal(DIM), rng.standard_normal(DIM)
    frames = [scene + 0.01 * rng.standard_normal(DIM) for _ in range(5)]
    frames += [scene + 0.8 * car + 0.01 * rng.standard_normal(DIM) for _ in range(5)]
    return _unit(np.array(frames))


def test_a_static_run_is_one_record_spanning_it_and_a_change_starts_another() -> None:
    vectors = _static_then_change(np.random.default_rng(0))
    out = dedup_consecutive([_record(i) for i in range(10)], vectors, SAME_SCENE)
    assert out.kept == [0, 5]
    assert [(r.time_ms, r.end_ms) for r in out.records] == [(0, 10_000), (10_000, 20_000)]
    assert out.stands_for == [0] * 5 + [5] * 5  # which kept keyframe a search finds for each


def test_a_slow_drift_is_not_swallowed_by_comparing_neighbours() -> None:
    rng = np.random.default_rng(1)
    start, end = rng.standard_normal(DIM), rng.standard_normal(DIM)
    vectors = _unit(np.array([start + (end - start) * t for t in np.linspace(0, 1, 80)]))
    assert min(float(a @ b) for a, b in itertools.pairwise(vectors)) >= SAME_SCENE.cosine
    out = dedup_consecutive([_record(i) for i in range(80)], vectors, SAME_SCENE)
    assert 1 < len(out.kept) < 80
    for first, nxt in zip(out.kept, [*out.kept[1:], 80], strict=True):  # each kept frame stands for its run
        assert all(float(vectors[first] @ vectors[j]) >= SAME_SCENE.cosine for j in range(first, nxt))


def test_gaps_and_other_cameras_are_never_merged() -> None:
    v = _unit(np.ones((3, DIM)))
    gap = dedup_consecutive([_record(0), _record(2), _record(3)], v, SAME_SCENE)  # 2000..4000 missing
    assert gap.kept == [0, 1]
    cams = dedup_consecutive([_record(0), _record(1, "cam-2"), _record(2)], v, SAME_SCENE)
    assert cams.kept == [0, 1, 2]


def test_a_deduplicated_span_counts_as_indexed_so_reingest_adds_nothing() -> None:
    vectors = _static_then_change(np.random.default_rng(2))
    records = [_record(i) for i in range(10)]
    out = dedup_consecutive(records, vectors, SAME_SCENE)
    index = FrameIndex(DIM)
    index.add(out.records, vectors[out.kept])
    assert len(index) == 2
    assert all(index.contains("cam-1", r.time_ms) for r in records)
    assert not index.contains("cam-1", 20_000) and not index.contains("cam-2", 0)


def _region(i: int, box: Box, camera: str = "cam-1") -> FrameRecord:
    return replace(_record(i, camera), box=box)


def test_a_still_region_is_stored_once_per_place_and_a_new_subject_there_is_kept() -> None:
    rng = np.random.default_rng(5)
    left, right = Box.snapped(0.0, 0.0, 0.4, 0.5), Box.snapped(0.5, 0.5, 0.9, 1.0)
    frames = _static_then_change(rng)  # a still tile, then a subject walks into it
    wall = _unit(rng.standard_normal(DIM) + 0.01 * rng.standard_normal((10, DIM)))
    records = [r for i in range(10) for r in (_region(i, left), _region(i, right))]
    vectors = np.stack([v for i in range(10) for v in (frames[i], wall[i])])
    out = dedup_regions(records, vectors, SAME_SCENE)
    assert [(r.box, r.time_ms, r.end_ms) for r in out.records] == [
        (left, 0, 10_000), (right, 0, 20_000), (left, 10_000, 20_000)]
    assert out.kept == [0, 1, 10]
    assert out.stands_for == [0, 1] * 5 + [10, 1] * 5


def test_regions_at_other_places_or_cameras_are_not_duplicates_and_none_keeps_all() -> None:
    box, moved = Box.snapped(0.1, 0.1, 0.3, 0.3), Box.snapped(0.5, 0.5, 0.7, 0.7)
    same = _unit(np.ones((3, DIM)))
    records = [_region(0, box), _region(1, moved), _region(1, box, camera="cam-2")]
    assert dedup_regions(records, same, SAME_SCENE).kept == [0, 1, 2]
    assert dedup_regions([_region(0, box), _region(1, box)], same[:2], None).kept == [0, 1]
    assert dedup_regions([_region(0, box), _region(1, box)], same[:2], SAME_SCENE).kept == [0]


def test_a_later_batch_does_not_store_a_still_region_again_within_the_memory_horizon() -> None:
    box = Box.snapped(0.1, 0.1, 0.4, 0.5)
    rng = np.random.default_rng(6)
    still, changed = _unit(rng.standard_normal(DIM)), _unit(rng.standard_normal(DIM))
    memory = RegionMemory(horizon_ms=20_000)
    first = dedup_regions([_region(0, box)], still[None], SAME_SCENE, memory)
    assert first.kept == [0]
    assert dedup_regions([_region(1, box)], still[None], SAME_SCENE, memory).kept == [0]  # not stored
    memory.remember(first.records, still[None], SAME_SCENE)  # acknowledged: it stands for later copies
    recalled = dedup_regions([_region(2, box)], still[None], SAME_SCENE, memory)
    assert recalled.kept == [] and recalled.stands_for == [None]  # an earlier batch's region
    assert dedup_regions([_region(2, box)], changed[None], SAME_SCENE, memory).kept == [0]
    other = _region(2, box, camera="cam-2")
    assert dedup_regions([other], still[None], SAME_SCENE, memory).kept == [0]
    assert dedup_regions([_region(11, box)], still[None], SAME_SCENE, memory).kept == [0]  # > horizon
    moved = Box.snapped(0.6, 0.1, 0.9, 0.5)
    assert dedup_regions([_region(2, moved)], still[None], SAME_SCENE, memory).kept == [0]


def test_the_rule_compares_only_the_leading_part_a_fused_vector_s_clip_part() -> None:
    """A fused model's appearance part (`indexing.reid`) moves with sensor noise; dedup ignores it."""
    rng = np.random.default_rng(4)
    clip = np.tile(rng.standard_normal(DIM), (4, 1)) + 1e-4 * rng.standard_normal((4, DIM))
    fused = np.concatenate([_unit(clip) * 0.3 ** 0.5, _unit(rng.standard_normal((4, 16))) * 0.7 ** 0.5], 1)
    records = [_record(i) for i in range(4)]
    assert dedup_consecutive(records, fused, SameScene(SAME_SCENE.cosine)).kept == [0, 1, 2, 3]
    assert dedup_consecutive(records, fused, SameScene(SAME_SCENE.cosine, DIM)).kept == [0]
    box = Box(0.1, 0.1, 0.3, 0.3)
    regions = [replace(r, box=box) for r in records]
    assert dedup_regions(regions, fused, SameScene(SAME_SCENE.cosine, DIM)).kept == [0]
