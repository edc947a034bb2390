"""Boxes, hit references and trails across the API: what a request may name, what a response
carries, and the reference `vigil search` prints for each hit and `vigil follow` takes back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from indexing.clips import ClipHit
from indexing.frame_columns import Box, FrameRecord
from indexing.vector_index import FrameHit
from services.api import convert
from services.api.client import HitRef, _hit
from services.api.timestamps import ts_from_ms
from services.application.follow import Trail
from services.errors import InvalidArgumentError
from services.index.search import FrameRef, SearchResult
from vigil.v1 import search_pb2

T = 1_790_000_000_000


def _clip(box: Box | None) -> ClipHit:
    record = FrameRecord("cam-7", T, T + 2000, "segments/cam-7/s.mp4", T, T + 4000,
                         "thumbnails/cam-7/t.jpg", box)
    return ClipHit("cam-7", T, T + 2000, FrameHit(record, 0.5), 1)


def test_a_hit_carries_its_region_and_a_whole_frame_hit_none() -> None:
    region = convert.hit_message(_clip(Box(0.125, 0.25, 0.5, 0.75)))
    assert region.HasField("box") and (region.box.x0, region.box.y1) == (0.125, 0.75)
    assert not convert.hit_message(_clip(None)).HasField("box")
    assert _hit(region).box == (0.125, 0.25, 0.5, 0.75) and _hit(convert.hit_message(_clip(None))).box is None


@pytest.mark.parametrize("coords", [(0.5, 0.0, 0.5, 1.0), (0.0, 0.6, 1.0, 0.2), (-0.1, 0.0, 0.5, 0.5),
                                    (0.0, 0.0, 1.5, 0.5), (float("nan"), 0.0, 0.5, 0.5)])
def test_a_box_that_is_not_normalised_is_refused_naming_it(coords: tuple[float, ...]) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a normalised box"):
        convert.box(search_pb2.Box(x0=coords[0], y0=coords[1], x1=coords[2], y1=coords[3]))


def test_a_hit_reference_needs_its_camera_and_time() -> None:
    at = ts_from_ms(T)
    assert convert.hit_ref(search_pb2.HitRef(camera_id="cam-7", frame_time=at)) == FrameRef("cam-7", T)
    boxed = search_pb2.HitRef(camera_id="cam-7", frame_time=at,
                              box=search_pb2.Box(x0=0.1, y0=0.2, x1=0.3, y1=0.4))
    assert convert.hit_ref(boxed).box == Box(0.1, 0.2, 0.3, 0.4)
    with pytest.raises(InvalidArgumentError, match=r"hit\.camera_id is required"):
        convert.hit_ref(search_pb2.HitRef(frame_time=at))
    with pytest.raises(InvalidArgumentError, match=r"hit\.frame_time is required"):
        convert.hit_ref(search_pb2.HitRef(camera_id="cam-7"))
    with pytest.raises(InvalidArgumentError, match="hit is required"):
        convert.similar(search_pb2.SearchSimilarRequest(top_k=3))


def test_a_trail_starts_from_a_hit_or_a_photo() -> None:
    hit = search_pb2.HitRef(camera_id="cam-7", frame_time=ts_from_ms(T))
    seed, query = convert.follow_request(search_pb2.FollowRequest(hit=hit, max_steps=5, expand=True))
    assert seed == FrameRef("cam-7", T)
    assert (query.max_steps, query.expand, query.min_score) == (5, True, None)
    seed, query = convert.follow_request(search_pb2.FollowRequest(image=b"jpeg", min_score=0.5))
    assert seed == b"jpeg" and query.min_score == 0.5
    with pytest.raises(InvalidArgumentError, match="starts from a hit or an image"):
        convert.follow_request(search_pb2.FollowRequest(max_steps=5))
    with pytest.raises(InvalidArgumentError, match=r"min_score 2\.0 is outside"):
        convert.follow_request(search_pb2.FollowRequest(image=b"jpeg", min_score=2))


def test_a_trails_steps_are_hits_in_the_order_given() -> None:
    steps = [_clip(None), _clip(Box(0.0, 0.0, 0.5, 0.5))]
    response = convert.follow_response(Trail(steps, False), "model-1")
    assert [s.HasField("box") for s in response.steps] == [False, True] and response.model_id == "model-1"


def test_a_similar_search_pages_like_any_search() -> None:
    def request(camera: str, token: str = "") -> search_pb2.SearchSimilarRequest:
        return search_pb2.SearchSimilarRequest(
            hit=search_pb2.HitRef(camera_id=camera, frame_time=ts_from_ms(T)), top_k=1, page_token=token)
    first = convert.search_response(SearchResult([_clip(None)], False, more=True), "m", request("cam-7"))
    assert convert.similar(request("cam-7", first.next_page_token))[1].offset == 1
    other = request("cam-8", first.next_page_token)
    with pytest.raises(InvalidArgumentError, match="different query"):
        convert.similar(other)


def test_the_printed_hit_reference_reads_back_exactly() -> None:
    ref = HitRef("cam-7", datetime(2026, 11, 20, 13, 0, 2, 500_000, tzinfo=UTC), (0.125, 0.4, 0.2, 0.65))
    assert str(ref) == "cam-7@2026-11-20T13:00:02.500Z#0.1250,0.4000,0.2000,0.6500"
    assert HitRef.parse(str(ref)) == ref
    whole = HitRef.parse("cam-7@2026-11-20T20:00:02.500+07:00")
    assert whole.box is None and str(whole) == "cam-7@2026-11-20T13:00:02.500Z"
    assert whole.message().frame_time == ts_from_ms(int(whole.frame_time.timestamp() * 1000))


@pytest.mark.parametrize("text", ["cam-7", "cam-7@yesterday", "cam-7@2026-11-20T13:00:02",
                                  "cam-7@2026-11-20T13:00:02Z#0.1,0.2", "cam 7@2026-11-20T13:00:02Z"])
def test_a_malformed_hit_reference_is_refused_naming_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a hit reference CAMERA@ISO-TIME\[#x0,y0,x1,y1\]"):
        HitRef.parse(text)
