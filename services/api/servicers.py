"""gRPC servicers: validate untrusted input, call the node, map errors to statuses."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import grpc

from indexing.errors import IndexRetiredError
from services.api import convert
from services.api.access import current_principal
from services.api.rpc_audit import note
from services.api.timestamps import ms_from_ts
from services.node.app import Vigil
from services.errors import InvalidArgumentError, NotFoundError, ResourceExhaustedError, status_for
from services.ingest.jobs import Job
from services.index.search import SearchQuery, SearchResult
from storage.cameras import mask_url
from storage.keys import JOB_ID, validate_camera_id
from storage.media import fetch
from vigil.v1 import ingest_pb2, ingest_pb2_grpc, search_pb2, search_pb2_grpc

logger = logging.getLogger(__name__)
DEFAULT_TOP_K = 10
WATCH_POLL_S = 0.2
R = TypeVar("R")


def mapped_errors(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Turn any exception into a gRPC status with a caller-safe message."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            code, message = status_for(exc)
            if code == grpc.StatusCode.INTERNAL:
                logger.exception("%s failed", method.__name__)
            await context.abort(code, message)
            raise  # unreachable: abort raises

    return wrapper


def _display_name(filename: str) -> str:
    """A name for messages: the client's base name, printable, never a server path."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable())[:100]
    return clean or "upload"


def camera_id_arg(camera_id: str) -> str:
    try:
        return validate_camera_id(camera_id)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


async def visible_camera(node: Vigil, camera_id: str, missing: str) -> str:
    """The camera id if the caller may see it; otherwise NOT_FOUND, exactly as for no camera."""
    camera_id = camera_id_arg(camera_id)
    visible = await asyncio.to_thread(node.visible_cameras, current_principal())
    if visible is not None and camera_id not in visible:
        raise NotFoundError(missing)
    return camera_id


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    def _top_k(self, requested: int) -> int:
        limit = self._node.settings.server.max_top_k
        if requested < 0 or requested > limit:
            raise InvalidArgumentError(f"top_k {requested} is out of range 1..{limit}")
        return requested or DEFAULT_TOP_K

    def _visible(self, query: SearchQuery) -> SearchQuery | None:
        """Restrict the query to the caller's cameras, inside the search; None: nothing visible."""
        visible = self._node.visible_cameras(current_principal())
        if visible is None:
            return query
        cameras = query.where.camera_ids & visible if query.where.camera_ids else visible
        if not cameras:
            return None
        return replace(query, where=replace(query.where, camera_ids=frozenset(cameras)))

    async def _run(self, search: Callable[[SearchQuery], SearchResult], query: SearchQuery,
                   audit: dict[str, object], request: Any) -> search_pb2.SearchResponse:
        result = await asyncio.to_thread(self._search_and_audit, search, query, audit,
                                         current_principal().subject)
        return convert.search_response(result, self._node.model_id, request)

    def _search_and_audit(self, search: Callable[[SearchQuery], SearchResult], query: SearchQuery,
                          audit: dict[str, object], subject: str) -> SearchResult:
        """Visibility, search and the audit details in one worker-thread hop (each hop costs)."""
        started = time.perf_counter()
        visible = self._visible(query)
        if visible is None:
            result = SearchResult([], False)
        else:
            try:
                result = search(visible)
            except IndexRetiredError:  # a model switch retired the version mid-search: the new one
                result = search(visible)
        kind = "image" if "image_sha256" in audit else "text"
        self._node.metrics.search_latency.labels(kind).observe(time.perf_counter() - started)
        audit |= {"filter": convert.filter_json(query.where), "frames": query.frames,
                  "returned": [[h.camera_id, h.start_ms, h.end_ms] for h in result.hits]}
        note("search", audit)  # the RPC's audit record, written before the answer leaves
        return result

    @mapped_errors
    async def Search(self, request: search_pb2.SearchRequest,
                     context: grpc.aio.ServicerContext) -> search_pb2.SearchResponse:
        text = request.text.strip()
        limit = self._node.settings.server.max_query_chars
        if not text:
            raise InvalidArgumentError("text query is empty")
        if len(text) > limit:
            raise InvalidArgumentError(f"text query has {len(text)} characters; the limit is {limit}")
        query = convert.search_query(request, self._top_k(request.top_k))
        return await self._run(lambda q: self._node.search.by_text(text, q), query, {"text": text},
                               request)

    @mapped_errors
    async def SearchByImage(self, request: search_pb2.SearchByImageRequest,
                            context: grpc.aio.ServicerContext) -> search_pb2.SearchResponse:
        if not request.image:
            raise InvalidArgumentError("image is empty")
        query = convert.search_query(request, self._top_k(request.top_k))
        return await self._run(lambda q: self._node.search.by_image(request.image, q), query,
                               {"image_sha256": hashlib.sha256(request.image).hexdigest()}, request)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    @mapped_errors
    async def IngestUri(self, request: ingest_pb2.IngestUriRequest,
                        context: grpc.aio.ServicerContext) -> ingest_pb2.IngestFileResponse:
        camera_id = await visible_camera(
            self._node, request.camera_id, f"no camera {request.camera_id} in your groups; register it first")
        if not request.HasField("start_time"):
            raise InvalidArgumentError("start_time is required")
        if not request.uri or len(request.uri) > 4096:
            raise InvalidArgumentError("uri must be 1-4096 characters")
        shown = mask_url(request.uri)
        settings = self._node.settings.ingest
        fd, name = tempfile.mkstemp(suffix=".mp4", dir=self._node.upload_dir)
        os.close(fd)
        path = await asyncio.to_thread(fetch, request.uri, self._node.url_policy(), Path(name),
                                       settings.media_timeout_s, settings.max_upload_mb * 1024 * 1024)
        job = await asyncio.to_thread(self._node.submit_ingest, camera_id,
                                      ms_from_ts(request.start_time), path, shown)
        return ingest_pb2.IngestFileResponse(job_id=job.job_id)

    @mapped_errors
    async def IngestFile(self, request_iterator: AsyncIterator[ingest_pb2.IngestFileRequest],
                         context: grpc.aio.ServicerContext) -> ingest_pb2.IngestFileResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("header"):
            raise InvalidArgumentError("the first IngestFile message must carry the header")
        header = first.header
        camera_id = await visible_camera(
            self._node, header.camera_id, f"no camera {header.camera_id} in your groups; register it first")
        if not header.HasField("start_time"):
            raise InvalidArgumentError("header.start_time is required")
        upload = await self._receive(request_iterator)
        job = await asyncio.to_thread(self._node.submit_ingest, camera_id,
                                      ms_from_ts(header.start_time), upload,
                                      _display_name(header.filename))
        return ingest_pb2.IngestFileResponse(job_id=job.job_id)

    async def _receive(self, chunks: AsyncIterator[ingest_pb2.IngestFileRequest]) -> Path:
        """Spool the upload to disk, enforcing the size limit; nothing reaches the bucket here."""
        limit = self._node.settings.ingest.max_upload_mb * 1024 * 1024
        fd, name = tempfile.mkstemp(suffix=".upload", dir=self._node.upload_dir)
        path, size = Path(name), 0
        try:
            with open(fd, "wb") as f:
                async for msg in chunks:
                    if msg.HasField("header"):
                        raise InvalidArgumentError("only the first message may carry a header")
                    size += len(msg.chunk)
                    if size > limit:
                        raise ResourceExhaustedError(f"upload exceeds the {limit // 2**20} MiB limit")
                    f.write(msg.chunk)
            if size == 0:
                raise InvalidArgumentError("the upload is empty")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    async def _job(self, job_id: str) -> Job:
        if not JOB_ID.fullmatch(job_id):
            raise InvalidArgumentError("job_id must be 32 lowercase hex characters")
        job = await asyncio.to_thread(self._node.jobs.get, job_id)
        visible = await asyncio.to_thread(self._node.visible_cameras, current_principal())
        if job is None or (visible is not None and job.camera_id not in visible):
            raise NotFoundError(f"no job {job_id}")
        return job

    @mapped_errors
    async def GetJob(self, request: ingest_pb2.GetJobRequest,
                     context: grpc.aio.ServicerContext) -> ingest_pb2.Job:
        return convert.job_message(await self._job(request.job_id))

    async def WatchJob(self, request: ingest_pb2.GetJobRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[ingest_pb2.Job]:
        try:
            job = await self._job(request.job_id)
        except Exception as exc:  # noqa: BLE001 - mapped to a status right here
            await context.abort(*status_for(exc))
        last = None
        while True:
            if job != last:
                yield convert.job_message(job)
                last = job
            if job.done:
                return
            await asyncio.sleep(WATCH_POLL_S)
            job = await self._job(request.job_id)
