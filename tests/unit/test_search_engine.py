"""SearchEngine on an index built by hand: text and photo queries find the right clips, filters
hold, the threshold drops weak hits and says "no good match", pages follow each other."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from indexing.errors import ImageDecodeError
from indexing.frame_columns import FrameRecord
from indexing.vector_index import FrameIndex, SearchFilter
from services.index.search import SearchEngine, SearchQuery
from services.settings import SearchSettings
from tests.colour_embedder import DIM, ColourEmbedder

T0 = 1_790_000_000_000
RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)
Colour = tuple[int, int, int]
# camera → the colour of each keyframe, every 2 s from T0 (a gap of 20 s splits a clip), each later one
# a little greyer: no two keyframes score alike
FOOTAGE: dict[str, list[Colour | None]] = {
    "cam-red": [RED, RED, RED, None, None, None, None, None, None, None, None, None, RED],
    "cam-blue": [BLUE, BLUE],
    "cam-green": [GREEN],
}


def _record(camera: str, t: int) -> FrameRecord:
    return FrameRecord(camera, t, t + 2000, f"segments/{camera}/s.mp4", t, t + 2000,
                       f"thumbnails/{camera}/{t}.jpg")


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def index() -> FrameIndex:
    embedder, index = ColourEmbedder(), FrameIndex(DIM)
    for camera, colours in FOOTAGE.items():
        shots = [(T0 + 2000 * i, c) for i, c in enumerate(colours) if c is not None]
        images = [np.full((24, 32, 3), c, dtype=np.uint8) + np.uint8(2 * (t - T0) // 2000) for t, c in shots]
        index.add([_record(camera, t) for t, _ in shots], embedder.embed_images(images))
    return index


def _engine(index: FrameIndex, min_score: float | None = 0.9) -> SearchEngine:
    return SearchEngine(ColourEmbedder(), index, SearchSettings(clip_gap_ms=6000), min_score)


def test_a_text_query_finds_clips_of_matching_footage_best_first(index: FrameIndex) -> None:
    result = _engine(index).by_text("red", SearchQuery(top_k=10))
    assert not result.no_good_match and not result.more
    assert [(h.camera_id, h.start_ms - T0, h.end_ms - T0, h.frames) for h in result.hits] == [
        ("cam-red", 0, 6000, 3), ("cam-red", 24_000, 26_000, 1)]
    assert result.hits[0].best.record.time_ms == T0  # the reddest keyframe stands for its clip


def test_a_photo_finds_the_footage_it_shows(index: FrameIndex) -> None:
    result = _engine(index).by_image(_png(BLUE), SearchQuery(top_k=10))
    assert [(h.camera_id, h.frames) for h in result.hits] == [("cam-blue", 2)]


def test_a_file_that_is_no_image_is_refused(index: FrameIndex) -> None:
    with pytest.raises(ImageDecodeError, match="not a decodable image"):
        _engine(index).by_image(b"GIF89a but not really", SearchQuery(top_k=1))


def test_filters_keep_to_the_cameras_and_time_asked_for(index: FrameIndex) -> None:
    engine = _engine(index, min_score=None)
    blue_camera = SearchFilter(camera_ids=frozenset({"cam-blue"}))
    only_blue = engine.by_text("red", SearchQuery(top_k=10, where=blue_camera))
    assert {h.camera_id for h in only_blue.hits} == {"cam-blue"}
    late = engine.by_text("red", SearchQuery(top_k=10, frames=True, where=SearchFilter(start_ms=T0 + 2000,
                                                                                      end_ms=T0 + 30_000)))
    assert sorted((h.camera_id, h.start_ms - T0) for h in late.hits) == [
        ("cam-blue", 2000), ("cam-red", 2000), ("cam-red", 4000), ("cam-red", 24_000)]


def test_nothing_above_the_threshold_is_no_good_match_but_an_empty_search_is_not(index: FrameIndex) -> None:
    engine = _engine(index)
    green_cameras = SearchFilter(camera_ids=frozenset({"cam-green"}))
    weak = engine.by_text("red", SearchQuery(top_k=10, where=green_cameras))
    assert weak.hits == [] and weak.no_good_match
    kept = engine.by_text("red", SearchQuery(top_k=10, where=green_cameras, min_score=-1.0))  # per query
    assert [h.camera_id for h in kept.hits] == ["cam-green"] and not kept.no_good_match
    no_camera = SearchFilter(camera_ids=frozenset({"cam-x"}))
    nowhere = engine.by_text("red", SearchQuery(top_k=10, where=no_camera))
    assert nowhere.hits == [] and not nowhere.no_good_match  # no footage searched at all
    assert _engine(FrameIndex(DIM)).by_text("red", SearchQuery(top_k=10)).no_good_match is False


def test_pages_of_frames_follow_each_other_without_overlap(index: FrameIndex) -> None:
    engine = _engine(index, min_score=None)
    pages, offset, more = [], 0, True
    while more:
        result = engine.by_text("green", SearchQuery(top_k=2, frames=True, offset=offset))
        pages.append([(h.camera_id, h.start_ms) for h in result.hits])
        offset, more = offset + 2, result.more
    frames = [f for page in pages for f in page]
    assert len(frames) == len(set(frames)) == 7 and [len(p) for p in pages] == [2, 2, 2, 1]
    assert frames[0][0] == "cam-green"
