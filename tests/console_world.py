"""A console over a test node with two wards' footage: used by the console's server tests
(tests/integration/test_console_server.py) and the browser tests (tests/browser/conftest.py).

Ward A has camera `console-cam-a`, ward B `console-cam-b`; each holds the scenes of
tests/media.make_video (H.264, 4 s fMP4 segments that Chromium plays). Tokens: a '*' admin, an
investigator of ward A, a viewer of ward A and a viewer of ward B. The console runs in this
process (services.console.server.BackgroundConsole) in front of the node's gRPC server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.api.client import VigilClient
from services.console.server import DIST, BackgroundConsole
from vigil.v1 import cameras_pb2

GROUP_A, GROUP_B = "console-ward-a", "console-ward-b"
CAM_A, CAM_B = "console-cam-a", "console-cam-b"
# Footage starts at this hour (recent, so no retention sweep touches it).
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@dataclass
class ConsoleWorld:
    url: str  # the console, e.g. "http://127.0.0.1:41234"
    tokens: dict[str, str]  # "admin" ('*'), "investigator" (ward A), "viewer" (ward A), "viewer_b"
    make_token: Callable[..., str]  # (role, groups, expires_in_s=None) -> a new token
    segments: dict[str, list[str]] = field(default_factory=dict)  # camera -> its segment keys
    thumbnails: dict[str, list[str]] = field(default_factory=dict)  # camera -> thumbnail keys
    start: datetime = START


def _keys(node: Any, prefix: str, suffix: str) -> list[str]:
    return sorted(o.key for o in node.store.list(prefix) if o.key.endswith(suffix))


@contextmanager
def console_world(node: Any, server: Any, admin_token: str, video: Path,
                  dist: Path = DIST) -> Iterator[ConsoleWorld]:
    """Register and fill both wards' cameras (once per node), mint the tokens, serve the console."""
    with VigilClient(server.address, admin_token) as admin:
        for camera, group in ((CAM_A, GROUP_A), (CAM_B, GROUP_B)):
            if not _keys(node, f"segments/{camera}/", ".mp4"):
                admin.register_camera(cameras_pb2.Camera(camera_id=camera, name=f"{camera} street",
                                                         group=group, retention_days=30))
                status = admin.wait_for_job(admin.ingest_file(video, camera, START))
                assert status.state == "succeeded", status.error

        def make_token(role: str, groups: list[str], expires_in_s: float | None = None) -> str:
            expires = None if expires_in_s is None else datetime.now(UTC) + timedelta(seconds=expires_in_s)
            return admin.create_token(f"console-{role}", role, groups, expires)[0]

        tokens = {"admin": admin_token, "investigator": make_token("investigator", [GROUP_A]),
                  "viewer": make_token("viewer", [GROUP_A]), "viewer_b": make_token("viewer", [GROUP_B])}
        with BackgroundConsole(node, server.port, dist, port=0) as console:
            yield ConsoleWorld(
                console.url, tokens, make_token,
                {c: _keys(node, f"segments/{c}/", ".mp4") for c in (CAM_A, CAM_B)},
                {c: _keys(node, f"thumbnails/{c}/", ".jpg") for c in (CAM_A, CAM_B)})
