"""Tokens, roles, per-group camera visibility enforced inside the search, and the audit chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.timeutil import to_ms
from vigil.v1 import (
    cameras_pb2,
    cameras_pb2_grpc,
    common_pb2,
    playback_pb2,
    playback_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

START = datetime(2026, 11, 18, 22, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_wards(server: object, admin_token: str, video: Path) -> dict[str, str]:
    """Two registered cameras in two wards with footage, and a token per role/ward."""
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        cams = cameras_pb2_grpc.CameraServiceStub(admin.channel)
        for cam, ward in (("cam-ward-a", "ward-a"), ("cam-ward-b", "ward-b")):
            cams.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
                camera_id=cam, group=ward, retention_days=30)))
            job = admin.wait_for_job(admin.ingest_file(video, cam, START), timeout_s=300)
            assert job.state == "succeeded"
        return {
            "viewer_a": admin.create_token("officer-a", "viewer", ["ward-a"])[0],
            "investigator_a": admin.create_token("detective-a", "investigator", ["ward-a"])[0],
            "ingest": admin.create_token("ward-b-nvr", "ingest", ["ward-b"])[0],
        }


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()  # type: ignore[operator]
    return err.value.code()


def test_calls_without_a_valid_token_are_unauthenticated(server: object) -> None:
    for token in (None, "not-a-token"):
        with VigilClient(server.address, token) as c:  # type: ignore[attr-defined]
            assert _code(lambda: c.search("xe đạp")) == grpc.StatusCode.UNAUTHENTICATED


def test_roles_gate_every_rpc(server: object, two_wards: dict[str, str], video: Path) -> None:
    with VigilClient(server.address, two_wards["viewer_a"]) as viewer:  # type: ignore[attr-defined]
        assert _code(lambda: viewer.ingest_file(video, "cam-ward-a", START)) == \
            grpc.StatusCode.PERMISSION_DENIED
        assert _code(lambda: viewer.create_token("x", "admin", ["*"])) == grpc.StatusCode.PERMISSION_DENIED
        assert _code(lambda: playback_pb2_grpc.PlaybackServiceStub(viewer.channel).ExportClip(
            playback_pb2.ExportClipRequest(camera_ids=["cam-ward-a"]))) == grpc.StatusCode.PERMISSION_DENIED
    with VigilClient(server.address, two_wards["ingest"]) as ingest:  # type: ignore[attr-defined]
        assert _code(lambda: ingest.search("xe đạp")) == grpc.StatusCode.PERMISSION_DENIED


def test_a_ward_token_never_sees_another_wards_cameras(server: object, two_wards: dict[str, str]) -> None:
    with VigilClient(server.address, two_wards["viewer_a"]) as viewer:  # type: ignore[attr-defined]
        everything = viewer.search("người vác xe đạp", top_k=50, frames=True, min_score=-1).hits
        assert everything and {h.camera_id for h in everything} == {"cam-ward-a"}
        asked_for_b = viewer.search("người vác xe đạp", camera_ids=["cam-ward-b"], min_score=-1)
        assert asked_for_b.hits == [] and not asked_for_b.no_good_match
        listed = cameras_pb2_grpc.CameraServiceStub(viewer.channel).ListCameras(
            cameras_pb2.ListCamerasRequest())
        assert [c.camera_id for c in listed.cameras] == ["cam-ward-a"]
        stub = playback_pb2_grpc.PlaybackServiceStub(viewer.channel)
        tr = common_pb2.TimeRange(start=ts_from_ms(to_ms(START)),
                                  end=ts_from_ms(to_ms(START + timedelta(seconds=20))))
        with pytest.raises(grpc.RpcError) as hidden:
            stub.GetPlaylist(playback_pb2.GetPlaylistRequest(camera_id="cam-ward-b", time_range=tr))
        with pytest.raises(grpc.RpcError) as absent:
            stub.GetPlaylist(playback_pb2.GetPlaylistRequest(camera_id="cam-nowhere", time_range=tr))
        # a hidden camera is indistinguishable from one that does not exist
        assert hidden.value.code() == absent.value.code() == grpc.StatusCode.NOT_FOUND
        assert "cam-ward-b" in hidden.value.details() and "group" not in hidden.value.details()
        assert stub.GetPlaylist(playback_pb2.GetPlaylistRequest(camera_id="cam-ward-a",
                                                                time_range=tr)).segments == 5


def test_revoked_tokens_stop_working(server: object, admin_token: str) -> None:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        token, token_hash = admin.create_token("temp", "viewer", ["*"])
        with VigilClient(server.address, token) as temp:  # type: ignore[attr-defined]
            temp.search("xe máy")
            admin.revoke_token(token_hash)
            import time
            time.sleep(6)  # tokens are cached for 5 s
            assert _code(lambda: temp.search("xe máy")) == grpc.StatusCode.UNAUTHENTICATED


def test_searches_are_audited_in_an_unbroken_chain(server: object, node: object, admin_token: str,
                                                   two_wards: dict[str, str]) -> None:
    with VigilClient(server.address, two_wards["viewer_a"]) as viewer:  # type: ignore[attr-defined]
        viewer.search("audit me: xe đạp màu đỏ", top_k=3, min_score=-1)
    assert node.audit.flush()  # type: ignore[attr-defined]  # shipped from the journal shortly after
    store = node.store  # type: ignore[attr-defined]
    records = [json.loads(line) for o in store.list("audit/") for line in store.get_bytes(o.key).splitlines()]
    mine = [r for r in records if r["details"].get("text") == "audit me: xe đạp màu đỏ"]
    assert len(mine) == 1 and mine[0]["caller"] == "officer-a" and mine[0]["action"] == "search"
    assert all(cam == "cam-ward-a" for cam, _, _ in mine[0]["details"]["returned"])
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        check = admin.verify_audit()
        assert check.ok and check.records == len(records)
        tampered = json.dumps(dict(mine[0], caller="someone-else"), ensure_ascii=False).encode()
        key = next(o.key for o in store.list("audit/")
                   if f'"seq": {mine[0]["seq"]},' in store.get_bytes(o.key).decode())
        original = store.get_bytes(key)
        store.put_bytes(key, b"\n".join(tampered if json.loads(line)["seq"] == mine[0]["seq"] else line
                                        for line in original.splitlines()))
        try:
            broken = admin.verify_audit()
            assert not broken.ok and broken.first_broken_seq == mine[0]["seq"]
            assert "altered" in broken.reason
        finally:
            store.put_bytes(key, original)
        assert admin.verify_audit().ok


def test_the_health_service_needs_no_token(server: object) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.address) as ch:  # type: ignore[attr-defined]
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_secrets_never_appear_in_errors(server: object, two_wards: dict[str, str]) -> None:
    with VigilClient(server.address, two_wards["viewer_a"]) as viewer:  # type: ignore[attr-defined]
        stub = search_pb2_grpc.SearchServiceStub(viewer.channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Search(search_pb2.SearchRequest(text=""))
        assert two_wards["viewer_a"] not in err.value.details()
