"""IngestService over gRPC: uploads streamed in, URIs and jobs, through `IngestService`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.api import convert
from services.api.calls import Context, caller
from services.api.timestamps import ms_from_ts
from services.application.ingest import IngestService
from services.errors import InvalidArgumentError
from vigil.v1 import ingest_pb2, ingest_pb2_grpc


async def _chunks(messages: AsyncIterator[ingest_pb2.IngestFileRequest]) -> AsyncIterator[bytes]:
    """The file's bytes: every message after the first carries a chunk, never a header."""
    async for msg in messages:
        if msg.HasField("header"):
            raise InvalidArgumentError("only the first message may carry a header")
        yield msg.chunk


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ingest: IngestService) -> None:
        self._ingest = ingest

    async def IngestUri(self, request: ingest_pb2.IngestUriRequest,
                        context: Context) -> ingest_pb2.IngestFileResponse:
        if not request.HasField("start_time"):
            raise InvalidArgumentError("start_time is required")
        job = await asyncio.to_thread(self._ingest.from_uri, caller(), request.camera_id,
                                      ms_from_ts(request.start_time), request.uri)
        return ingest_pb2.IngestFileResponse(job_id=job.job_id)

    async def IngestFile(self, request_iterator: AsyncIterator[ingest_pb2.IngestFileRequest],
                         context: Context) -> ingest_pb2.IngestFileResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("header"):
            raise InvalidArgumentError("the first IngestFile message must carry the header")
        header = first.header
        if not header.HasField("start_time"):
            raise InvalidArgumentError("header.start_time is required")
        job = await self._ingest.upload(caller(), header.camera_id, ms_from_ts(header.start_time),
                                        header.filename, _chunks(request_iterator))
        return ingest_pb2.IngestFileResponse(job_id=job.job_id)

    async def GetJob(self, request: ingest_pb2.GetJobRequest,
                     context: Context) -> ingest_pb2.Job:
        return convert.job_message(await asyncio.to_thread(self._ingest.job, caller(), request.job_id))

    async def ListJobs(self, request: ingest_pb2.ListJobsRequest,
                       context: Context) -> ingest_pb2.ListJobsResponse:
        jobs = await asyncio.to_thread(self._ingest.jobs, caller(), request.page_size,
                                       convert.job_state(request.state))
        return ingest_pb2.ListJobsResponse(jobs=[convert.job_message(j) for j in jobs])

    async def WatchJob(self, request: ingest_pb2.GetJobRequest,
                       context: Context) -> AsyncIterator[ingest_pb2.Job]:
        async for job in self._ingest.watch(caller(), request.job_id):
            yield convert.job_message(job)
