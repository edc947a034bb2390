"""Conversions between protobuf messages and Vigil's values shared by the servicers (time
ranges, search, jobs); each servicer module converts the messages only it uses."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from indexing.clips import ClipHit
from indexing.vector_index import SearchFilter
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.errors import InvalidArgumentError
from services.index.search import SearchQuery, SearchResult
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


def search_query(request: search_pb2.SearchRequest | search_pb2.SearchByImageRequest) -> SearchQuery:
    """The query a request asks for (top_k 0: the default, checked by the search service)."""
    if request.HasField("min_score") and not -1.0 <= request.min_score <= 1.0:
        raise InvalidArgumentError(f"min_score {request.min_score} is outside [-1, 1]")
    return SearchQuery(top_k=request.top_k, where=search_filter(request.filter), frames=request.frames,
                       min_score=request.min_score if request.HasField("min_score") else None,
                       offset=_offset(request))


def search_response(result: SearchResult, model_id: str, request: Any) -> search_pb2.SearchResponse:
    next_token = (page_token(_offset(request) + len(result.hits), _fingerprint(request))
                  if result.more else "")
    return search_pb2.SearchResponse(hits=[hit_message(h) for h in result.hits], model_id=model_id,
                                     no_good_match=result.no_good_match, next_page_token=next_token)


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
        segment_end_time=ts_from_ms(r.segment_end_ms))


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
