"""Token expiry, `vigil token list/revoke`, strict subjects, groups and camera ids, on a real
server over loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

from services.api.client import VigilClient
from services.security.auth import hash_token
from tests.served import VIGIL, run_cli
from vigil.v1 import cameras_pb2, cameras_pb2_grpc


def _error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def _env(token: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["VIGIL_CLIENT__TOKEN"] = token
    return env


def test_an_expired_token_is_refused_saying_it_expired(server: object, admin_token: str) -> None:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        expires = datetime.now(UTC) + timedelta(seconds=2)
        token, _ = admin.create_token("short-lived", "viewer", ["ward-x"], expires=expires)
    with VigilClient(server.address, token) as c:  # type: ignore[attr-defined]
        c.search("xe đạp", min_score=-1)  # valid until then
        deadline = time.monotonic() + 30
        while True:  # bounded: the expiry is two seconds away
            try:
                c.search("xe đạp", min_score=-1)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "expired" in (err.details() or "") and token not in (err.details() or "")
                break
            assert time.monotonic() < deadline, "the token still works past its expiry"
            time.sleep(0.2)


def test_tokens_get_the_default_lifetime_and_past_expiries_are_refused(server: object, node: object,
                                                                       admin_token: str) -> None:
    ttl_days = node.settings.auth.token_ttl_days  # type: ignore[attr-defined]
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        created = admin.create_token_info("default-ttl", "viewer", ["ward-x"])
        assert created.expires is not None
        assert abs((created.expires - datetime.now(UTC)) - timedelta(days=ttl_days)) < timedelta(minutes=5)
        past = datetime.now(UTC) - timedelta(minutes=1)
        err = _error(lambda: admin.create_token("late", "viewer", ["ward-x"], expires=past))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "future" in (err.details() or "")


@pytest.mark.parametrize("subject,groups,what", [
    ("officer\nrole=admin", ["ward-a"], "subject"),
    ("", ["ward-a"], "subject"),
    ("officer-a", ["ward-a", ""], "group"),
    ("officer-a", ["ward-a\n"], "group"),
    ("officer-a", ["*", "ward-a"], "'*'"),
    ("officer-a", [], "group"),
])
def test_token_subjects_and_groups_are_validated(server: object, admin_token: str, subject: str,
                                                 groups: list[str], what: str) -> None:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        err = _error(lambda: admin.create_token(subject, "viewer", groups))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and what in (err.details() or "")


def test_token_list_and_revoke_from_the_command_line(server: object, admin_token: str) -> None:
    address = server.address  # type: ignore[attr-defined]
    env = _env(admin_token)
    out = run_cli(env, "token", "create", "--subject", "cli-officer", "--role", "viewer",
                  "--group", "ward-a", "--group", "ward-b", "--expires", "2w", "--address", address)
    token = out.split("keep it secret): ", 1)[1].split()[0]
    token_hash = hash_token(token)
    assert f"vigil token revoke {token_hash}" in out
    listed = run_cli(env, "token", "list", "--address", address)
    line = next(ln for ln in listed.splitlines() if ln.startswith(token_hash))
    assert "cli-officer" in line and "viewer" in line and "ward-a,ward-b" in line and "active" in line
    assert token not in listed and admin_token not in listed
    assert f"{datetime.now(UTC) + timedelta(weeks=2):%Y-%m-%d}" in line
    assert run_cli(env, "token", "revoke", token_hash, "--address", address).strip() == "revoked"
    assert token_hash not in run_cli(env, "token", "list", "--address", address)


def test_only_admins_list_tokens(server: object, admin_token: str) -> None:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        investigator, _ = admin.create_token("detective-list", "investigator", ["*"])
        assert {t.subject for t in admin.list_tokens()} >= {"test-admin", "detective-list"}
    with VigilClient(server.address, investigator) as c:  # type: ignore[attr-defined]
        assert _error(c.list_tokens).code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("camera_id,group", [("cam-1\n", "ward-a"), ("cam-nl", "ward-a\n"),
                                             ("cam-star", "*")])
def test_cameras_with_a_trailing_newline_or_bad_group_are_refused(
        server: object, admin_token: str, camera_id: str, group: str) -> None:
    with VigilClient(server.address, admin_token) as admin:  # type: ignore[attr-defined]
        cams = cameras_pb2_grpc.CameraServiceStub(admin.channel)
        err = _error(lambda: cams.RegisterCamera(cameras_pb2.RegisterCameraRequest(camera=cameras_pb2.Camera(
            camera_id=camera_id, group=group, retention_days=30))))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert all(c.camera_id.strip() != camera_id.strip() for c in cams.ListCameras(
            cameras_pb2.ListCamerasRequest()).cameras)


def test_vigil_serve_refuses_plaintext_on_all_interfaces(tmp_path: Path) -> None:
    import subprocess

    env = {**_env(""), "VIGIL_SERVER__HOST": "0.0.0.0", "VIGIL_DATA_DIR": str(tmp_path / "data")}
    env.pop("VIGIL_CLIENT__TOKEN")
    proc = subprocess.run([*VIGIL, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "refusing to serve plaintext gRPC on 0.0.0.0:50051" in proc.stderr
    assert "server.tls_cert_file" in proc.stderr and "--insecure" in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing started
