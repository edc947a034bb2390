"""CameraService over gRPC: registrations and live status, through `CameraService`."""

from __future__ import annotations

import asyncio

from services.api.calls import Context, caller
from services.api.timestamps import ts_from_ms
from services.application.cameras import CameraService
from services.cluster.live_recorders import LiveStatus
from storage.cameras import Camera
from vigil.v1 import cameras_pb2, cameras_pb2_grpc


def camera_value(c: cameras_pb2.Camera) -> Camera:
    """The registration asked for, each text field cut to its length limit."""
    return Camera(c.camera_id, c.name[:200], c.group[:100], c.location[:200], c.stream_url[:2000],
                  c.retention_days)


def camera_message(c: Camera) -> cameras_pb2.Camera:
    return cameras_pb2.Camera(camera_id=c.camera_id, name=c.name, group=c.group, location=c.location,
                              stream_url=c.masked_stream_url, retention_days=c.retention_days)


def status_message(s: LiveStatus) -> cameras_pb2.CameraStatus:
    end = None if s.last_segment_end_ms is None else ts_from_ms(s.last_segment_end_ms)
    error_at = None if s.last_error_ms is None else ts_from_ms(s.last_error_ms)
    return cameras_pb2.CameraStatus(
        camera_id=s.camera_id, recording=s.recording, segments_stored=s.segments_stored,
        keyframes_indexed=s.keyframes_indexed, last_segment_end=end, reconnects=s.reconnects,
        last_error=s.last_error, last_error_at=error_at, queue_depth=s.queue_depth)


class CameraServicer(cameras_pb2_grpc.CameraServiceServicer):
    def __init__(self, cameras: CameraService) -> None:
        self._cameras = cameras

    async def RegisterCamera(self, request: cameras_pb2.RegisterCameraRequest,
                             context: Context) -> cameras_pb2.Camera:
        stored = await asyncio.to_thread(self._cameras.register, caller(), camera_value(request.camera))
        return camera_message(stored)

    async def GetCamera(self, request: cameras_pb2.GetCameraRequest,
                        context: Context) -> cameras_pb2.Camera:
        return camera_message(await asyncio.to_thread(self._cameras.get, caller(), request.camera_id))

    async def ListCameras(self, request: cameras_pb2.ListCamerasRequest,
                          context: Context) -> cameras_pb2.ListCamerasResponse:
        cameras = await asyncio.to_thread(self._cameras.list, caller(), request.group)
        return cameras_pb2.ListCamerasResponse(cameras=[camera_message(c) for c in cameras])

    async def StopCamera(self, request: cameras_pb2.StopCameraRequest,
                         context: Context) -> cameras_pb2.CameraStatus:
        return status_message(await asyncio.to_thread(self._cameras.stop, caller(), request.camera_id))

    async def GetCameraStatus(self, request: cameras_pb2.GetCameraStatusRequest,
                              context: Context) -> cameras_pb2.CameraStatus:
        return status_message(await asyncio.to_thread(self._cameras.status, caller(), request.camera_id))
