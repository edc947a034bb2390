"""gRPC servicers for cameras, playback/export and retention/holds."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.api.access import current_principal
from services.api.rpc_audit import note
from services.api.model_admin import model_spec_arg, model_status_message
from services.api.servicers import camera_id_arg, mapped_errors, visible_camera
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.node.app import Vigil
from services.security.audit import AuditHead
from services.security.auth import Principal, Role, hash_token, validate_subject
from services.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
)
from services.cluster.live_recorders import LiveStatus
from storage.cameras import Camera
from storage.keys import TOKEN_HASH, is_segment_key, validate_group, validate_groups
from storage.playlist import gaps, hls_playlist
from storage.retention import Hold
from storage.timeutil import DAY_S, HOUR_MS, to_ms
from vigil.v1 import admin_pb2, admin_pb2_grpc, cameras_pb2, cameras_pb2_grpc, common_pb2
from vigil.v1 import playback_pb2, playback_pb2_grpc

MAX_CAMERAS_PER_EXPORT = 16
STATS_SEGMENTS_CAP = 1_000_000


def time_range_arg(tr: common_pb2.TimeRange, max_hours: float | None = None,
                   limit_setting: str = "") -> tuple[int, int]:
    """[start, end) in ms; RESOURCE_EXHAUSTED past `max_hours` (named by its setting)."""
    if not (tr.HasField("start") and tr.HasField("end")):
        raise InvalidArgumentError("time_range needs both start and end")
    start, end = ms_from_ts(tr.start), ms_from_ts(tr.end)
    if end <= start:
        raise InvalidArgumentError("time_range end must be after its start")
    if max_hours is not None and end - start > max_hours * HOUR_MS:
        setting = f" ({limit_setting})" if limit_setting else ""
        raise ResourceExhaustedError(f"time_range covers {(end - start) / HOUR_MS:.4g} h, more than the "
                                     f"{max_hours:g} h limit{setting}; ask for shorter ranges")
    return start, end


def caller_gone(context: grpc.aio.ServicerContext) -> Callable[[], bool]:
    """A check, safe to call from worker threads, that turns True once the RPC's deadline has
    passed or the RPC has ended (the client cancelled or disconnected): long work passes it down
    and stops early instead of running on for nobody."""
    ended = threading.Event()
    context.add_done_callback(lambda _: ended.set())
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    return lambda: ended.is_set() or (deadline is not None and time.monotonic() >= deadline)


def camera_group_arg(group: str) -> str:
    """A camera's group (storage.keys.validate_group), or '' for an ungrouped camera that only
    tokens of every camera ('*') see."""
    try:
        return validate_group(group) if group else group
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def _range_msg(start_ms: int, end_ms: int) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(start_ms), end=ts_from_ms(end_ms))


def camera_message(c: Camera) -> cameras_pb2.Camera:
    return cameras_pb2.Camera(camera_id=c.camera_id, name=c.name, group=c.group, location=c.location,
                              stream_url=c.masked_stream_url, retention_days=c.retention_days)


def audit_head_message(head: AuditHead | None) -> admin_pb2.AuditHead | None:
    if head is None:
        return None
    return admin_pb2.AuditHead(node=head.node, seq=head.seq, hash=head.hash, time=head.time)


def hold_message(h: Hold) -> admin_pb2.Hold:
    return admin_pb2.Hold(hold_id=h.hold_id, camera_id=h.camera_id, reason=h.reason,
                          created_by=h.created_by, time_range=_range_msg(h.start_ms, h.end_ms))


def _ts_from_s(seconds: float | None) -> Timestamp | None:
    return None if seconds is None else ts_from_ms(round(seconds * 1000))


def _token_expiry(request: admin_pb2.CreateTokenRequest, ttl_days: float | None) -> float | None:
    """The requested expiry (unix seconds), else the default lifetime from now (None: never)."""
    now = time.time()
    if not request.HasField("expires"):
        return None if ttl_days is None else now + ttl_days * DAY_S
    expires = ms_from_ts(request.expires) / 1000
    if expires <= now:
        raise InvalidArgumentError("expires must be in the future")
    return expires


def caller() -> str:
    """Who asked: the authenticated token's subject (the audit record also names the token id)."""
    return current_principal().subject


async def audit(node: Vigil, action: str, details: dict[str, object]) -> None:
    """Add what this RPC touched to its audit record (the interceptor writes it, once, before the
    answer leaves); outside an RPC, append a record of its own."""
    if not note(action, details):
        await asyncio.to_thread(node.audit.append, caller(), action, details)


def may_change(principal: Principal, old: Camera | None, new: Camera) -> None:
    """Refuse a registration that would change a camera the caller may not change.

    A camera of a group the caller cannot see answers NOT_FOUND, with the same words for every
    such camera, as every other RPC answers for a camera it hides (GetCamera, StopCamera,
    PlaceHold, GetPlaylist …): nothing of the camera (group, name, settings) is revealed, and
    nothing is changed. That the id is in use cannot be hidden — camera ids are one namespace and
    a free id registers — so the message says to pick another id. PERMISSION_DENIED would single
    hidden cameras out from every other path. Moving a visible camera to another group is an
    admin's act (PERMISSION_DENIED)."""
    if old is None:
        return
    if not principal.all_cameras and old.group not in principal.groups:
        raise NotFoundError(f"no camera {new.camera_id} in your groups; camera ids are shared by "
                            "all groups, so register yours under another id")
    if old.group != new.group and principal.role is not Role.ADMIN:
        raise PermissionDeniedError(f"moving camera {new.camera_id!r} from group {old.group!r} to "
                                    f"{new.group!r} needs an admin token")


def camera_audit(c: Camera | None) -> dict[str, object] | None:
    """What an audit record keeps of a camera: its settings, the stream URL masked."""
    if c is None:
        return None
    return {"group": c.group, "name": c.name, "location": c.location, "retention_days": c.retention_days,
            "stream_url": c.masked_stream_url, "live": bool(c.stream_url)}


class CameraServicer(cameras_pb2_grpc.CameraServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    @mapped_errors
    async def RegisterCamera(self, request: cameras_pb2.RegisterCameraRequest,
                             context: grpc.aio.ServicerContext) -> cameras_pb2.Camera:
        c = request.camera
        if c.retention_days < 1:
            raise InvalidArgumentError("retention_days must be at least 1")
        camera_group_arg(c.group)
        principal = current_principal()
        if not principal.all_cameras and c.group not in principal.groups:
            raise PermissionDeniedError("you may only register cameras in your own groups")
        camera = Camera(camera_id_arg(c.camera_id), c.name[:200], c.group[:100], c.location[:200],
                        c.stream_url[:2000], c.retention_days)
        old = await asyncio.to_thread(self._node.cameras.get, camera.camera_id)
        may_change(principal, old, camera)
        if camera.stream_url:  # the fetch policy (storage.url_policy): INVALID_ARGUMENT, nothing stored
            await asyncio.to_thread(self._node.live.check, camera.stream_url)
        stored = await asyncio.to_thread(self._node.cameras.put, camera)
        self._node.camera_changed()
        await asyncio.to_thread(self._node.live.apply, stored)
        await audit(self._node, "register_camera", {"camera_id": camera.camera_id,
                                                    "old": camera_audit(old), "new": camera_audit(stored)})
        return camera_message(stored)

    @mapped_errors
    async def GetCamera(self, request: cameras_pb2.GetCameraRequest,
                        context: grpc.aio.ServicerContext) -> cameras_pb2.Camera:
        camera_id = await visible_camera(self._node, request.camera_id, f"no camera {request.camera_id}")
        camera = await asyncio.to_thread(self._node.cameras.get, camera_id)
        if camera is None:
            raise NotFoundError(f"no camera {request.camera_id}")
        return camera_message(camera)

    @mapped_errors
    async def ListCameras(self, request: cameras_pb2.ListCamerasRequest,
                          context: grpc.aio.ServicerContext) -> cameras_pb2.ListCamerasResponse:
        cameras = await asyncio.to_thread(self._node.cameras.list)
        visible = await asyncio.to_thread(self._node.visible_cameras, current_principal())
        return cameras_pb2.ListCamerasResponse(cameras=[
            camera_message(c) for c in cameras
            if (not request.group or c.group == request.group)
            and (visible is None or c.camera_id in visible)])

    @mapped_errors
    async def StopCamera(self, request: cameras_pb2.StopCameraRequest,
                         context: grpc.aio.ServicerContext) -> cameras_pb2.CameraStatus:
        camera = await self._registered(request.camera_id)
        await asyncio.to_thread(self._node.cameras.put, replace(camera, stream_url=""))
        status = await asyncio.to_thread(self._node.live.stop, camera.camera_id)
        await audit(self._node, "stop_camera", {"camera_id": camera.camera_id,
                                                "segments_stored": status.segments_stored})
        return _status_message(status)

    @mapped_errors
    async def GetCameraStatus(self, request: cameras_pb2.GetCameraStatusRequest,
                              context: grpc.aio.ServicerContext) -> cameras_pb2.CameraStatus:
        camera = await self._registered(request.camera_id)
        return _status_message(await asyncio.to_thread(self._node.live.status, camera.camera_id))

    async def _registered(self, camera_id: str) -> Camera:
        """The caller's visible, registered camera; NOT_FOUND otherwise."""
        visible_id = await visible_camera(self._node, camera_id, f"no camera {camera_id}")
        camera = await asyncio.to_thread(self._node.cameras.get, visible_id)
        if camera is None:
            raise NotFoundError(f"no camera {camera_id}")
        return camera


def _status_message(s: LiveStatus) -> cameras_pb2.CameraStatus:
    end = None if s.last_segment_end_ms is None else ts_from_ms(s.last_segment_end_ms)
    return cameras_pb2.CameraStatus(
        camera_id=s.camera_id, recording=s.recording, segments_stored=s.segments_stored,
        keyframes_indexed=s.keyframes_indexed, last_segment_end=end, reconnects=s.reconnects,
        last_error=s.last_error, queue_depth=s.queue_depth)


class PlaybackServicer(playback_pb2_grpc.PlaybackServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    def _ttl(self) -> timedelta:
        return timedelta(seconds=self._node.settings.storage.presign_ttl_s)

    @mapped_errors
    async def GetPlaylist(self, request: playback_pb2.GetPlaylistRequest,
                          context: grpc.aio.ServicerContext) -> playback_pb2.GetPlaylistResponse:
        missing = f"camera {request.camera_id} has no footage in the requested range"
        camera = await visible_camera(self._node, request.camera_id, missing)
        start, end = time_range_arg(request.time_range, self._node.settings.server.max_playlist_hours,
                                    "server.max_playlist_hours")
        stop = caller_gone(context)
        segments = await asyncio.to_thread(
            lambda: list(self._node.recordings.segments(camera, start, end, stop)))
        if not segments:
            raise NotFoundError(missing)
        await audit(self._node, "playlist", {"camera_id": camera, "start_ms": start, "end_ms": end,
                                             "segments": len(segments)})
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
        if not is_segment_key(key):
            raise InvalidArgumentError("segment_key must name a stored segment (segments/…/….mp4)")
        manifest = await asyncio.to_thread(self._node.recordings.manifest, key)
        visible = await asyncio.to_thread(self._node.visible_cameras, current_principal())
        if manifest is None or (visible is not None and manifest.camera_id not in visible):
            raise NotFoundError("no such segment")
        await audit(self._node, "clip_view", {"segment_key": key})
        ttl = self._ttl()
        url = await asyncio.to_thread(self._node.store.presigned_get_url, key, ttl)
        return playback_pb2.GetClipUrlResponse(url=url, expires=ts_from_ms(to_ms(datetime.now(UTC) + ttl)))

    @mapped_errors
    async def ExportClip(self, request: playback_pb2.ExportClipRequest,
                         context: grpc.aio.ServicerContext) -> playback_pb2.ExportClipResponse:
        if not 0 < len(request.camera_ids) <= MAX_CAMERAS_PER_EXPORT:
            raise InvalidArgumentError(f"give 1..{MAX_CAMERAS_PER_EXPORT} camera ids")
        start, end = time_range_arg(request.time_range, self._node.settings.server.max_export_hours,
                                    "server.max_export_hours")
        cameras = [await visible_camera(self._node, c, f"camera {c} has no footage in the requested range")
                   for c in dict.fromkeys(request.camera_ids)]
        exporter, who, ttl, stop = self._node.exporter, caller(), self._ttl(), caller_gone(context)
        export_id = exporter.new_id()
        clips = []
        for camera in cameras:
            m = await asyncio.to_thread(exporter.export, export_id, camera, start, end, who, stop)
            url = await asyncio.to_thread(self._node.store.presigned_get_url, m.video_key, ttl)
            clips.append(playback_pb2.ExportedClip(
                camera_id=camera, video_key=m.video_key, sha256=m.sha256, url=url,
                manifest_key=m.manifest_key,
                delivered=_range_msg(m.start_ms, m.end_ms), source_segments=len(m.sources)))
        await audit(self._node, "export", {"export_id": export_id, "cameras": cameras,
                                           "start_ms": start, "end_ms": end,
                                           "sha256": [c.sha256 for c in clips]})
        return playback_pb2.ExportClipResponse(export_id=export_id, clips=clips)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, node: Vigil) -> None:
        self._node = node

    @mapped_errors
    async def PlaceHold(self, request: admin_pb2.PlaceHoldRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.Hold:
        camera = await visible_camera(self._node, request.camera_id, f"no camera {request.camera_id}")
        start, end = time_range_arg(request.time_range)
        hold = await asyncio.to_thread(self._node.holds.place, camera, start, end,
                                       request.reason[:500], caller())
        await audit(self._node, "place_hold", {"hold_id": hold.hold_id, "camera_id": camera,
                                               "start_ms": start, "end_ms": end})
        return hold_message(hold)

    @mapped_errors
    async def ReleaseHold(self, request: admin_pb2.ReleaseHoldRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.ReleaseHoldResponse:
        if not re.fullmatch(r"[0-9a-f]{32}", request.hold_id):
            raise InvalidArgumentError("hold_id must be 32 hex characters")
        hold = await asyncio.to_thread(self._node.holds.get, request.hold_id)
        visible = await asyncio.to_thread(self._node.visible_cameras, current_principal())
        if hold is None or (visible is not None and hold.camera_id not in visible):
            raise NotFoundError(f"no hold {request.hold_id}")
        await asyncio.to_thread(self._node.holds.release, request.hold_id)
        await audit(self._node, "release_hold", {"hold_id": request.hold_id})
        return admin_pb2.ReleaseHoldResponse()

    @mapped_errors
    async def ListHolds(self, request: admin_pb2.ListHoldsRequest,
                        context: grpc.aio.ServicerContext) -> admin_pb2.ListHoldsResponse:
        holds = await asyncio.to_thread(self._node.holds.all)
        visible = await asyncio.to_thread(self._node.visible_cameras, current_principal())
        return admin_pb2.ListHoldsResponse(holds=[hold_message(h) for h in holds
                                                  if visible is None or h.camera_id in visible])

    @mapped_errors
    async def RunRetention(self, request: admin_pb2.RunRetentionRequest,
                           context: grpc.aio.ServicerContext) -> admin_pb2.RunRetentionResponse:
        report = await asyncio.to_thread(self._node.retention.sweep)
        await audit(self._node, "retention", report.audit_details())
        return admin_pb2.RunRetentionResponse(
            segments_deleted=report.segments_deleted, bytes_deleted=report.bytes_deleted,
            vectors_deleted=report.vectors_deleted, segments_held=report.held)

    @mapped_errors
    async def CreateToken(self, request: admin_pb2.CreateTokenRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.CreateTokenResponse:
        try:
            role = Role(request.role)
        except ValueError:
            raise InvalidArgumentError(f"role must be one of {[r.value for r in Role]}") from None
        expires = _token_expiry(request, self._node.settings.auth.token_ttl_days)
        try:
            subject, groups = validate_subject(request.subject), validate_groups(list(request.groups))
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from None
        if not current_principal().manages(groups):
            raise PermissionDeniedError("you may only issue tokens for groups of your own token")
        token = await asyncio.to_thread(self._node.tokens.create, subject, role, list(groups), expires)
        token_hash = hash_token(token)
        await audit(self._node, "create_token", {"token_hash": token_hash, "subject": subject,
                                                 "role": role.value, "groups": list(groups),
                                                 "expires": expires})
        return admin_pb2.CreateTokenResponse(token=token, token_hash=token_hash,
                                             expires=_ts_from_s(expires))

    @mapped_errors
    async def RevokeToken(self, request: admin_pb2.RevokeTokenRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.RevokeTokenResponse:
        if not TOKEN_HASH.fullmatch(request.token_hash):
            raise InvalidArgumentError("token_hash must be 64 lowercase hex characters "
                                       "(the id `vigil token list` shows)")
        record = await asyncio.to_thread(self._node.tokens.get, request.token_hash)
        if record is None or not current_principal().manages(record.groups):
            raise NotFoundError("no such token")
        await asyncio.to_thread(self._node.tokens.revoke, request.token_hash)
        await audit(self._node, "revoke_token", {"token_hash": request.token_hash})
        return admin_pb2.RevokeTokenResponse()

    @mapped_errors
    async def ListTokens(self, request: admin_pb2.ListTokensRequest,
                         context: grpc.aio.ServicerContext) -> admin_pb2.ListTokensResponse:
        records = await asyncio.to_thread(self._node.tokens.list)
        now, principal = time.time(), current_principal()
        return admin_pb2.ListTokensResponse(tokens=[admin_pb2.TokenInfo(
            token_hash=r.token_hash, subject=r.subject, role=r.role, groups=r.groups,
            created=_ts_from_s(r.created), expires=_ts_from_s(r.expires), expired=r.expired(now))
            for r in records if principal.manages(r.groups)])

    @mapped_errors
    async def GetStats(self, request: admin_pb2.GetStatsRequest,
                       context: grpc.aio.ServicerContext) -> admin_pb2.GetStatsResponse:
        return admin_pb2.GetStatsResponse(**await asyncio.to_thread(self._node.stats, STATS_SEGMENTS_CAP))

    @mapped_errors
    async def SwitchModel(self, request: admin_pb2.SwitchModelRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.ModelStatus:
        spec = model_spec_arg(request.model)
        status = await asyncio.to_thread(self._node.switch_model, spec)
        await audit(self._node, "switch_model", {"model_id": status.progress.target_model_id,
                                                 "name": spec.name, "pretrained": spec.pretrained,
                                                 "path": str(spec.path) if spec.path else None})
        return model_status_message(status)

    @mapped_errors
    async def GetModelStatus(self, request: admin_pb2.GetModelStatusRequest,
                             context: grpc.aio.ServicerContext) -> admin_pb2.ModelStatus:
        return model_status_message(await asyncio.to_thread(self._node.switcher.status))

    @mapped_errors
    async def VerifyAudit(self, request: admin_pb2.VerifyAuditRequest,
                          context: grpc.aio.ServicerContext) -> admin_pb2.VerifyAuditResponse:
        notarised = None
        if request.HasField("head"):
            if not re.fullmatch(r"[0-9a-f]{64}", request.head.hash) or request.head.seq < 0:
                raise InvalidArgumentError("head needs a seq >= 0 and a hash of 64 lowercase hex characters")
            notarised = (request.head.seq, request.head.hash)
        check = await asyncio.to_thread(self._node.audit.verify, notarised)
        return admin_pb2.VerifyAuditResponse(records=check.records, ok=check.ok, reason=check.reason,
                                             first_broken_seq=check.first_broken_seq or 0,
                                             unverified_nodes=check.unverified_nodes,
                                             unkeyed_nodes=check.unkeyed_nodes,
                                             head=audit_head_message(check.head))

    @mapped_errors
    async def GetAuditHead(self, request: admin_pb2.GetAuditHeadRequest,
                           context: grpc.aio.ServicerContext) -> admin_pb2.AuditHead:
        head = await asyncio.to_thread(self._node.audit.head)
        if head is None:
            raise NotFoundError("this node has written no audit record yet")
        return audit_head_message(head)
