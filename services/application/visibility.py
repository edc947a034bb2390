"""Which cameras a caller may see: the one place the camera-group rule is applied.

A principal sees the cameras whose group is one of its groups; a token for every group ('*')
sees every camera, ungrouped ones included. A camera the caller may not see is answered exactly
as a camera that does not exist (NOT_FOUND with the caller's own words), so nothing of it leaks.
Camera groups are read from the registry and cached for `GROUPS_CACHE_S`; a change made on this
node is seen at once (`changed`), one made on another front end within the cache time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from services.errors import InvalidArgumentError, NotFoundError
from services.security.auth import Principal
from storage.cameras import CameraRegistry
from storage.keys import validate_camera_id

GROUPS_CACHE_S = 5.0


def camera_id_arg(camera_id: str) -> str:
    """A well-formed camera id (storage.keys.validate_camera_id), else INVALID_ARGUMENT."""
    try:
        return validate_camera_id(camera_id)
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from None


class Visibility:
    def __init__(self, cameras: CameraRegistry, cache_s: float = GROUPS_CACHE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cameras, self._cache_s, self._clock = cameras, cache_s, clock
        self._cache: tuple[float, dict[str, str]] = (float("-inf"), {})
        self._lock = threading.Lock()

    def camera_groups(self) -> dict[str, str]:
        """camera id → group, from the registry, cached for a few seconds."""
        with self._lock:
            loaded_at, groups = self._cache
        if self._clock() - loaded_at > self._cache_s:
            groups = {c.camera_id: c.group for c in self._cameras.list()}
            with self._lock:
                self._cache = (self._clock(), groups)
        return groups

    def changed(self) -> None:
        """A camera was registered or changed here: the next check reads the registry."""
        with self._lock:
            self._cache = (float("-inf"), {})

    def cameras(self, principal: Principal) -> frozenset[str] | None:
        """Cameras the caller may see; None means every camera (groups '*')."""
        if principal.all_cameras:
            return None
        return frozenset(c for c, g in self.camera_groups().items() if g in principal.groups)

    def sees(self, principal: Principal, camera_id: str) -> bool:
        visible = self.cameras(principal)
        return visible is None or camera_id in visible

    def camera(self, principal: Principal, camera_id: str, missing: str) -> str:
        """The (valid) camera id if the caller may see it; NotFoundError(`missing`) otherwise,
        exactly as for a camera that does not exist."""
        camera_id = camera_id_arg(camera_id)
        if not self.sees(principal, camera_id):
            raise NotFoundError(missing)
        return camera_id
