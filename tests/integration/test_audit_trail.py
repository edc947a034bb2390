"""Every RPC, allowed or refused, leaves one audit record naming the RPC, its outcome, the token's
id and the peer; the chain head can be printed for notarisation and checked later."""

from __future__ import annotations

import json
import uuid
from typing import Any

import grpc
import pytest

from services.api.client import VigilClient
from services.security.auth import hash_token
from vigil.v1 import cameras_pb2, cameras_pb2_grpc, playback_pb2, playback_pb2_grpc


def _records(node: Any) -> list[dict[str, Any]]:
    assert node.audit.flush()
    store = node.store
    return [json.loads(line) for o in store.list(f"audit/{node.node_id}/")
            for line in store.get_bytes(o.key).splitlines()]


def _get_camera(client: VigilClient, camera_id: str) -> grpc.StatusCode:
    try:
        cameras_pb2_grpc.CameraServiceStub(client.channel).GetCamera(
            cameras_pb2.GetCameraRequest(camera_id=camera_id), timeout=30)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_every_call_allowed_or_refused_leaves_one_record(server: Any, node: Any, admin_token: str) -> None:
    marker = f"cam-audit-{uuid.uuid4().hex[:8]}"  # names this test's calls in the trail
    with VigilClient(server.address, admin_token) as admin:
        viewer, viewer_id = admin.create_token("audit-viewer", "viewer", ["ward-audit"])
        admin.register_camera(cameras_pb2.Camera(camera_id=marker, group="ward-audit", retention_days=7))
    with VigilClient(server.address, None) as anonymous:
        assert _get_camera(anonymous, marker + "-none") == grpc.StatusCode.UNAUTHENTICATED
    with VigilClient(server.address, "not-a-token") as forged:
        assert _get_camera(forged, marker + "-forged") == grpc.StatusCode.UNAUTHENTICATED
    with VigilClient(server.address, viewer) as v:
        with pytest.raises(grpc.RpcError) as denied:
            v.stop_camera(marker)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _get_camera(v, marker + "-nowhere") == grpc.StatusCode.NOT_FOUND
        assert _get_camera(v, marker) == grpc.StatusCode.OK
    by_camera = {r["request"].get("camera_id"): r for r in _records(node) if "rpc" in r}
    expected = {
        marker + "-none": ("GetCamera", "UNAUTHENTICATED", "none", "", ""),
        marker + "-forged": ("GetCamera", "UNAUTHENTICATED", "unknown", "", ""),
        marker + "-nowhere": ("GetCamera", "NOT_FOUND", viewer_id, "audit-viewer", "viewer"),
        marker: ("GetCamera", "OK", viewer_id, "audit-viewer", "viewer"),
    }
    for camera_id, (method, outcome, token_id, caller, role) in expected.items():
        record = by_camera[camera_id]
        assert record["rpc"] == f"/vigil.v1.CameraService/{method}"
        assert (record["outcome"], record["token_id"], record["caller"], record["role"]) == (
            outcome, token_id, caller, role)
        assert record["peer"].startswith(("ipv4:127.0.0.1:", "ipv6:[::1]:"))
    stops = [r for r in _records(node) if r.get("rpc", "").endswith("/StopCamera")
             and r["request"].get("camera_id") == marker]
    assert len(stops) == 1 and stops[0]["outcome"] == "PERMISSION_DENIED"
    assert stops[0]["token_id"] == viewer_id == hash_token(viewer)
    serialized = json.dumps(_records(node))
    assert viewer not in serialized and "not-a-token" not in serialized and admin_token not in serialized


def test_a_search_record_names_what_it_returned_once(server: Any, node: Any, admin_token: str) -> None:
    text = f"audit once {uuid.uuid4().hex[:8]}"
    with VigilClient(server.address, admin_token) as admin:
        admin.search(text, top_k=3, min_score=-1)
    mine = [r for r in _records(node) if r["details"].get("text") == text]
    assert len(mine) == 1
    assert mine[0]["action"] == "search" and mine[0]["outcome"] == "OK"
    assert mine[0]["rpc"] == "/vigil.v1.SearchService/Search" and "returned" in mine[0]["details"]


def test_the_head_is_printed_for_notarisation_and_checked_later(server: Any, node: Any,
                                                                admin_token: str) -> None:
    with VigilClient(server.address, admin_token) as admin:
        head = admin.audit_head()
        assert head.node == node.node_id and len(head.hash) == 64
        check = admin.verify_audit((head.seq, head.hash))
        assert check.ok and check.head.seq >= head.seq
        forged = admin.verify_audit((head.seq, "0" * 64))
        assert not forged.ok and forged.first_broken_seq == head.seq and "notarised" in forged.reason


def test_streaming_calls_are_recorded_too(server: Any, node: Any, admin_token: str, video: Any) -> None:
    from datetime import UTC, datetime

    missing_job = uuid.uuid4().hex
    marker = f"cam-stream-{uuid.uuid4().hex[:8]}"
    with VigilClient(server.address, admin_token) as admin:
        with pytest.raises(grpc.RpcError) as watched:
            list(admin.watch_job(missing_job, timeout_s=30))  # server streaming
        assert watched.value.code() == grpc.StatusCode.NOT_FOUND
        # client streaming
        job_id = admin.ingest_file(video, marker, datetime(2026, 11, 18, 22, 0, tzinfo=UTC))
        admin.wait_for_job(job_id, timeout_s=300)
    records = _records(node)
    watch = [r for r in records if r.get("rpc", "").endswith("/WatchJob")
             and r["request"].get("job_id") == missing_job]
    assert len(watch) == 1 and watch[0]["outcome"] == "NOT_FOUND"
    upload = [r for r in records if r.get("rpc", "").endswith("/IngestFile")
              and r["request"].get("camera_id") == marker]
    assert len(upload) == 1 and upload[0]["outcome"] == "OK"

    with VigilClient(server.address, admin_token) as admin:  # a presigned URL: its issue is recorded
        hits = admin.search("street", top_k=1, camera_ids=[marker], frames=True, min_score=-1).hits
        key = hits[0].segment_key
        answer = playback_pb2_grpc.PlaybackServiceStub(admin.channel).GetClipUrl(
            playback_pb2.GetClipUrlRequest(segment_key=key), timeout=30)
    views = [r for r in _records(node) if r.get("rpc", "").endswith("/GetClipUrl")
             and r["details"].get("segment_key") == key]
    assert len(views) == 1 and views[0]["details"]["urls_presigned"] == 1
    assert views[0]["details"]["urls_expire_ms"] == answer.expires.ToMilliseconds()
    assert "X-Amz-Signature" not in json.dumps(views[0])  # the URL itself is never recorded


@pytest.mark.timeout(600)
def test_vigil_audit_head_prints_what_vigil_audit_verify_checks(tmp_path: Any, random_model_dir: Any) -> None:
    import signal
    import subprocess

    from tests.served import VIGIL, Served, cli_env, run_cli

    env = cli_env(tmp_path / "data", random_model_dir)
    served = Served(env, tmp_path / "serve.log")
    try:
        run_cli(env, "status", "--address", served.address)  # one audited call at least
        printed = run_cli(env, "audit", "head", "--address", served.address).splitlines()
        head = printed[1]
        seq, digest = head.split(":")
        assert seq.isdigit() and len(digest) == 64
        intact = run_cli(env, "audit", "verify", "--head", head, "--address", served.address)
        assert "audit trail intact" in intact
        forged = subprocess.run([*VIGIL, "audit", "verify", "--head", f"{seq}:{'0' * 64}",
                                 "--address", served.address], env=env, capture_output=True,
                                text=True, timeout=300)
        assert forged.returncode == 1 and f"BROKEN at record {seq}" in forged.stdout
        bad = subprocess.run([*VIGIL, "audit", "verify", "--head", "last", "--address", served.address],
                             env=env, capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and "SEQ:HASH" in bad.stderr
    finally:
        served.proc.send_signal(signal.SIGTERM)
        served.proc.wait(60)
    assert (tmp_path / "data" / "audit-key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "audit-anchor.json").stat().st_mode & 0o777 == 0o600
