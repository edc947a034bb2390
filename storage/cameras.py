"""The camera registry, stored in the bucket (`cameras/{camera_id}.json`).

Stream URLs may carry credentials (rtsp://user:pass@host/…); they are kept in
the bucket but masked in every repr, log line and API response.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/]*)(:[^@/]*)?@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|key|secret|auth)=)[^&#]*")


def mask_url(url: str) -> str:
    """The URL with any password or secret query value replaced by '***'."""
    masked = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m.group(3) or m["user"]
                           else m.group(0), url)
    return _SECRET_QUERY.sub(r"\1***", masked)


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str = ""
    group: str = ""  # ward, district or owner system; access is granted per group
    location: str = ""
    stream_url: str = field(default="", repr=False)
    retention_days: int = 30

    @property
    def masked_stream_url(self) -> str:
        return mask_url(self.stream_url)

    def __repr__(self) -> str:
        return (f"Camera(camera_id={self.camera_id!r}, group={self.group!r}, "
                f"stream_url={self.masked_stream_url!r}, retention_days={self.retention_days})")


class CameraRegistry:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def put(self, camera: Camera) -> Camera:
        if camera.retention_days < 1:
            raise ValueError(f"retention of {camera.retention_days} days: must be at least 1")
        self._store.put_bytes(keys.camera_key(camera.camera_id), json.dumps(asdict(camera)).encode(),
                              "application/json")
        return camera

    def get(self, camera_id: str) -> Camera | None:
        try:
            return Camera(**json.loads(self._store.get_bytes(keys.camera_key(camera_id))))
        except ObjectNotFoundError:
            return None

    def list(self) -> list[Camera]:
        return [Camera(**json.loads(self._store.get_bytes(o.key)))
                for o in sorted(self._store.list(keys.CAMERAS_PREFIX), key=lambda o: o.key)]
