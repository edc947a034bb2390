"""Conversions between protobuf messages and Vigil's values."""

from __future__ import annotations

from indexing.vector_index import FrameHit, SearchFilter
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.jobs import Job, JobState
from vigil.v1 import common_pb2, ingest_pb2, search_pb2

_JOB_STATES = {
    JobState.PENDING: ingest_pb2.JOB_STATE_PENDING,
    JobState.RUNNING: ingest_pb2.JOB_STATE_RUNNING,
    JobState.SUCCEEDED: ingest_pb2.JOB_STATE_SUCCEEDED,
    JobState.FAILED: ingest_pb2.JOB_STATE_FAILED,
}


def search_filter(msg: search_pb2.SearchFilter) -> SearchFilter:
    tr: common_pb2.TimeRange = msg.time_range
    return SearchFilter(
        camera_ids=frozenset(msg.camera_ids),
        start_ms=ms_from_ts(tr.start) if tr.HasField("start") else None,
        end_ms=ms_from_ts(tr.end) if tr.HasField("end") else None,
    )


def hit_message(hit: FrameHit) -> search_pb2.SearchHit:
    r = hit.record
    return search_pb2.SearchHit(
        camera_id=r.camera_id, start_time=ts_from_ms(r.segment_start_ms),
        end_time=ts_from_ms(r.segment_end_ms), frame_time=ts_from_ms(r.time_ms),
        score=hit.score, segment_key=r.segment_key, thumbnail_key=r.thumbnail_key)


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
