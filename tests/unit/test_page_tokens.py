"""Search page tokens: the next page starts where the last one ended, and a token works only
for the query it was issued for."""

from __future__ import annotations

import base64

import pytest

from indexing.clips import ClipHit
from indexing.frame_columns import FrameRecord
from indexing.vector_index import FrameHit
from services.api.convert import MAX_OFFSET, page_token, search_query, search_response
from services.errors import InvalidArgumentError
from services.index.search import SearchResult
from vigil.v1 import search_pb2

T0 = 1_790_000_000_000


def _hits(n: int) -> list[ClipHit]:
    records = [FrameRecord("cam-a", T0 + 2000 * i, T0 + 2000 * (i + 1), "segments/cam-a/s.mp4", T0,
                           T0 + 60_000, f"thumbnails/cam-a/{i}.jpg") for i in range(n)]
    return [ClipHit("cam-a", r.time_ms, r.end_ms, FrameHit(r, 0.5), 1) for r in records]


def _next(request: search_pb2.SearchRequest, shown: int, more: bool = True) -> str:
    result = SearchResult(hits=_hits(shown), no_good_match=False, more=more)
    return search_response(result, "model-a", request).next_page_token


def test_each_page_starts_where_the_last_one_ended() -> None:
    first = search_pb2.SearchRequest(text="a red car", top_k=3)
    assert search_query(first).offset == 0
    second = search_pb2.SearchRequest(text="a red car", top_k=3, page_token=_next(first, 3))
    assert search_query(second).offset == 3
    third = search_pb2.SearchRequest(text="a red car", top_k=3, page_token=_next(second, 3))
    assert search_query(third).offset == 6
    assert _next(third, 2, more=False) == ""  # the last page


def test_a_token_of_another_query_or_not_ours_is_refused() -> None:
    token = _next(search_pb2.SearchRequest(text="a red car", top_k=3), 3)
    for changed in (search_pb2.SearchRequest(text="a blue car", top_k=3, page_token=token),
                    search_pb2.SearchRequest(text="a red car", top_k=3, frames=True, page_token=token)):
        with pytest.raises(InvalidArgumentError, match="different query"):
            search_query(changed)
    with pytest.raises(InvalidArgumentError, match="not one this server issued"):
        search_query(search_pb2.SearchRequest(text="a red car", top_k=3, page_token="%%%"))


def test_a_token_past_the_deepest_page_is_refused() -> None:
    issued = _next(search_pb2.SearchRequest(text="a red car", top_k=3), 3)
    fingerprint = base64.urlsafe_b64decode(issued).decode().split(":")[1]  # the query it is bound to
    deep = search_pb2.SearchRequest(text="a red car", top_k=3,
                                    page_token=page_token(MAX_OFFSET + 1, fingerprint))
    with pytest.raises(InvalidArgumentError, match="deepest hits"):
        search_query(deep)
