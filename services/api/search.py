"""SearchService over gRPC: the request converted, `SearchService` called, the hits converted."""

from __future__ import annotations

import asyncio

from services.api import convert
from services.api.calls import Context, caller
from services.application.search import SearchService
from vigil.v1 import search_pb2, search_pb2_grpc


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, search: SearchService) -> None:
        self._search = search

    async def Search(self, request: search_pb2.SearchRequest,
                     context: Context) -> search_pb2.SearchResponse:
        found = await asyncio.to_thread(self._search.by_text, caller(), request.text,
                                        convert.search_query(request))
        return convert.search_response(found.result, found.model_id, request)

    async def SearchByImage(self, request: search_pb2.SearchByImageRequest,
                            context: Context) -> search_pb2.SearchResponse:
        found = await asyncio.to_thread(self._search.by_image, caller(), request.image,
                                        convert.search_query(request))
        return convert.search_response(found.result, found.model_id, request)
