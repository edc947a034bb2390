"""Search by text or image, inside the caller's cameras, audited with what it returned.

The query is narrowed to the cameras the caller may see before the index is searched (a caller
who sees none gets an empty answer without a search). Limits: `server.max_query_chars`,
`server.max_top_k` (0 asks for `DEFAULT_TOP_K`). A search that meets a version a model switch
has just retired runs again on the new one. The audit details name the query, the filter and
every clip returned.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from indexing.errors import IndexRetiredError
from indexing.vector_index import SearchFilter
from services.application.audit import AuditTrail, Caller
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError
from services.index.search import SearchEngine, SearchQuery, SearchResult
from services.settings import ServerSettings

DEFAULT_TOP_K = 10
Observe = Callable[[str, float], None]  # (query kind, seconds): the search latency metric


@dataclass(frozen=True)
class Found:
    result: SearchResult
    model_id: str  # the version that answered


class Version(Protocol):
    @property
    def search(self) -> SearchEngine: ...

    @property
    def model_id(self) -> str: ...


class Versions(Protocol):
    """The index version serving now (`services.index.serving.ServingRef`; a switch replaces it)."""

    @property
    def current(self) -> Version: ...


def filter_details(where: SearchFilter) -> dict[str, object]:
    return {"camera_ids": sorted(where.camera_ids), "start_ms": where.start_ms, "end_ms": where.end_ms}


class SearchService:
    def __init__(self, visibility: Visibility, serving: Versions, audit: AuditTrail,
                 limits: ServerSettings, observe: Observe) -> None:
        self._visibility, self._serving, self._audit = visibility, serving, audit
        self._limits, self._observe = limits, observe

    def by_text(self, caller: Caller, text: str, query: SearchQuery) -> Found:
        text = text.strip()
        limit = self._limits.max_query_chars
        if not text:
            raise InvalidArgumentError("text query is empty")
        if len(text) > limit:
            raise InvalidArgumentError(f"text query has {len(text)} characters; the limit is {limit}")
        return self._run(caller, lambda engine, q: engine.by_text(text, q), query, "text", {"text": text})

    def by_image(self, caller: Caller, image: bytes, query: SearchQuery) -> Found:
        if not image:
            raise InvalidArgumentError("image is empty")
        return self._run(caller, lambda engine, q: engine.by_image(image, q), query, "image",
                         {"image_sha256": hashlib.sha256(image).hexdigest()})

    def _top_k(self, query: SearchQuery) -> SearchQuery:
        limit = self._limits.max_top_k
        if query.top_k < 0 or query.top_k > limit:
            raise InvalidArgumentError(f"top_k {query.top_k} is out of range 1..{limit}")
        return replace(query, top_k=query.top_k or DEFAULT_TOP_K)

    def _visible(self, caller: Caller, query: SearchQuery) -> SearchQuery | None:
        """The query inside the caller's cameras; None: the caller sees none of those asked for."""
        visible = self._visibility.cameras(caller.principal)
        if visible is None:
            return query
        cameras = query.where.camera_ids & visible if query.where.camera_ids else visible
        if not cameras:
            return None
        return replace(query, where=replace(query.where, camera_ids=frozenset(cameras)))

    def _run(self, caller: Caller, search: Callable[[SearchEngine, SearchQuery], SearchResult],
             query: SearchQuery, kind: str, details: dict[str, Any]) -> Found:
        query = self._top_k(query)
        started = time.perf_counter()
        visible = self._visible(caller, query)
        result = SearchResult([], False) if visible is None else self._search(search, visible)
        self._observe(kind, time.perf_counter() - started)
        self._audit.touched(caller, "search", {
            **details, "filter": filter_details(query.where), "frames": query.frames,
            "returned": [[h.camera_id, h.start_ms, h.end_ms] for h in result.hits]})
        return Found(result, self._serving.current.model_id)

    def _search(self, search: Callable[[SearchEngine, SearchQuery], SearchResult],
                query: SearchQuery) -> SearchResult:
        try:
            return search(self._serving.current.search, query)
        except IndexRetiredError:  # a model switch retired the version mid-search: the new one
            return search(self._serving.current.search, query)
