"""Records kept as columns come back exactly as they were added, at ≈ 25 bytes per keyframe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from indexing.frame_columns import Box, CameraCodes, FrameColumns, FrameRecord
from indexing.vector_index import FrameIndex
from storage import keys
from storage.timeutil import DAY_MS

DAY = 20_000 * DAY_MS


def _record(camera: str, t: int, step: int = 2000) -> FrameRecord:
    start = t - t % 10_000
    return FrameRecord(camera, t, t + step, keys.segment_key(camera, start, start + 10_000), start,
                       start + 10_000, keys.thumbnail_key(camera, t))


def test_records_round_trip_whether_their_keys_are_derivable_or_not() -> None:
    columns = FrameColumns(DAY, CameraCodes())
    derived = [_record(f"cam-{i % 3}", DAY + 1000 * i) for i in range(30)]
    odd = [FrameRecord("cam-x", DAY + 5, DAY + 5 + 2**40, "elsewhere/seg.mp4", DAY - 1, DAY + 9, "t.jpg"),
           FrameRecord("cam-y", DAY + 7, DAY + 8, _record("cam-y", DAY + 7).segment_key, DAY, DAY + 10_000,
                       "thumbnails/other.jpg")]
    assert columns.append(derived + odd) == list(range(32))
    assert list(columns.records()) == derived + odd
    assert columns.record(31) == odd[1]


def test_a_camera_and_time_is_stored_once_and_deleted_frames_are_gone() -> None:
    columns = FrameColumns(DAY, CameraCodes())
    a, b = _record("cam-a", DAY + 4000), _record("cam-a", DAY + 2000)
    assert columns.append([a, b, a]) == [0, 1]
    assert columns.append([_record("cam-a", DAY + 4000), _record("cam-b", DAY + 4000)]) == [1]
    assert columns.span_at(0, DAY + 3000) == (DAY + 2000, DAY + 4000)
    columns.remove(np.array([1]))
    assert columns.record(1) is None
    assert columns.span_at(0, DAY + 3000) is None
    assert [r.time_ms for r in columns.records()] == [DAY + 4000, DAY + 4000]


def test_columns_cost_about_25_bytes_per_keyframe() -> None:
    columns = FrameColumns(DAY, CameraCodes())
    columns.append([_record(f"cam-{i % 100}", DAY + 350 * i) for i in range(100_000)])
    assert columns.nbytes() / 100_000 < 30


def test_a_deduplicated_span_covers_into_the_next_day() -> None:
    index = FrameIndex(4)
    last = DAY + DAY_MS - 1000
    index.add([_record("cam-a", last, step=61_000)], np.eye(4, dtype=np.float32)[:1])
    assert index.contains("cam-a", last)
    assert index.contains("cam-a", DAY + DAY_MS + 59_000)
    assert not index.contains("cam-a", DAY + DAY_MS + 60_000)
    assert not index.contains("cam-b", last)


def test_a_closed_index_refuses_searches_with_a_retryable_error(tmp_path) -> None:
    import pytest

    from indexing.errors import IndexRetiredError

    index = FrameIndex(32, vector_cache_dir=tmp_path)
    index.add([_record("cam-a", DAY + 1000)], np.eye(32, dtype=np.float32)[:1])
    assert index.search(np.eye(32, dtype=np.float32)[0], 1)
    index.close()
    assert not any(tmp_path.iterdir())  # its vector files are gone
    with pytest.raises(IndexRetiredError, match="retired"):
        index.search(np.eye(32, dtype=np.float32)[0], 1)


def _region(camera: str, t: int, box: Box, step: int = 2000) -> FrameRecord:
    return replace(_record(camera, t, step), box=box)


def test_a_keyframe_is_stored_whole_and_as_regions_each_box_once() -> None:
    columns = FrameColumns(DAY, CameraCodes())
    left, right = Box.snapped(0.0, 0.1, 0.3, 0.6), Box.snapped(0.5, 0.2, 0.9, 0.9)
    frame = _record("cam-a", DAY + 2000)
    regions = [_region("cam-a", DAY + 2000, left), _region("cam-a", DAY + 2000, right)]
    assert columns.append([frame, *regions, regions[0]]) == [0, 1, 2]
    assert columns.append([_record("cam-a", DAY + 2000), _region("cam-a", DAY + 2000, left),
                           _region("cam-a", DAY + 1000, left), _region("cam-b", DAY + 2000, left)]) == [2, 3]
    assert columns.record(1) == regions[0] and columns.record(0) == frame
    assert columns.record(3) == _region("cam-a", DAY + 1000, left)  # an earlier region, out of order
    unsnapped = _region("cam-a", DAY + 4000, Box(0.1, 0.2, 0.3, 0.4))  # kept exactly, in the side table
    assert columns.append([unsnapped]) == [0]
    assert columns.record(5) == unsnapped
    assert columns.span_at(0, DAY + 3000) == (DAY + 2000, DAY + 4000)  # the keyframe, not its regions


def test_regions_are_deleted_with_their_keyframe_and_the_keyframe_is_not_indexed_by_a_region() -> None:
    index = FrameIndex(4)
    box = Box.snapped(0.2, 0.2, 0.4, 0.6)
    vectors = np.eye(4, dtype=np.float32)
    assert index.add([_record("cam-a", DAY + 2000), _region("cam-a", DAY + 2000, box),
                      _region("cam-a", DAY + 6000, box)], vectors[:3]) == 3
    assert index.contains("cam-a", DAY + 2000) and index.contains("cam-a", DAY + 3999)
    assert not index.contains("cam-a", DAY + 6000)  # only a region of that keyframe is there
    hit = index.search(vectors[1], 1)[0]
    assert hit.record.box == box and hit.record.time_ms == DAY + 2000
    assert index.delete_range("cam-a", DAY, DAY + 5000) == 2
    assert [r.time_ms for r in index.records()] == [DAY + 6000]
    assert not index.contains("cam-a", DAY + 2000)


def test_boxes_cost_8_bytes_per_frame_only_in_shards_that_hold_regions() -> None:
    frames = FrameColumns(DAY, CameraCodes())
    frames.append([_record(f"cam-{i % 100}", DAY + 350 * i) for i in range(20_000)])
    mixed = FrameColumns(DAY, CameraCodes())
    boxes = [Box.snapped(0.1 * k, 0.1, 0.1 * k + 0.2, 0.5) for k in range(5)]
    mixed.append([r for i in range(4_000) for r in (
        _record(f"cam-{i % 100}", DAY + 1750 * i),
        *(_region(f"cam-{i % 100}", DAY + 1750 * i, b) for b in boxes))])
    assert frames.nbytes() / 20_000 < 30
    assert mixed.nbytes() / 24_000 < 40  # a region row: the columns, its box, its place in a list
    assert list(mixed.records())[1].box == boxes[0]


def test_holds_names_exactly_a_stored_frame_or_region() -> None:
    columns = FrameColumns(DAY, CameraCodes())
    box = Box.snapped(0.1, 0.1, 0.4, 0.5)
    frame, region = _record("cam-a", DAY + 2000, step=8000), _region("cam-a", DAY + 4000, box)
    columns.append([frame, region])
    assert columns.holds(frame) and columns.holds(region)
    assert not columns.holds(_record("cam-a", DAY + 4000))  # in the frame's span, but not stored
    assert not columns.holds(_region("cam-a", DAY + 4000, Box.snapped(0.1, 0.1, 0.4, 0.6)))
    assert not columns.holds(_region("cam-b", DAY + 4000, box))
    columns.remove(np.array([1]))
    assert not columns.holds(region) and columns.holds(frame)
