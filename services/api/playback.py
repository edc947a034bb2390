"""gRPC servicers for cameras, playback/export and retention/holds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc

from services.api.servicers import mapped_errors
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.app import Vigil
from services.errors import InvalidArgumentError, NotFoundError, ResourceExhaustedError
from storage.cameras import Camera
from storage.keys import validate_camera_id
from storage.playlist import gaps, hls_playlist
from storage.retention import Hold
from storage.timeutil import to_ms
from vigil.v1 import admin_pb2, admin_pb2_grpc, cameras_pb2, cameras_pb2_grpc, common_pb2
from vigil.v1 import playback_pb2, playback_pb2_grpc

MAX_CAMERAS_PER_EXPORT = 16


def camera_id_arg(camera_id: str) -> str:
    try:
        return validate_camera_id(camera_id)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def time_range_arg(tr: common_pb2.TimeRange, max_hours: float | None = None) -> tuple[int, int]:
    if not (tr.HasField("start") and tr.HasField("end")):
        raise InvalidArgumentError("time_range needs both start and end")
    start, end = ms_from_ts(tr.start), ms_from_ts(tr.end)
    if end <= start:
        raise InvalidArgumentError("time_range end must be after its start")
    if max_hours is not None and end - start > max_hours * 3_600_000:
        raise ResourceExhaustedError(f"time_range longer than the {max_hours:g} h limit")
    return start, end


def _range_msg(start_ms: int, end_ms: int) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(start_ms), end=ts_from_ms(end_ms))


def camera_message(c: Camera) -> cameras_pb2.Camera:
    return cameras_pb2.Camera(camera_id=c.camera_id, name=c.name, group=c.group, location=c.location,
                              stream_url=c.masked_stream_url, retention_days=c.retention_days)


def hold_message(h: Hold) -> admin_pb2.Hold:
    return admin_pb2.Hold(hold_id=h.hold_id, camera_id=h.camera_id, reason=h.reason,
                          created_by=h.created_by, time_range=_range_msg(h.start_ms, h.end_ms))


def caller(context: grpc.aio.ServicerContext) -> str:
    """Who asked, for manifests and logs (a token's subject once authentication is on)."""
    return context.peer() or "unknown"


class CameraServicer(cameras_pb2_grpc.CameraServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    @mapped_errors
    async def RegisterCamera(self, request: cameras_pb2.RegisterCameraRequest,
                             context: grpc.aio.ServicerContext) -> cameras_pb2.Camera:
        c = request.camera
        if c.retention_days < 1:
            raise InvalidArgumentError("retention_days must be at least 1")
        camera = Camera(camera_id_arg(c.camera_id), c.name[:200], c.group[:100], c.location[:200],
                        c.stream_url[:2000], c.retention_days)
        return camera_message(await asyncio.to_thread(self._node.cameras.put, camera))

    @mapped_errors
    async def GetCamera(self, request: cameras_pb2.GetCameraRequest,
                        context: grpc.aio.ServicerContext) -> cameras_pb2.Camera:
        camera = await asyncio.to_thread(self._node.cameras.get, camera_id_arg(request.camera_id))
        if camera is None:
            raise NotFoundError(f"no camera {request.camera_id}")
        return camera_message(camera)

    @mapped_errors
    async def ListCameras(self, request: cameras_pb2.ListCamerasRequest,
                          context: grpc.aio.ServicerContext) -> cameras_pb2.ListCamerasResponse:
        cameras = await asyncio.to_thread(self._node.cameras.list)
        return cameras_pb2.ListCamerasResponse(cameras=[
            camera_message(c) for c in cameras if not request.group or c.group == request.group])


class PlaybackServicer(playback_pb2_grpc.PlaybackServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    def _ttl(self) -> timedelta:
        return timedelta(seconds=self._node.settings.storage.presign_ttl_s)

    @mapped_errors
    async def GetPlaylist(self, request: playback_pb2.GetPlaylistRequest,
                          context: grpc.aio.ServicerContext) -> playback_pb2.GetPlaylistResponse:
        camera = camera_id_arg(request.camera_id)
        start, end = time_range_arg(request.time_range)
        segments = await asyncio.to_thread(lambda: list(self._node.recordings.segments(camera, start, end)))
        if not segments:
            raise NotFoundError(f"camera {camera} has no footage in the requested range")
        ttl = self._ttl()
        m3u8 = await asyncio.to_thread(hls_playlist, segments,
                                       lambda key: self._node.store.presigned_get_url(key, ttl))
        return playback_pb2.GetPlaylistResponse(
            m3u8=m3u8, segments=len(segments), gaps=[_range_msg(a, b) for a, b in gaps(segments)],
            urls_expire=ts_from_ms(to_ms(datetime.now(UTC) + ttl)))

    @mapped_errors
    async def GetClipUrl(self, request: playback_pb2.GetClipUrlRequest,
                         context: grpc.aio.ServicerContext) -> playback_pb2.GetClipUrlResponse:
        key = request.segment_key
        if not key.startswith("segments/") or ".." in key or not key.endswith(".mp4"):
            raise InvalidArgumentError("segment_key must name a stored segment (segments/…/….mp4)")
        manifest = await asyncio.to_thread(self._node.recordings.manifest, key)
        if manifest is None:
            raise NotFoundError("no such segment")
        ttl = self._ttl()
        url = await asyncio.to_thread(self._node.store.presigned_get_url, key, ttl)
        return playback_pb2.GetClipUrlResponse(url=url, expires=ts_from_ms(to_ms(datetime.now(UTC) + ttl)))

    @mapped_errors
    async def ExportClip(self, request: playback_pb2.ExportClipRequest,
                         context: grpc.aio.ServicerContext) -> playback_pb2.ExportClipResponse:
        cameras = [camera_id_arg(c) for c in dict.fromkeys(request.camera_ids)]
        if not cameras or len(cameras) > MAX_CAMERAS_PER_EXPORT:
            raise InvalidArgumentError(f"give 1..{MAX_CAMERAS_PER_EXPORT} camera ids")
        start, end = time_range_arg(request.time_range, self._node.settings.server.max_export_hours)
        exporter, who, ttl = self._node.exporter, caller(context), self._ttl()
        export_id = exporter.new_id()
        clips = []
        for camera in cameras:
            m = await asyncio.to_thread(exporter.export, export_id, camera, start, end, who)
            url = await asyncio.to_thread(self._node.store.presigned_get_url, m.video_key, ttl)
            clips.append(playback_pb2.ExportedClip(
                camera_id=camera, video_key=m.video_key, sha256=m.sha256, url=url,
                manifest_key=m.video_key.removesuffix(".mp4") + ".json",
                delivered=_range_msg(m.start_ms, m.end_ms), source_segments=len(m.sources)))
        return playback_pb2.ExportClipResponse(export_id=export_id, clips=clips)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    @mapped_errors
    async def PlaceHold(self, request: admin_pb2.PlaceHoldRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.Hold:
        camera = camera_id_arg(request.camera_id)
        start, end = time_range_arg(request.time_range)
        hold = await asyncio.to_thread(self._node.holds.place, camera, start, end,
                                       request.reason[:500], caller(context))
        return hold_message(hold)

    @mapped_errors
    async def ReleaseHold(self, request: admin_pb2.ReleaseHoldRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.ReleaseHoldResponse:
        if not request.hold_id.isalnum() or len(request.hold_id) != 32:
            raise InvalidArgumentError("hold_id must be 32 hex characters")
        await asyncio.to_thread(self._node.holds.release, request.hold_id)
        return admin_pb2.ReleaseHoldResponse()

    @mapped_errors
    async def ListHolds(self, request: admin_pb2.ListHoldsRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.ListHoldsResponse:
        holds = await asyncio.to_thread(self._node.holds.all)
        return admin_pb2.ListHoldsResponse(holds=[hold_message(h) for h in holds])

    @mapped_errors
    async def RunRetention(self, request: admin_pb2.RunRetentionRequest,
                           context: grpc.aio.ServicerContext) -> admin_pb2.RunRetentionResponse:
        report = await asyncio.to_thread(self._node.retention.sweep)
        return admin_pb2.RunRetentionResponse(
            segments_deleted=report.segments_deleted, bytes_deleted=report.bytes_deleted,
            vectors_deleted=report.vectors_deleted, segments_held=report.held)
