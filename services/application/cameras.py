"""Cameras: register (and take over only what the caller may change), read, list, stop, status.

A caller registers cameras only in its own groups. Registering an id that is in use changes that
camera, which `may_change` allows only for a camera the caller sees, and a move to another group
only for an admin. A stream URL must pass the fetch policy before anything is stored; the
registration then starts, restarts or ends the camera's live recording. The audit record keeps
the camera before and after (stream URLs masked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from services.application.audit import AuditTrail, Caller
from services.application.visibility import Visibility, camera_id_arg
from services.cluster.live_recorders import LiveStatus
from services.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from services.security.auth import Principal, Role
from storage.cameras import Camera, CameraRegistry
from storage.keys import validate_group


class LiveCameras(Protocol):
    """The node's live recordings (`services.live.manager.LiveManager`)."""

    def check(self, stream_url: str) -> None: ...

    def apply(self, camera: Camera) -> bool: ...

    def stop(self, camera_id: str) -> LiveStatus: ...

    def status(self, camera_id: str) -> LiveStatus: ...


def camera_group_arg(group: str) -> str:
    """A camera's group (storage.keys.validate_group), or '' for an ungrouped camera that only
    tokens of every camera ('*') see."""
    try:
        return validate_group(group) if group else group
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


def may_change(principal: Principal, old: Camera | None, new: Camera) -> None:
    """Refuse a registration that would change a camera the caller may not change.

    A camera of a group the caller cannot see answers NOT_FOUND, with the same words for every
    such camera, as every other path answers for a camera it hides (GetCamera, StopCamera,
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


class CameraService:
    def __init__(self, visibility: Visibility, registry: CameraRegistry, live: Callable[[], LiveCameras],
                 audit: AuditTrail) -> None:
        """`live` gives the recordings of the version served now (a model switch replaces them)."""
        self._visibility, self._registry, self._live, self._audit = visibility, registry, live, audit

    def register(self, caller: Caller, camera: Camera) -> Camera:
        """Store the registration (new or a change the caller may make) and apply it to live recording."""
        if camera.retention_days < 1:
            raise InvalidArgumentError("retention_days must be at least 1")
        camera_group_arg(camera.group)
        principal = caller.principal
        if not principal.all_cameras and camera.group not in principal.groups:
            raise PermissionDeniedError("you may only register cameras in your own groups")
        camera = replace(camera, camera_id=camera_id_arg(camera.camera_id))
        old = self._registry.get(camera.camera_id)
        may_change(principal, old, camera)
        if camera.stream_url:  # the fetch policy (storage.url_policy): INVALID_ARGUMENT, nothing stored
            self._live().check(camera.stream_url)
        stored = self._registry.put(camera)
        self._visibility.changed()
        self._live().apply(stored)
        self._audit.touched(caller, "register_camera", {
            "camera_id": camera.camera_id, "old": camera_audit(old), "new": camera_audit(stored)})
        return stored

    def get(self, caller: Caller, camera_id: str) -> Camera:
        """The caller's visible, registered camera; NOT_FOUND otherwise."""
        visible = self._visibility.camera(caller.principal, camera_id, f"no camera {camera_id}")
        camera = self._registry.get(visible)
        if camera is None:
            raise NotFoundError(f"no camera {camera_id}")
        return camera

    def list(self, caller: Caller, group: str = "") -> list[Camera]:
        """The caller's cameras, of `group` only when one is given."""
        visible = self._visibility.cameras(caller.principal)
        return [c for c in self._registry.list()
                if (not group or c.group == group) and (visible is None or c.camera_id in visible)]

    def stop(self, caller: Caller, camera_id: str) -> LiveStatus:
        """End the camera's live recording and forget its stream URL (the camera stays registered)."""
        camera = self.get(caller, camera_id)
        self._registry.put(replace(camera, stream_url=""))
        status = self._live().stop(camera.camera_id)
        self._audit.touched(caller, "stop_camera", {"camera_id": camera.camera_id,
                                                    "segments_stored": status.segments_stored})
        return status

    def status(self, caller: Caller, camera_id: str) -> LiveStatus:
        return self._live().status(self.get(caller, camera_id).camera_id)
