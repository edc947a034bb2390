"""Region proposals find a small moving subject, cover the frame with a grid for still ones, and
stay within their budget."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.frame_columns import BOX_SCALE, Box
from indexing.regions import RegionMethod, RegionProposer, crop, grid_boxes, merge

W, H = 398, 224


def _street(rng: np.random.Generator, subject_x: int | None = None) -> np.ndarray:
    """A textured still background with sensor noise, and a bright 20×50 px subject at `subject_x`."""
    base = np.random.default_rng(7).integers(60, 120, size=(H, W, 3), dtype=np.uint8)
    frame = np.clip(base.astype(np.int16) + rng.integers(-8, 9, size=base.shape), 0, 255).astype(np.uint8)
    if subject_x is not None:
        frame[100:150, subject_x:subject_x + 20] = (230, 40, 40)
    return np.asarray(frame)


def _contains(box: Box, x0: float, y0: float, x1: float, y1: float) -> bool:
    return box.x0 <= x0 and box.y0 <= y0 and box.x1 >= x1 and box.y1 >= y1


def test_a_small_moving_subject_gets_a_square_box_with_context_around_it() -> None:
    rng = np.random.default_rng(1)
    proposer = RegionProposer(max_regions=4, method=RegionMethod.MOTION)
    for x in (20, 80, 140):  # the background is learnt from the camera's first keyframes
        assert proposer.propose("cam-a", _street(rng, x)) == []
    boxes = proposer.propose("cam-a", _street(rng, 300))
    assert len(boxes) == 1
    box = boxes[0]
    assert _contains(box, 300 / W, 100 / H, 320 / W, 150 / H)
    assert box.area < 0.2  # a crop of the subject, not of the street
    assert (box.x1 - box.x0) * W == pytest.approx((box.y1 - box.y0) * H, abs=2)  # square in pixels


def test_noise_and_a_still_scene_give_no_motion_boxes_and_each_camera_has_its_own_background() -> None:
    rng = np.random.default_rng(2)
    proposer = RegionProposer(method="motion")
    for _ in range(5):
        assert proposer.propose("cam-still", _street(rng)) == []
    assert proposer.propose("cam-new", _street(rng, 300)) == []  # no background yet for this camera


def test_a_light_change_over_the_whole_frame_is_not_a_subject() -> None:
    rng = np.random.default_rng(3)
    proposer = RegionProposer(method="motion")
    for _ in range(4):
        proposer.propose("cam-a", _street(rng))
    brighter = np.clip(_street(rng).astype(np.int16) + 60, 0, 255).astype(np.uint8)
    assert proposer.propose("cam-a", brighter) == []


def test_subjects_under_the_minimum_size_are_dropped() -> None:
    rng = np.random.default_rng(4)
    proposer = RegionProposer(method="motion", min_fraction=0.05)  # the subject is ≈ 1 % of the frame
    for x in (20, 80, 140):
        proposer.propose("cam-a", _street(rng, x))
    assert proposer.propose("cam-a", _street(rng, 300)) == []


def test_the_grid_covers_the_frame_with_square_tiles_coarse_levels_first() -> None:
    tiles = grid_boxes(1920, 1080, (2, 3))
    assert len(tiles) == 8 + 18
    assert all(t.y1 - t.y0 == pytest.approx(0.5, abs=1e-4) for t in tiles[:8])
    for t in tiles:
        assert (t.x1 - t.x0) * 1920 == pytest.approx((t.y1 - t.y0) * 1080, abs=1)
    cover = np.zeros((108, 192), dtype=bool)
    for t in tiles[:8]:
        cover[round(t.y0 * 108):round(t.y1 * 108), round(t.x0 * 192):round(t.x1 * 192)] = True
    assert cover.all()


def test_a_small_budget_takes_the_grid_in_turns_so_every_tile_comes_up() -> None:
    proposer = RegionProposer(max_regions=3, method=RegionMethod.GRID, grid_rows=(2,))
    frame = _street(np.random.default_rng(5))
    seen = [b for _ in range(3) for b in proposer.propose("cam-a", frame)]
    assert len(seen) == 9 and set(seen) == set(grid_boxes(W, H, (2,)))


def test_motion_and_grid_share_the_budget_motion_first() -> None:
    rng = np.random.default_rng(6)
    proposer = RegionProposer(max_regions=5, method="motion+grid")
    for x in (20, 80, 140):
        assert len(proposer.propose("cam-a", _street(rng, x))) == 5  # the grid while there is no background
    boxes = proposer.propose("cam-a", _street(rng, 300))
    assert len(boxes) == 5
    assert _contains(boxes[0], 300 / W, 100 / H, 320 / W, 150 / H)
    assert boxes[1:] == [b for b in boxes[1:] if b in grid_boxes(W, H, (2, 3))]


def _close_up(rng: np.random.Generator, x: int) -> np.ndarray:
    """The street with a 90×150 px subject at `x`: ≈ 15 % of the frame, as in a close view."""
    frame = _street(rng)
    frame[40:190, x:x + 90] = (230, 40, 40)
    return frame


def test_a_close_view_whose_subjects_are_large_gets_no_regions_and_a_street_view_keeps_them() -> None:
    rng = np.random.default_rng(8)
    proposer = RegionProposer(max_regions=5, method="motion+grid")
    positions = [10 + (i * 37) % 290 for i in range(14)]
    close = [proposer.propose("cam-door", _close_up(rng, x)) for x in positions]
    assert close[0] and not close[-1]  # regions until its subjects' size is known, then none
    assert proposer.is_close_view("cam-door")
    street = [proposer.propose("cam-street", _street(rng, 10 + (i * 23) % 370)) for i in range(14)]
    assert all(len(boxes) == 5 for boxes in street) and not proposer.is_close_view("cam-street")
    always = RegionProposer(max_regions=5, method="motion+grid", close_view=0)
    assert all(always.propose("cam-door", _close_up(rng, x)) for x in positions)


def test_a_close_view_can_keep_its_moving_subject_s_box_and_no_grid_tiles() -> None:
    rng = np.random.default_rng(9)
    proposer = RegionProposer(max_regions=5, method="motion+grid", close_view_motion=True)
    positions = [10 + (i * 37) % 290 for i in range(14)]
    boxes = [proposer.propose("cam-door", _close_up(rng, x)) for x in positions]
    assert proposer.is_close_view("cam-door")
    assert all(len(own) == 1 for own in boxes[-4:])  # the subject alone, no tiles
    for own, x in zip(boxes[-4:], positions[-4:], strict=True):
        assert own[0].x0 <= x / 400 and own[0].x1 >= (x + 90) / 400  # around the subject
    street = [proposer.propose("cam-street", _street(rng, 10 + (i * 23) % 370)) for i in range(14)]
    assert all(len(own) == 5 for own in street)  # a street view keeps motion and grid


def test_a_proposer_told_a_camera_s_view_gives_a_close_view_no_regions_from_its_first_keyframe() -> None:
    rng = np.random.default_rng(10)
    positions = [10 + (i * 37) % 290 for i in range(14)]
    learner = RegionProposer(max_regions=5, method="motion+grid")
    for x in positions:
        learner.propose("cam-door", _close_up(rng, x))
    learned = learner.view("cam-door")
    assert learned is not None and learned.close and learned.seen >= len(learned.subjects) >= 8
    fresh = RegionProposer(max_regions=5, method="motion+grid")
    assert fresh.view("cam-door") is None and fresh.propose("cam-door", _close_up(rng, 40))  # tiles
    told = RegionProposer(max_regions=5, method="motion+grid")
    told.recall("cam-door", learned.subjects)
    assert all(told.propose("cam-door", _close_up(rng, x)) == [] for x in positions)
    told.recall("cam-door", [0.001] * 64)  # what it has seen itself is newer: kept
    assert told.is_close_view("cam-door")
    with pytest.raises(ValueError, match="fractions of the frame"):
        told.recall("cam-x", [0.5, float("nan")])


def test_off_and_zero_regions_propose_nothing() -> None:
    frame = _street(np.random.default_rng(7))
    assert RegionProposer(method="off").propose("cam-a", frame) == []
    assert RegionProposer(max_regions=0).propose("cam-a", frame) == []


def test_bad_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="min_fraction"):
        RegionProposer(min_fraction=1.5)
    with pytest.raises(ValueError):
        RegionProposer(method="detector")
    with pytest.raises(ValueError, match="close_view"):
        RegionProposer(close_view=1.0)


def test_crop_takes_the_box_at_the_image_resolution() -> None:
    image = np.arange(100 * 200 * 3, dtype=np.uint32).astype(np.uint8).reshape(100, 200, 3)
    part = crop(image, Box(0.25, 0.5, 0.75, 1.0))
    assert part.shape == (50, 100, 3)
    assert (part == image[50:100, 50:150]).all()
    assert crop(image, Box(0.999, 0.999, 1.0, 1.0)).shape == (1, 1, 3)


def test_boxes_snap_to_what_the_index_keeps_and_mostly_overlapping_boxes_merge() -> None:
    box = Box.snapped(0.1, 0.2, 0.3, 0.4)
    assert all(round(v * BOX_SCALE) == v * BOX_SCALE for v in (box.x0, box.y0, box.x1, box.y1))
    assert Box.snapped(0.5, 0.5, 0.5, 0.5).area > 0
    with pytest.raises(ValueError, match="not a region"):
        Box(0.5, 0.1, 0.4, 0.2)
    a, b, far = Box(0.1, 0.1, 0.3, 0.3), Box(0.12, 0.12, 0.32, 0.32), Box(0.7, 0.7, 0.9, 0.9)
    assert merge([a, b, far]) == [Box(0.1, 0.1, 0.32, 0.32), far]
    assert a.iou(far) == 0 and a.iou(a) == 1
