"""The console's routes over a stand-in for the node's gRPC server (no Ray, no node): what a browser
gets for sessions, CSRF, the node's errors, streams and media ranges. The same routes over a real
node: tests/integration/test_console_server.py."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from services.console.app import ConsoleConfig, Identity, create_app
from services.console.connect import ConnectError, Method
from services.console.sessions import SessionStore
from services.security.auth import Principal, Role
from vigil.v1 import cameras_pb2, playback_pb2

pytestmark = pytest.mark.unit
TOKEN = "a-valid-token"
OBJECT = bytes(range(256)) * 40


class FakeNode:
    """Answers like the node's gRPC server would, recording the bearer of every call."""

    def __init__(self) -> None:
        self.bearers: list[str] = []

    async def unary(self, method: Method, request: Any, token: str, timeout_s: float | None = None) -> Any:
        self.bearers.append(token)
        if method.path.endswith("/GetCamera"):
            raise ConnectError("not_found", f"no camera {request.camera_id}")
        return cameras_pb2.ListCamerasResponse(cameras=[cameras_pb2.Camera(camera_id="cam-a")])

    def stream(self, method: Method, request: Any, token: str, timeout_s: float | None = None
               ) -> AsyncIterator[Any]:
        self.bearers.append(token)

        async def chunks() -> AsyncIterator[Any]:
            if not request.key.startswith("segments/cam-a/"):
                raise ConnectError("not_found", "no such media")
            end = len(OBJECT) if not request.length else min(len(OBJECT), request.offset + request.length)
            for at in range(request.offset, end, 1000):
                yield playback_pb2.MediaChunk(data=OBJECT[at:min(end, at + 1000)], offset=at,
                                              total_size=len(OBJECT), content_type="video/mp4")
        return chunks()

    async def close(self) -> None:
        return None


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[TestClient, FakeNode, list[tuple[str, str]]]:
    node, audited = FakeNode(), []

    async def identify(token: str) -> Identity:
        if token != TOKEN:
            raise ConnectError("unauthenticated", "this token is not valid")
        return Identity(Principal("ana", Role.VIEWER, frozenset({"ward-a"})), None)

    async def audit(subject: str, action: str, details: dict[str, object]) -> None:
        audited.append((subject, action))

    config = ConsoleConfig(tmp_path / "dist", False, 1024, SessionStore(3600, 10), node,  # type: ignore[arg-type]
                           identify, audit, lambda client: True)
    return TestClient(create_app(config), base_url="http://console.test"), node, audited


def _csrf(http: TestClient) -> str:
    r = http.post("/session", json={"token": TOKEN})
    assert r.status_code == 200
    return str(r.json()["csrf"])


def test_calls_carry_the_sessions_token_and_the_nodes_errors_come_back_as_connect_errors(
        setup: tuple[TestClient, FakeNode, list[tuple[str, str]]]) -> None:
    http, node, audited = setup
    csrf = _csrf(http)
    headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    r = http.post("/api/vigil.v1.CameraService/ListCameras", content="{}", headers=headers)
    assert r.json() == {"cameras": [{"cameraId": "cam-a"}]} and node.bearers == [TOKEN]
    r = http.post("/api/vigil.v1.CameraService/GetCamera", content='{"cameraId": "cam-b"}', headers=headers)
    assert (r.status_code, r.json()) == (404, {"code": "not_found", "message": "no camera cam-b"})
    r = http.post("/api/vigil.v1.CameraService/ListCameras", content="{}",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 403 and len(node.bearers) == 2  # refused before the node is called
    r = http.post("/api/vigil.v1.CameraService/ListCameras", content="x" * 2000, headers=headers)
    assert r.status_code == 413
    assert audited == [("ana", "console_sign_in")]
    assert "content-security-policy" in r.headers and r.headers["x-content-type-options"] == "nosniff"


def test_ranges_of_media_stream_from_the_node_and_its_refusals_pass_through(
        setup: tuple[TestClient, FakeNode, list[tuple[str, str]]]) -> None:
    http, _, _ = setup
    _csrf(http)
    key = "segments/cam-a/2026/01/01/00/0-4000.mp4"
    r = http.get("/media/segment", params={"key": key}, headers={"Range": "bytes=1500-4999"})
    assert r.status_code == 206 and r.content == OBJECT[1500:5000]
    assert r.headers["content-range"] == f"bytes 1500-4999/{len(OBJECT)}"
    assert http.get("/media/segment", params={"key": key}).content == OBJECT
    r = http.get("/media/segment", params={"key": "segments/cam-b/2026/01/01/00/0-4000.mp4"})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_stream_ends_with_its_error_in_an_envelope(
        setup: tuple[TestClient, FakeNode, list[tuple[str, str]]]) -> None:
    http, _, _ = setup
    csrf = _csrf(http)
    body = json.dumps({"key": "segments/cam-b/x.mp4"}).encode()
    r = http.post("/api/vigil.v1.PlaybackService/ReadMedia", content=struct.pack(">BI", 0, len(body)) + body,
                  headers={"Content-Type": "application/connect+json", "X-CSRF-Token": csrf})
    assert r.status_code == 200
    flags, size = struct.unpack(">BI", r.content[:5])
    assert flags == 2 and json.loads(r.content[5:5 + size]) == {
        "error": {"code": "not_found", "message": "no such media"}}
    r = http.post("/api/vigil.v1.PlaybackService/ReadMedia", content=body,
                  headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
    assert r.status_code == 400 and "application/connect+json" in r.json()["message"]


def test_a_bad_token_gets_401_and_signing_out_ends_the_session(
        setup: tuple[TestClient, FakeNode, list[tuple[str, str]]]) -> None:
    http, _, _ = setup
    r = http.post("/session", json={"token": "nope"})
    assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
    csrf = _csrf(http)
    assert http.delete("/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert http.get("/session").status_code == 401


def test_every_refused_sign_in_is_audited_not_only_a_bad_token(
        setup: tuple[TestClient, FakeNode, list[tuple[str, str]]]) -> None:
    """A cross-site page, a malformed body and an absurd token are refused before the token is
    looked at; each still leaves a record (the token check's own refusals are `identify`'s)."""
    http, _, audited = setup
    refusals = [http.post("/session", json={"token": TOKEN}, headers={"Origin": "http://evil.example"}),
                http.post("/session", content="token=x", headers={"Content-Type": "text/plain"}),
                http.post("/session", json={"token": "A" * 600}),  # longer than any Vigil token
                http.post("/session", json={"token": "A" * 100_000})]  # larger than a body may be
    assert [r.status_code for r in refusals] == [403, 400, 401, 413]
    assert audited == [("", "console_sign_in_refused")] * 4
