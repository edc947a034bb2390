"""A search a partitioned index could not finish says so: the days (and camera groups) no live
shard server held travel in SearchResponse.unsearched and `vigil search` prints each of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services import cli
from services.api import convert
from services.api.client import _result
from services.index.search import SearchResult
from services.index.searchable import Unsearched
from vigil.v1 import search_pb2

DAY = 20_426  # 2025-12-04


def test_the_days_not_searched_reach_the_client_and_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    result = SearchResult([], no_good_match=False,
                          unsearched=(Unsearched("", DAY), Unsearched("north", DAY + 1)))
    response = convert.search_response(result, "m1", search_pb2.SearchRequest(text="x"))
    got = _result(response)
    assert got.unsearched == [("", datetime(2025, 12, 4, tzinfo=UTC)),
                              ("north", datetime(2025, 12, 5, tzinfo=UTC))]
    cli._print_unsearched(got.unsearched)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("NOT SEARCHED: 2025-12-04 (UTC): ")
    assert printed[1].startswith("NOT SEARCHED: 2025-12-05 (UTC) of camera group 'north': ")


def test_a_complete_search_names_nothing() -> None:
    response = convert.search_response(SearchResult([], False), "m1", search_pb2.SearchRequest(text="x"))
    assert list(response.unsearched) == [] and _result(response).unsearched == []
