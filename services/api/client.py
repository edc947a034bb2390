"""A typed Python client for Vigil's gRPC API, used by the CLI, tests and benchmarks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from services.api.timestamps import ms_from_ts, ts_from_ms
from storage.timeutil import from_ms, to_ms
from vigil.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    cameras_pb2,
    cameras_pb2_grpc,
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

CHUNK_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
UPLOAD_TIMEOUT_S = 3600.0
# Retry only when the server is unreachable, and only idempotent calls (not uploads).
_RETRY_POLICY = json.dumps({"methodConfig": [{
    "name": [{"service": "vigil.v1.SearchService"},
             {"service": "vigil.v1.IngestService", "method": "GetJob"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.2s", "maxBackoff": "2s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


Box = tuple[float, float, float, float]  # x0, y0, x1, y1: fractions of the keyframe, from the top left
_HIT_REF = re.compile(r"(?P<camera>[A-Za-z0-9_.-]+)@(?P<time>[^#]+)(?:#(?P<box>[^#]+))?")


@dataclass(frozen=True)
class HitRef:
    """A hit named for SearchSimilar and Follow: a camera's keyframe, or a region of it.

    Written `CAMERA@TIME[#x0,y0,x1,y1]` (TIME in ISO 8601 UTC with milliseconds), as
    `vigil search` prints it for each hit: `cam-7@2026-11-20T13:00:02.000Z#0.1250,0.4000,0.2000,0.6500`.
    """

    camera_id: str
    frame_time: datetime
    box: Box | None = None  # None: the whole keyframe

    def __str__(self) -> str:
        when = self.frame_time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        box = "" if self.box is None else "#" + ",".join(f"{v:.4f}" for v in self.box)
        return f"{self.camera_id}@{when}{box}"

    @classmethod
    def parse(cls, text: str) -> HitRef:
        """The reference `str` writes; ValueError naming the text if it is not one."""
        match = _HIT_REF.fullmatch(text.strip())
        try:
            if match is None:
                raise ValueError("no CAMERA@TIME")
            when = datetime.fromisoformat(match["time"])
            if when.tzinfo is None:
                raise ValueError("no timezone")
            values = tuple(float(v) for v in match["box"].split(",")) if match["box"] else None
            if values is not None and len(values) != 4:
                raise ValueError("a box has four numbers")
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a hit reference CAMERA@ISO-TIME[#x0,y0,x1,y1] "
                             f"as `vigil search` prints ({exc})") from None
        return cls(match["camera"], when, values)

    def message(self) -> search_pb2.HitRef:
        ref = search_pb2.HitRef(camera_id=self.camera_id, frame_time=ts_from_ms(to_ms(self.frame_time)))
        if self.box is not None:
            ref.box.CopyFrom(search_pb2.Box(x0=self.box[0], y0=self.box[1], x1=self.box[2], y1=self.box[3]))
        return ref


@dataclass(frozen=True)
class Hit:
    camera_id: str
    start: datetime  # the matched span (clip, or one keyframe's span; a trail step: the visit)
    end: datetime
    frame_time: datetime  # the best keyframe
    score: float
    segment_key: str
    thumbnail_key: str
    frames: int
    segment_start: datetime
    segment_end: datetime
    box: Box | None = None  # the region of the best keyframe that matched; None: the whole frame

    @property
    def ref(self) -> HitRef:
        """This hit's reference, for `search_similar` and `follow` (printed by `vigil search`)."""
        return HitRef(self.camera_id, self.frame_time, self.box)


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    no_good_match: bool
    model_id: str
    next_page_token: str = ""
    unsearched: list[tuple[str, datetime]] = field(default_factory=list)  # (camera group, UTC day
    # start): footage the server could not search (a partitioned index with no live replica)


@dataclass(frozen=True)
class Trail:
    """A subject's visits, camera to camera, in time order (each a `Hit`: the visit's span, its
    best keyframe or region)."""
    steps: list[Hit]
    no_good_match: bool
    model_id: str


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    camera_id: str
    state: str  # pending | running | succeeded | failed
    segments: int
    segments_skipped: int
    keyframes: int
    vectors: int
    error: str
    finished_ms: int | None = None  # when the job ended, server clock (ms since the epoch)

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")


@dataclass(frozen=True)
class ModelStatus:
    active_model_id: str  # the bucket's active index version
    previous_model_id: str
    serving_model_id: str  # the version the node answering serves
    state: str  # idle | building | switching | failed
    target_model_id: str
    frames_total: int
    frames_indexed: int
    frames_skipped: int
    error: str

    @property
    def switched(self) -> bool:
        """The switch asked for is complete on this node."""
        return self.state == "idle" and self.serving_model_id == self.active_model_id == self.target_model_id


@dataclass(frozen=True)
class CreatedToken:
    token: str  # the secret: shown once, never stored by the server
    token_hash: str  # its id, for `vigil token list` / `revoke`
    expires: datetime | None  # None: never


@dataclass(frozen=True)
class TokenInfo:
    """A token's record as `ListTokens` returns it; never the token itself."""
    token_hash: str
    subject: str
    role: str
    groups: tuple[str, ...]
    created: datetime
    expires: datetime | None  # None: never
    expired: bool


class BearerAuth(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor,
                 grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer TOKEN` to every call on a channel."""

    def __init__(self, token: str) -> None:
        self._metadata = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self._metadata]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return continuation(self._details(details), request_iterator)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


@dataclass(frozen=True)
class Tls:
    """PEM bytes: the CA that signed the server, and optionally a client certificate and key."""

    ca: bytes
    cert: bytes | None = None
    key: bytes | None = None


def open_channel(address: str, token: str | None, tls: Tls | None = None) -> grpc.Channel:
    """A channel to Vigil (TLS when `tls` is given) that sends the bearer token on every call."""
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
               ("grpc.service_config", _RETRY_POLICY)]
    channel = (grpc.secure_channel(address, grpc.ssl_channel_credentials(tls.ca, tls.key, tls.cert),
                                   options=options)
               if tls else grpc.insecure_channel(address, options=options))
    return grpc.intercept_channel(channel, BearerAuth(token)) if token else channel


class VigilClient:
    def __init__(self, address: str, token: str | None = None, tls: Tls | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._channel = open_channel(address, token, tls)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._cameras = cameras_pb2_grpc.CameraServiceStub(self._channel)
        self._search = search_pb2_grpc.SearchServiceStub(self._channel)
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._timeout = timeout_s

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> VigilClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, text: str, top_k: int = 10, camera_ids: Sequence[str] = (),
               start: datetime | None = None, end: datetime | None = None,
               frames: bool = False, min_score: float | None = None,
               page_token: str = "") -> SearchResult:
        request = search_pb2.SearchRequest(text=text, top_k=top_k, frames=frames,
                                           min_score=min_score, page_token=page_token,
                                           filter=_filter(camera_ids, start, end))
        return _result(self._search.Search(request, timeout=self._timeout))

    def search_by_image(self, image: bytes, top_k: int = 10, camera_ids: Sequence[str] = (),
                        start: datetime | None = None, end: datetime | None = None,
                        frames: bool = False, min_score: float | None = None) -> SearchResult:
        request = search_pb2.SearchByImageRequest(image=image, top_k=top_k, frames=frames,
                                                  min_score=min_score,
                                                  filter=_filter(camera_ids, start, end))
        return _result(self._search.SearchByImage(request, timeout=self._timeout))

    def search_similar(self, hit: HitRef | Hit, top_k: int = 10, camera_ids: Sequence[str] = (),
                       start: datetime | None = None, end: datetime | None = None,
                       frames: bool = False, min_score: float | None = None,
                       include_same_camera: bool = False, page_token: str = "") -> SearchResult:
        """Footage that looks like `hit` (its stored vector), on other cameras unless asked."""
        ref = hit.ref if isinstance(hit, Hit) else hit
        request = search_pb2.SearchSimilarRequest(
            hit=ref.message(), top_k=top_k, frames=frames, min_score=min_score, page_token=page_token,
            filter=_filter(camera_ids, start, end), include_same_camera=include_same_camera)
        return _result(self._search.SearchSimilar(request, timeout=self._timeout))

    def follow(self, seed: HitRef | Hit | bytes, camera_ids: Sequence[str] = (),
               start: datetime | None = None, end: datetime | None = None, max_steps: int = 10,
               min_score: float | None = None, expand: bool = False) -> Trail:
        """The trail of the subject of a hit (or a photo's bytes) across cameras, in time order.
        Without `start`/`end`: an hour either side of a hit; all footage for a photo."""
        request = search_pb2.FollowRequest(filter=_filter(camera_ids, start, end), max_steps=max_steps,
                                           min_score=min_score, expand=expand)
        if isinstance(seed, bytes):
            request.image = seed
        else:
            request.hit.CopyFrom((seed.ref if isinstance(seed, Hit) else seed).message())
        r = self._search.Follow(request, timeout=self._timeout)
        return Trail([_hit(h) for h in r.steps], r.no_good_match, r.model_id)

    def ingest_file(self, path: Path, camera_id: str, start: datetime) -> str:
        """Upload a video; returns the job id."""
        header = ingest_pb2.IngestFileHeader(camera_id=camera_id, filename=path.name,
                                             start_time=ts_from_ms(to_ms(start)))
        response = self._ingest.IngestFile(_upload(header, path), timeout=UPLOAD_TIMEOUT_S)
        return response.job_id

    def ingest_uri(self, uri: str, camera_id: str, start: datetime) -> str:
        """Have the server fetch and ingest a recording; returns the job id."""
        request = ingest_pb2.IngestUriRequest(camera_id=camera_id, uri=uri,
                                              start_time=ts_from_ms(to_ms(start)))
        return self._ingest.IngestUri(request, timeout=UPLOAD_TIMEOUT_S).job_id

    def get_job(self, job_id: str) -> JobStatus:
        return _status(self._ingest.GetJob(ingest_pb2.GetJobRequest(job_id=job_id), timeout=self._timeout))

    def list_jobs(self, page_size: int = 0, state: str = "") -> list[JobStatus]:
        """Recent jobs of the cameras this token sees, newest first; `state` e.g. "running"."""
        name = f"JOB_STATE_{state.upper()}" if state else "JOB_STATE_UNSPECIFIED"
        r = self._ingest.ListJobs(ingest_pb2.ListJobsRequest(page_size=page_size, state=name),
                                  timeout=self._timeout)
        return [_status(j) for j in r.jobs]

    def watch_job(self, job_id: str, timeout_s: float = UPLOAD_TIMEOUT_S) -> Iterator[JobStatus]:
        """The job's status at every change, until it ends."""
        for job in self._ingest.WatchJob(ingest_pb2.GetJobRequest(job_id=job_id), timeout=timeout_s):
            yield _status(job)

    def wait_for_job(self, job_id: str, show_progress: bool = False,
                     timeout_s: float = UPLOAD_TIMEOUT_S) -> JobStatus:
        """Follow a job (WatchJob) until it ends, optionally with a progress bar over keyframes."""
        from tqdm import tqdm

        with tqdm(desc="ingest", unit="keyframe", disable=not show_progress) as bar:
            for status in self.watch_job(job_id, timeout_s):
                bar.set_postfix(segments=status.segments, vectors=status.vectors, state=status.state)
                bar.update(status.keyframes - bar.n)
                if status.done:
                    return status
        raise RuntimeError(f"the server closed the watch on job {job_id} before it ended")

    def create_token(self, subject: str, role: str, groups: Sequence[str],
                     expires: datetime | None = None) -> tuple[str, str]:
        """(token, token_hash); the token is shown only now. `expires` None: the server's default."""
        created = self.create_token_info(subject, role, groups, expires)
        return created.token, created.token_hash

    def create_token_info(self, subject: str, role: str, groups: Sequence[str],
                          expires: datetime | None = None) -> CreatedToken:
        """A new token with its id and expiry (`expires` None: the server's auth.token_ttl_days)."""
        request = admin_pb2.CreateTokenRequest(subject=subject, role=role, groups=list(groups))
        if expires is not None:
            request.expires.CopyFrom(ts_from_ms(to_ms(expires)))
        r = self._admin.CreateToken(request, timeout=self._timeout)
        return CreatedToken(r.token, r.token_hash, _time(r.expires) if r.HasField("expires") else None)

    def list_tokens(self) -> list[TokenInfo]:
        """Every token's record, oldest first, expired ones included (admin)."""
        r = self._admin.ListTokens(admin_pb2.ListTokensRequest(), timeout=self._timeout)
        return [TokenInfo(t.token_hash, t.subject, t.role, tuple(t.groups), _time(t.created),
                          _time(t.expires) if t.HasField("expires") else None, t.expired)
                for t in r.tokens]

    def revoke_token(self, token_hash: str) -> None:
        self._admin.RevokeToken(admin_pb2.RevokeTokenRequest(token_hash=token_hash), timeout=self._timeout)

    def register_camera(self, camera: cameras_pb2.Camera) -> cameras_pb2.Camera:
        """Create or replace a camera; a stream URL starts live recording."""
        return self._cameras.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=camera),
                                            timeout=self._timeout)

    def stop_camera(self, camera_id: str) -> cameras_pb2.CameraStatus:
        return self._cameras.StopCamera(cameras_pb2.StopCameraRequest(camera_id=camera_id),
                                        timeout=self._timeout)

    def camera_status(self, camera_id: str) -> cameras_pb2.CameraStatus:
        return self._cameras.GetCameraStatus(cameras_pb2.GetCameraStatusRequest(camera_id=camera_id),
                                             timeout=self._timeout)

    def stats(self) -> admin_pb2.GetStatsResponse:
        return self._admin.GetStats(admin_pb2.GetStatsRequest(), timeout=self._timeout)

    def verify_audit(self, head: tuple[int, str] | None = None) -> admin_pb2.VerifyAuditResponse:
        """Check the trail; `head` (seq, hash) is a head notarised earlier that must still hold."""
        request = admin_pb2.VerifyAuditRequest(
            head=admin_pb2.AuditHead(seq=head[0], hash=head[1]) if head else None)
        return self._admin.VerifyAudit(request, timeout=self._timeout)

    def audit_head(self) -> admin_pb2.AuditHead:
        """The answering node's anchored audit chain head (node, seq, hash, time)."""
        return self._admin.GetAuditHead(admin_pb2.GetAuditHeadRequest(), timeout=self._timeout)

    def switch_model(self, name: str = "", pretrained: str = "", path: str = "") -> ModelStatus:
        """Start building an index version for another model (a server folder, or name and tag)."""
        spec = admin_pb2.ModelSpec(name=name, pretrained=pretrained, path=path)
        return _model_status(self._admin.SwitchModel(admin_pb2.SwitchModelRequest(model=spec),
                                                     timeout=self._timeout))

    def model_status(self) -> ModelStatus:
        return _model_status(self._admin.GetModelStatus(admin_pb2.GetModelStatusRequest(),
                                                        timeout=self._timeout))

    def wait_for_model_switch(self, show_progress: bool = False, poll_s: float = 1.0,
                              timeout_s: float = UPLOAD_TIMEOUT_S) -> ModelStatus:
        """Poll the switch until it is complete or failed, optionally with a progress bar."""
        import time

        from tqdm import tqdm

        deadline = time.monotonic() + timeout_s
        with tqdm(desc="re-embedding", unit="keyframe", disable=not show_progress) as bar:
            while True:
                status = self.model_status()
                bar.total = status.frames_total or None
                bar.set_postfix(state=status.state, skipped=status.frames_skipped)
                bar.update(status.frames_indexed - bar.n)
                if status.switched or status.state == "failed":
                    return status
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the switch to {status.target_model_id} is still {status.state}")
                time.sleep(poll_s)

    @property
    def channel(self) -> grpc.Channel:
        """The authenticated channel, for calling any other stub."""
        return self._channel


def _status(job: ingest_pb2.Job) -> JobStatus:
    p = job.progress
    state = ingest_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
    finished = ms_from_ts(job.finished_time) if job.HasField("finished_time") else None
    return JobStatus(job.job_id, job.camera_id, state, p.segments, p.segments_skipped,
                     p.keyframes, p.vectors, job.error, finished)


def _upload(header: ingest_pb2.IngestFileHeader, path: Path) -> Iterator[ingest_pb2.IngestFileRequest]:
    yield ingest_pb2.IngestFileRequest(header=header)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            yield ingest_pb2.IngestFileRequest(chunk=chunk)


def _filter(camera_ids: Sequence[str], start: datetime | None,
            end: datetime | None) -> search_pb2.SearchFilter:
    tr = common_pb2.TimeRange()
    if start is not None:
        tr.start.CopyFrom(ts_from_ms(to_ms(start)))
    if end is not None:
        tr.end.CopyFrom(ts_from_ms(to_ms(end)))
    return search_pb2.SearchFilter(camera_ids=list(camera_ids), time_range=tr)


def _time(ts: object) -> datetime:
    return from_ms(ms_from_ts(ts))  # type: ignore[arg-type]


def _hit(h: search_pb2.SearchHit) -> Hit:
    box = (h.box.x0, h.box.y0, h.box.x1, h.box.y1) if h.HasField("box") else None
    return Hit(h.camera_id, _time(h.start_time), _time(h.end_time), _time(h.frame_time),
               h.score, h.segment_key, h.thumbnail_key, h.frames,
               _time(h.segment_start_time), _time(h.segment_end_time), box)


def _result(response: search_pb2.SearchResponse) -> SearchResult:
    return SearchResult(hits=[_hit(h) for h in response.hits], no_good_match=response.no_good_match,
                        model_id=response.model_id, next_page_token=response.next_page_token,
                        unsearched=[(u.group, _time(u.day_start)) for u in response.unsearched])


def _model_status(m: admin_pb2.ModelStatus) -> ModelStatus:
    return ModelStatus(m.active_model_id, m.previous_model_id, m.serving_model_id, m.state,
                       m.target_model_id, m.frames_total, m.frames_indexed, m.frames_skipped, m.error)
