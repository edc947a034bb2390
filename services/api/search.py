"""SearchService over gRPC (Search, SearchByImage, SearchSimilar, Follow): the request converted,
`SearchService` called, the hits (or a trail's steps) converted."""

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

    async def SearchSimilar(self, request: search_pb2.SearchSimilarRequest,
                            context: Context) -> search_pb2.SearchResponse:
        ref, query = convert.similar(request)
        found = await asyncio.to_thread(self._search.similar, caller(), ref, query,
                                        request.include_same_camera)
        return convert.search_response(found.result, found.model_id, request)

    async def Follow(self, request: search_pb2.FollowRequest, context: Context) -> search_pb2.FollowResponse:
        seed, query = convert.follow_request(request)
        followed = await asyncio.to_thread(self._search.follow, caller(), seed, query)
        return convert.follow_response(followed.trail, followed.model_id)
