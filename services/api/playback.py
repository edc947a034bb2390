"""PlaybackService over gRPC: playlists, clip URLs, media bytes and exports, through
`PlaybackService` and `EvidenceService`; long work stops once the caller has gone (`caller_gone`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.api import convert
from services.api.calls import Context, caller, caller_gone
from services.api.timestamps import ts_from_ms
from services.application.playback import EvidenceService, ExportedClip, PlaybackService
from vigil.v1 import playback_pb2, playback_pb2_grpc


def clip_message(clip: ExportedClip) -> playback_pb2.ExportedClip:
    m = clip.manifest
    return playback_pb2.ExportedClip(
        camera_id=m.camera_id, video_key=m.video_key, sha256=m.sha256, url=clip.url,
        manifest_key=m.manifest_key, delivered=convert.range_message(m.start_ms, m.end_ms),
        source_segments=len(m.sources))


class PlaybackServicer(playback_pb2_grpc.PlaybackServiceServicer):
    def __init__(self, playback: PlaybackService, evidence: EvidenceService) -> None:
        self._playback, self._evidence = playback, evidence

    async def GetPlaylist(self, request: playback_pb2.GetPlaylistRequest,
                          context: Context) -> playback_pb2.GetPlaylistResponse:
        start, end = convert.time_range(request.time_range)
        p = await asyncio.to_thread(self._playback.playlist, caller(), request.camera_id, start, end,
                                    caller_gone(context), request.url_prefix)
        response = playback_pb2.GetPlaylistResponse(
            m3u8=p.m3u8, segments=p.segments, gaps=[convert.range_message(a, b) for a, b in p.gaps])
        if p.urls_expire_ms:  # none with url_prefix: nothing presigned
            response.urls_expire.CopyFrom(ts_from_ms(p.urls_expire_ms))
        return response

    async def ListSegments(self, request: playback_pb2.ListSegmentsRequest,
                           context: Context) -> playback_pb2.ListSegmentsResponse:
        start, end = convert.time_range(request.time_range)
        listed = await asyncio.to_thread(self._playback.segments, caller(), request.camera_id, start, end,
                                         caller_gone(context))
        return playback_pb2.ListSegmentsResponse(
            segments=[playback_pb2.RecordedSegment(segment_key=k, time_range=convert.range_message(a, b))
                      for k, a, b in listed.segments],
            gaps=[convert.range_message(a, b) for a, b in listed.gaps])

    async def GetClipUrl(self, request: playback_pb2.GetClipUrlRequest,
                         context: Context) -> playback_pb2.GetClipUrlResponse:
        signed = await asyncio.to_thread(self._playback.clip_url, caller(), request.segment_key)
        return playback_pb2.GetClipUrlResponse(url=signed.url, expires=ts_from_ms(signed.expires_ms))

    async def ExportClip(self, request: playback_pb2.ExportClipRequest,
                         context: Context) -> playback_pb2.ExportClipResponse:
        start, end = convert.time_range(request.time_range)
        export = await asyncio.to_thread(self._evidence.export, caller(), list(request.camera_ids),
                                         start, end, caller_gone(context))
        return playback_pb2.ExportClipResponse(export_id=export.export_id,
                                               clips=[clip_message(c) for c in export.clips])

    async def ReadMedia(self, request: playback_pb2.ReadMediaRequest,
                        context: Context) -> AsyncIterator[playback_pb2.MediaChunk]:
        media = await asyncio.to_thread(self._playback.open_media, caller(), request.key,
                                        request.offset, request.length)
        position = media.offset
        while position < media.end:
            data = await asyncio.to_thread(self._playback.read_media, media, position)
            if not data:  # the object shrank under us (replaced): end rather than loop
                break
            yield playback_pb2.MediaChunk(data=data, offset=position, total_size=media.total_size,
                                          content_type=media.content_type)
            position += len(data)
