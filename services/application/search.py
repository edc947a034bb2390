"""Search by text, image or a hit found before, and follow a subject, inside the caller's
cameras, audited with what it returned.

The query is narrowed to the cameras the caller may see before the index is searched (a caller
who sees none gets an empty answer without a search). A hit named as a query (`FrameRef`:
SearchSimilar, Follow) must be on a camera the caller sees: a hidden camera's hit is NOT_FOUND
with the words used for a hit that does not exist. Limits: `server.max_query_chars`,
`server.max_top_k` (0 asks for `DEFAULT_TOP_K`; a trail's `max_steps` likewise). A search that
meets a version a model switch has just retired runs again on the new one (a hit's stored
vector is read again there). The audit details name the query (text, image digest, or hit),
the filter and every clip or step returned. Follow's algorithm: `services.application.follow`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np

from indexing.errors import IndexRetiredError
from indexing.vector_index import SearchFilter
from services.application.audit import AuditTrail, Caller
from services.application.follow import FollowQuery, Trail, follow
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError
from services.index.search import FrameRef, SearchEngine, SearchQuery, SearchResult
from services.settings import ServerSettings
from storage.timeutil import HOUR_MS, from_ms

DEFAULT_TOP_K = 10
FOLLOW_WINDOW_MS = HOUR_MS  # a trail from a hit, without a time range: this long either side
T = TypeVar("T")
Observe = Callable[[str, float], None]  # (query kind, seconds): the search latency metric


@dataclass(frozen=True)
class Found:
    result: SearchResult
    model_id: str  # the version that answered


@dataclass(frozen=True)
class Followed:
    trail: Trail
    model_id: str


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


def ref_details(ref: FrameRef) -> dict[str, object]:
    box = None if ref.box is None else [ref.box.x0, ref.box.y0, ref.box.x1, ref.box.y1]
    return {"camera_id": ref.camera_id, "time_ms": ref.time_ms, "box": box}


def _missing(ref: FrameRef) -> str:
    """The NOT_FOUND message for a hit, the same whether its camera is hidden or it does not exist."""
    box = "" if ref.box is None else f" (region {ref.box.x0:g},{ref.box.y0:g},{ref.box.x1:g},{ref.box.y1:g})"
    return (f"no stored keyframe{box} of camera {ref.camera_id!r} at "
            f"{from_ms(ref.time_ms).isoformat()}; name a hit from a search answer")


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

    def similar(self, caller: Caller, ref: FrameRef, query: SearchQuery,
                same_camera: bool = False) -> Found:
        """Footage like the hit `ref` (its stored vector), on other cameras unless `same_camera`."""
        self._visibility.camera(caller.principal, ref.camera_id, _missing(ref))
        if not same_camera:
            query = replace(query, where=replace(
                query.where, exclude_camera_ids=query.where.exclude_camera_ids | {ref.camera_id}))
        return self._run(caller, lambda engine, q: engine.similar(_stored(engine, ref), q), query,
                         "similar", {"hit": ref_details(ref), "include_same_camera": same_camera})

    def follow(self, caller: Caller, seed: FrameRef | bytes, query: FollowQuery) -> Followed:
        """The trail of the subject of a hit or a photo, inside the caller's cameras."""
        if isinstance(seed, FrameRef):
            self._visibility.camera(caller.principal, seed.camera_id, _missing(seed))
            details: dict[str, Any] = {"hit": ref_details(seed)}
            query = replace(query, where=_window(query.where, seed.time_ms))
        elif not seed:
            raise InvalidArgumentError("image is empty")
        else:
            details = {"image_sha256": hashlib.sha256(seed).hexdigest()}
        limit = self._limits.max_top_k
        if not 0 <= query.max_steps <= limit:
            raise InvalidArgumentError(f"max_steps {query.max_steps} is out of range 1..{limit}")
        query = replace(query, max_steps=query.max_steps or DEFAULT_TOP_K)
        started = time.perf_counter()
        where = self._visible_where(caller, query.where)
        found = Trail([], False) if where is None else self._retried(
            lambda engine: follow(engine, _seed_vector(engine, seed), replace(query, where=where)))
        self._observe("follow", time.perf_counter() - started)
        self._audit.touched(caller, "follow", {
            **details, "filter": filter_details(query.where), "max_steps": query.max_steps,
            "min_score": query.min_score, "expand": query.expand,
            "returned": [[s.camera_id, s.start_ms, s.end_ms] for s in found.steps]})
        return Followed(found, self._serving.current.model_id)

    def _top_k(self, query: SearchQuery) -> SearchQuery:
        limit = self._limits.max_top_k
        if query.top_k < 0 or query.top_k > limit:
            raise InvalidArgumentError(f"top_k {query.top_k} is out of range 1..{limit}")
        return replace(query, top_k=query.top_k or DEFAULT_TOP_K)

    def _visible(self, caller: Caller, query: SearchQuery) -> SearchQuery | None:
        """The query inside the caller's cameras; None: the caller sees none of those asked for."""
        where = self._visible_where(caller, query.where)
        return None if where is None else replace(query, where=where)

    def _visible_where(self, caller: Caller, where: SearchFilter) -> SearchFilter | None:
        """The filter inside the caller's cameras; None: the caller sees none of those asked for."""
        visible = self._visibility.cameras(caller.principal)
        if visible is None:
            return where
        cameras = where.camera_ids & visible if where.camera_ids else visible
        if not cameras:
            return None
        return replace(where, camera_ids=frozenset(cameras))

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
        return self._retried(lambda engine: search(engine, query))

    def _retried(self, run: Callable[[SearchEngine], T]) -> T:
        try:
            return run(self._serving.current.search)
        except IndexRetiredError:  # a model switch retired the version mid-search: the new one
            return run(self._serving.current.search)


def _stored(engine: SearchEngine, ref: FrameRef) -> np.ndarray:
    vector = engine.stored(ref)
    if vector is None:
        raise NotFoundError(_missing(ref))
    return vector


def _seed_vector(engine: SearchEngine, seed: FrameRef | bytes) -> np.ndarray:
    return _stored(engine, seed) if isinstance(seed, FrameRef) else engine.embed_image(seed)


def _window(where: SearchFilter, time_ms: int) -> SearchFilter:
    """A trail from a hit without a time range: `FOLLOW_WINDOW_MS` either side of the hit."""
    if where.start_ms is not None or where.end_ms is not None:
        return where
    return replace(where, start_ms=time_ms - FOLLOW_WINDOW_MS, end_ms=time_ms + FOLLOW_WINDOW_MS + 1)
