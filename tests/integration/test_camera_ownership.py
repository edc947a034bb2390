"""A camera belongs to its group: another group's token cannot re-register it, and moving it
between groups is an admin's act, recorded with the old and new values (issue #21, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from services.api.client import VigilClient
from vigil.v1 import cameras_pb2, cameras_pb2_grpc


@pytest.fixture(scope="module")
def tokens(server: object, admin_token: str) -> dict[str, str]:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        made = {name: admin.create_token(f"own-{name}", role, groups)[0] for name, role, groups in (
            ("ingest_a", "ingest", ["own-a"]), ("ingest_b", "ingest", ["own-b"]),
            ("ingest_ab", "ingest", ["own-a", "own-b"]), ("viewer_a", "viewer", ["own-a"]),
            ("viewer_b", "viewer", ["own-b"]))}
    return {"admin": admin_token, **made}


@pytest.fixture()
def audited(node: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """The (caller, action, details) of every audit record appended while the test runs."""
    records: list[tuple[str, str, dict[str, Any]]] = []
    append = node.audit.append

    def spy(caller: str, action: str, details: dict[str, Any], **call: Any) -> None:
        records.append((caller, action, details))
        append(caller, action, details, **call)

    monkeypatch.setattr(node.audit, "append", spy)
    yield records


@pytest.fixture(scope="module")
def cams(server: object, tokens: dict[str, str]) -> Iterator[dict[str, cameras_pb2_grpc.CameraServiceStub]]:
    """A CameraService stub per token."""
    address = server.address  # type: ignore[attr-defined]
    clients = {who: VigilClient(address, token) for who, token in tokens.items()}
    yield {who: cameras_pb2_grpc.CameraServiceStub(c.channel) for who, c in clients.items()}
    for c in clients.values():
        c.close()


def _register(stub: cameras_pb2_grpc.CameraServiceStub, camera_id: str, group: str,
              retention_days: int = 30, name: str = "", location: str = "") -> cameras_pb2.Camera:
    return stub.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
        camera_id=camera_id, group=group, name=name, location=location, retention_days=retention_days)))


def _refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def test_another_groups_ingest_token_cannot_take_a_camera_over(cams: dict[str, Any]) -> None:
    _register(cams["ingest_b"], "cam-own-b", "own-b", 30, "Chợ Bến Thành gate", "Lê Lợi 1")
    intruder = cams["ingest_a"]
    taken = _refused(lambda: _register(intruder, "cam-own-b", "own-a", retention_days=1))
    # as hidden as on every other path (ids are one namespace: that it is in use shows, no more)
    assert taken.code() == grpc.StatusCode.NOT_FOUND
    for secret in ("'own-b'", "Bến Thành", "Lê Lợi", "30"):
        assert secret not in taken.details()
    # asking for a group the token does not hold is refused the same way for any camera id
    for camera_id in ("cam-own-b", "cam-own-nobody"):
        assert _refused(lambda camera_id=camera_id: _register(intruder, camera_id, "own-b")).code() == \
            grpc.StatusCode.PERMISSION_DENIED
    kept = cams["viewer_b"].ListCameras(cameras_pb2.ListCamerasRequest()).cameras
    assert [(c.camera_id, c.group, c.retention_days, c.name) for c in kept] == [
        ("cam-own-b", "own-b", 30, "Chợ Bến Thành gate")]
    assert _refused(lambda: cams["viewer_a"].GetCamera(
        cameras_pb2.GetCameraRequest(camera_id="cam-own-b"))).code() == grpc.StatusCode.NOT_FOUND


def test_a_camera_changes_group_only_by_an_admin_and_the_audit_keeps_both(
        cams: dict[str, Any], audited: list[tuple[str, str, dict[str, Any]]]) -> None:
    owner = cams["ingest_b"]
    _register(owner, "cam-own-move", "own-b", 30, "Hẻm 12")
    # an ingest token of both groups still may not move it
    moved = _refused(lambda: _register(cams["ingest_ab"], "cam-own-move", "own-a"))
    assert moved.code() == grpc.StatusCode.PERMISSION_DENIED and "admin" in moved.details()
    _register(owner, "cam-own-move", "own-b", 7, "Hẻm 12 (góc)")  # its own group may edit it
    _register(cams["admin"], "cam-own-move", "own-a", 7, "Hẻm 12 (góc)")
    seen_by = {who: [c.camera_id for c in cams[who].ListCameras(
        cameras_pb2.ListCamerasRequest()).cameras if c.camera_id == "cam-own-move"]
        for who in ("viewer_a", "viewer_b")}
    assert seen_by == {"viewer_a": ["cam-own-move"], "viewer_b": []}
    changes = [(caller, d) for caller, action, d in audited
               if action == "register_camera" and d.get("camera_id") == "cam-own-move"]
    assert [caller for caller, _ in changes] == ["own-ingest_b", "own-ingest_b", "test-admin"]
    created, edited, move = (d for _, d in changes)
    assert created["old"] is None and created["new"]["group"] == "own-b"
    assert (edited["old"]["retention_days"], edited["new"]["retention_days"]) == (30, 7)
    assert (edited["old"]["name"], edited["new"]["name"]) == ("Hẻm 12", "Hẻm 12 (góc)")
    assert (move["old"]["group"], move["new"]["group"]) == ("own-b", "own-a")
    assert move["new"] == {"group": "own-a", "name": "Hẻm 12 (góc)", "location": "", "retention_days": 7,
                           "stream_url": "", "live": False}
