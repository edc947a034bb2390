"""Conversions between protobuf messages and Vigil's values shared by the servicers (time
ranges, search, jobs); each servicer module converts the messages only it uses."""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

from indexing.clips import ClipHit
from indexing.frame_columns import Box
from indexing.vector_index import SearchFilter
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.application.follow import FollowQuery, Trail
from services.errors import InvalidArgumentError
from services.index.search import FrameRef, SearchQuery, SearchResult
from services.ingest.jobs import Job, JobState
from vigil.v1 import common_pb2, ingest_pb2, search_pb2

MAX_OFFSET = 1000
_JOB_STATES = {
    JobState.PENDING: ingest_pb2.JOB_STATE_PENDING,
    JobState.RUNNING: ingest_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: ingest_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: ingest_pb2.JOB_STATE_FAILED,
}


def time_range(tr: common_pb2.TimeRange) -> tuple[int, int]:
    """[start, end) in ms; both required, end after start (a cap is the application's rule)."""
    if not (tr.HasField("start") and tr.HasField("end")):
        raise InvalidArgumentError("time_range needs both start and end")
    start, end = ms_from_ts(tr.start), ms_from_ts(tr.end)
    if end <= start:
        raise InvalidArgumentError("time_range end must be after its start")
    return start, end


def range_message(start_ms: int, end_ms: int) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(start_ms), end=ts_from_ms(end_ms))


def search_filter(msg: search_pb2.SearchFilter) -> SearchFilter:
    tr: common_pb2.TimeRange = msg.time_range
    return SearchFilter(
        camera_ids=frozenset(msg.camera_ids),
        start_ms=ms_from_ts(tr.start) if tr.HasField("start") else None,
        end_ms=ms_from_ts(tr.end) if tr.HasField("end") else None,
    )


def search_query(request: search_pb2.SearchRequest | search_pb2.SearchByImageRequest
                 | search_pb2.SearchSimilarRequest) -> SearchQuery:
    """The query a request asks for (top_k 0: the default, checked by the search service)."""
    return SearchQuery(top_k=request.top_k, where=search_filter(request.filter), frames=request.frames,
                       min_score=_min_score(request), offset=_offset(request))


def _min_score(request: Any) -> float | None:
    if not request.HasField("min_score"):
        return None
    if not -1.0 <= request.min_score <= 1.0:
        raise InvalidArgumentError(f"min_score {request.min_score} is outside [-1, 1]")
    return float(request.min_score)


def box(msg: search_pb2.Box) -> Box:
    """A normalised box: 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1."""
    x0, y0, x1, y1 = msg.x0, msg.y0, msg.x1, msg.y1
    if not (all(math.isfinite(v) for v in (x0, y0, x1, y1))
            and 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise InvalidArgumentError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is not a normalised box: "
                                   "it needs 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return Box(x0, y0, x1, y1)


def box_message(b: Box) -> search_pb2.Box:
    return search_pb2.Box(x0=b.x0, y0=b.y0, x1=b.x1, y1=b.y1)


def hit_ref(msg: search_pb2.HitRef) -> FrameRef:
    """The hit a request names: its camera, keyframe time and box (absent: the whole keyframe)."""
    if not msg.camera_id:
        raise InvalidArgumentError("hit.camera_id is required: copy it from a search hit")
    if not msg.HasField("frame_time"):
        raise InvalidArgumentError("hit.frame_time is required: copy it from a search hit")
    return FrameRef(msg.camera_id, ms_from_ts(msg.frame_time),
                    box(msg.box) if msg.HasField("box") else None)


def similar(request: search_pb2.SearchSimilarRequest) -> tuple[FrameRef, SearchQuery]:
    if not request.HasField("hit"):
        raise InvalidArgumentError("hit is required: the camera_id, frame_time and box of a search hit")
    return hit_ref(request.hit), search_query(request)


def follow_request(request: search_pb2.FollowRequest) -> tuple[FrameRef | bytes, FollowQuery]:
    """The seed (a hit, or the photo's bytes) and the trail asked for."""
    kind = request.WhichOneof("seed")
    if kind is None:
        raise InvalidArgumentError("a trail starts from a hit or an image: set one of them")
    seed: FrameRef | bytes = hit_ref(request.hit) if kind == "hit" else request.image
    return seed, FollowQuery(where=search_filter(request.filter), max_steps=request.max_steps,
                             min_score=_min_score(request), expand=request.expand)


def follow_response(trail: Trail, model_id: str) -> search_pb2.FollowResponse:
    return search_pb2.FollowResponse(steps=[hit_message(s) for s in trail.steps], model_id=model_id,
                                     no_good_match=trail.no_good_match)


def search_response(result: SearchResult, model_id: str, request: Any) -> search_pb2.SearchResponse:
    next_token = (page_token(_offset(request) + len(result.hits), _fingerprint(request))
                  if result.more else "")
    return search_pb2.SearchResponse(hits=[hit_message(h) for h in result.hits], model_id=model_id,
                                     no_good_match=result.no_good_match, next_page_token=next_token,
                                     unsearched=[search_pb2.Unsearched(group=u.group, day_start=ts_from_ms(
                                         u.start_ms)) for u in result.unsearched])


def _fingerprint(request: Any) -> str:
    """Binds a page token to its query: the request without the token itself."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.page_token = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _offset(request: Any) -> int:
    return read_page_token(request.page_token, _fingerprint(request)) if request.page_token else 0


def page_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint}".encode()).decode()


def read_page_token(token: str, fingerprint: str) -> int:
    try:
        offset, bound = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        value = int(offset)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgumentError("page_token is not one this server issued") from None
    if bound != fingerprint:
        raise InvalidArgumentError("page_token belongs to a different query")
    if not 0 <= value <= MAX_OFFSET:
        raise InvalidArgumentError(f"page_token goes past the {MAX_OFFSET} deepest hits")
    return value


def hit_message(hit: ClipHit) -> search_pb2.SearchHit:
    r = hit.best.record
    return search_pb2.SearchHit(
        camera_id=hit.camera_id, start_time=ts_from_ms(hit.start_ms), end_time=ts_from_ms(hit.end_ms),
        frame_time=ts_from_ms(r.time_ms), score=hit.score, segment_key=r.segment_key,
        thumbnail_key=r.thumbnail_key, frames=hit.frames,
        segment_start_time=ts_from_ms(r.segment_start_ms),
        segment_end_time=ts_from_ms(r.segment_end_ms),
        box=None if r.box is None else box_message(r.box))


def job_state(state: ingest_pb2.JobState) -> JobState | None:
    """The job state a request names; None for JOB_STATE_UNSPECIFIED (every state)."""
    if state == ingest_pb2.JOB_STATE_UNSPECIFIED:
        return None
    for value, message in _JOB_STATES.items():
        if message == state:
            return value
    raise InvalidArgumentError(f"unknown job state {state}; use one of JobState")


def job_message(job: Job) -> ingest_pb2.Job:
    p = job.progress
    msg = ingest_pb2.Job(
        job_id=job.job_id, camera_id=job.camera_id, state=_JOB_STATES[job.state], error=job.error,
        progress=ingest_pb2.JobProgress(bytes=p.bytes, segments=p.segments,
                                        segments_skipped=p.segments_skipped,
                                        keyframes=p.keyframes, vectors=p.vectors),
        created_time=ts_from_ms(round(job.created.timestamp() * 1000)))
    if job.finished is not None:
        msg.finished_time.CopyFrom(ts_from_ms(round(job.finished.timestamp() * 1000)))
    return msg
