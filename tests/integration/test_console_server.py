"""The console's server side over a real node: sessions, CSRF, the Connect proxy, media, static
files — what a browser (or someone forging its requests) would see. The browser app's own tests
are in tests/browser."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import signal
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.client import VigilClient
from services.api.server import BackgroundServer
from services.console.server import BackgroundConsole
from tests.console_world import CAM_A, CAM_B, ConsoleWorld, console_world
from tests.integration.test_tls import pki as _pki  # noqa: F401  (fixture: a throwaway CA, certificates)
from tests.served import VIGIL, Served, cli_env

pytestmark = pytest.mark.integration
API = "/api/vigil.v1"


@pytest.fixture(scope="module")
def world(node: Any, server: Any, admin_token: str, video: Path) -> Iterator[ConsoleWorld]:
    with console_world(node, server, admin_token, video) as w:
        yield w


def signed_in(world: ConsoleWorld, token: str) -> tuple[httpx.Client, dict[str, Any]]:
    """A browser-like client holding a session cookie, and the session's JSON."""
    http = httpx.Client(base_url=world.url, timeout=60)
    r = http.post("/session", json={"token": token})
    assert r.status_code == 200, r.text
    return http, r.json()


def call(http: httpx.Client, csrf: str, method: str, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"{API}.{method}", content=json.dumps(body),
                     headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})


def test_sign_in_sets_a_strict_httponly_cookie_and_never_echoes_the_token(world: ConsoleWorld) -> None:
    token = world.tokens["viewer"]
    http = httpx.Client(base_url=world.url)
    r = http.post("/session", json={"token": token})
    assert r.status_code == 200
    session = r.json()
    assert session["role"] == "viewer" and session["groups"] == ["console-ward-a"]
    assert session["principal"] == "console-viewer" and session["csrf"]
    assert session["expires_at"].endswith("Z")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("vigil_session=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain HTTP on loopback: a Secure cookie would never return
    assert token not in r.text and token not in str(r.headers)
    again = http.get("/session")
    assert again.status_code == 200 and again.json() == session
    assert "default-src 'self'" in r.headers["content-security-policy"]


def test_a_bad_token_is_refused_with_a_message_and_no_cookie(world: ConsoleWorld) -> None:
    r = httpx.post(f"{world.url}/session", json={"token": "not-a-token"})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated" and "not valid" in r.json()["message"]
    assert "vigil_session=" not in r.headers.get("set-cookie", "") or 'vigil_session=""' in r.headers[
        "set-cookie"]
    assert httpx.post(f"{world.url}/session", content="token=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    cross = httpx.post(f"{world.url}/session", json={"token": world.tokens["viewer"]},
                       headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and "another origin" in cross.json()["message"]
    same = httpx.post(f"{world.url}/session", json={"token": world.tokens["viewer"]},
                      headers={"Origin": world.url})
    assert same.status_code == 200


def test_nothing_is_served_without_a_session(world: ConsoleWorld) -> None:
    anonymous = httpx.Client(base_url=world.url)
    assert anonymous.get("/session").status_code == 401
    r = call(anonymous, "x", "CameraService/ListCameras", {})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert anonymous.get("/media/segment", params={"key": world.segments[CAM_A][0]}).status_code == 401
    forged = httpx.Client(base_url=world.url, cookies={"vigil_session": "forged"})
    r = forged.get("/session")
    assert r.status_code == 401 and "sign in again" in r.json()["message"]


def test_state_changing_calls_need_the_sessions_csrf_header(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["viewer"])
    no_header = http.post(f"{API}.CameraService/ListCameras", content="{}",
                          headers={"Content-Type": "application/json"})
    assert no_header.status_code == 403 and "X-CSRF-Token" in no_header.json()["message"]
    assert call(http, "wrong", "CameraService/ListCameras", {}).status_code == 403
    assert call(http, session["csrf"], "CameraService/ListCameras", {}).status_code == 200
    assert http.delete("/session").status_code == 403  # sign-out is state-changing too


def test_a_viewer_of_one_ward_gets_only_its_cameras_through_the_api(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["viewer"])
    listed = call(http, session["csrf"], "CameraService/ListCameras", {})
    assert [c["cameraId"] for c in listed.json()["cameras"]] == [CAM_A]
    hits = call(http, session["csrf"], "SearchService/Search",
                {"text": "xe máy trong hẻm", "topK": 20, "minScore": -1}).json()["hits"]
    assert hits and {h["cameraId"] for h in hits} == {CAM_A}
    hidden = call(http, session["csrf"], "CameraService/GetCamera", {"cameraId": CAM_B})
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    denied = call(http, session["csrf"], "AdminService/ListTokens", {})
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    bad = call(http, session["csrf"], "SearchService/Search", {"text": "x", "topK": "many"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_argument"
    unknown = call(http, session["csrf"], "SearchService/Nothing", {})
    assert unknown.status_code == 501 and unknown.json()["code"] == "unimplemented"
    binary = http.post(f"{API}.CameraService/ListCameras", content=b"",
                       headers={"Content-Type": "application/proto", "X-CSRF-Token": session["csrf"]})
    assert binary.status_code == 415


def test_media_plays_by_ranges_with_the_callers_rights(world: ConsoleWorld, node: Any) -> None:
    http, _ = signed_in(world, world.tokens["viewer"])
    key = world.segments[CAM_A][0]
    whole = node.store.get_bytes(key)
    full = http.get("/media/segment", params={"key": key})
    assert full.status_code == 200 and full.content == whole
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = http.get("/media/segment", params={"key": key}, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    tail = http.get("/media/segment", params={"key": key}, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == whole[-50:]
    past = http.get("/media/segment", params={"key": key}, headers={"Range": f"bytes={len(whole)}-"})
    assert past.status_code == 416
    other = http.get("/media/segment", params={"key": world.segments[CAM_B][0]})
    assert other.status_code == 404 and other.json()["code"] == "not_found"
    thumb = http.get("/media/thumbnail", params={"key": world.thumbnails[CAM_A][0]})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert http.get("/media/thumbnail", params={"key": key}).status_code == 400  # wrong kind
    assert http.get("/media/segment", params={"key": "auth/tokens/x.json"}).status_code == 400


def test_the_timeline_lists_a_visible_cameras_segments_only(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["viewer"])
    start = world.start.isoformat().replace("+00:00", "Z")
    end = world.start.replace(minute=30).isoformat().replace("+00:00", "Z")
    listed = call(http, session["csrf"], "PlaybackService/ListSegments",
                  {"cameraId": CAM_A, "timeRange": {"start": start, "end": end}})
    assert [s["segmentKey"] for s in listed.json()["segments"]] == world.segments[CAM_A]
    hidden = call(http, session["csrf"], "PlaybackService/ListSegments",
                  {"cameraId": CAM_B, "timeRange": {"start": start, "end": end}})
    assert hidden.status_code == 404


def test_hls_playlists_point_at_the_consoles_own_media_urls(world: ConsoleWorld) -> None:
    http, _ = signed_in(world, world.tokens["viewer"])
    span = {"start": world.start.isoformat(), "end": world.start.replace(minute=30).isoformat()}
    r = http.get("/media/playlist.m3u8", params={"camera": CAM_A, **span})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    urls = [line for line in r.text.splitlines() if line and not line.startswith("#")]
    assert urls and all(u.startswith("/media/segment?key=segments/console-cam-a/") for u in urls)
    assert "http" not in r.text  # nothing presigned, nothing of the bucket
    assert http.get(urls[0], headers={"Range": "bytes=0-9"}).status_code == 206
    assert http.get("/media/playlist.m3u8", params={"camera": CAM_B, **span}).status_code == 404
    assert http.get("/media/playlist.m3u8", params={"camera": CAM_A, "start": "x", "end": "y"}
                    ).status_code == 400


def test_an_export_downloads_as_an_attachment_matching_its_sha256(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["investigator"])
    start = world.start.isoformat().replace("+00:00", "Z")
    end = world.start.replace(second=8).isoformat().replace("+00:00", "Z")
    r = call(http, session["csrf"], "PlaybackService/ExportClip",
             {"cameraIds": [CAM_A], "timeRange": {"start": start, "end": end}})
    assert r.status_code == 200, r.text
    clip = r.json()["clips"][0]
    video = http.get("/media/export", params={"key": clip["videoKey"]})
    assert video.status_code == 200 and "attachment" in video.headers["content-disposition"]
    assert hashlib.sha256(video.content).hexdigest() == clip["sha256"]
    manifest = http.get("/media/export", params={"key": clip["manifestKey"]})
    assert manifest.headers["content-type"] == "application/json"
    assert manifest.json()["sha256"] == clip["sha256"]
    viewer_b, _ = signed_in(world, world.tokens["viewer_b"])
    assert viewer_b.get("/media/export", params={"key": clip["videoKey"]}).status_code == 404


def _frames(content: bytes) -> list[tuple[int, Any]]:
    """A Connect stream's (flags, JSON) envelopes."""
    frames, at = [], 0
    while at < len(content):
        flags, size = struct.unpack(">BI", content[at:at + 5])
        frames.append((flags, json.loads(content[at + 5:at + 5 + size])))
        at += 5 + size
    return frames


def test_server_streams_use_connect_envelopes_and_end_with_the_error(
        world: ConsoleWorld, server: Any, video: Path) -> None:
    http, session = signed_in(world, world.tokens["admin"])

    def watch(job_id: str) -> httpx.Response:
        body = json.dumps({"jobId": job_id}).encode()
        return http.post(f"{API}.IngestService/WatchJob", content=struct.pack(">BI", 0, len(body)) + body,
                         headers={"Content-Type": "application/connect+json",
                                  "X-CSRF-Token": session["csrf"]})
    r = watch("0" * 32)
    assert r.status_code == 200 and r.headers["content-type"] == "application/connect+json"
    [(flags, end)] = _frames(r.content)
    assert flags == 2 and end["error"]["code"] == "not_found" and end["error"]["message"]
    with VigilClient(server.address, world.tokens["admin"]) as admin:
        job_id = admin.ingest_file(video, CAM_B, world.start + timedelta(hours=1))
    frames = _frames(watch(job_id).content)
    assert frames[-1] == (2, {}) and all(flags == 0 for flags, _ in frames[:-1])
    assert frames[-2][1]["jobId"] == job_id and frames[-2][1]["state"] == "JOB_STATE_SUCCEEDED"


def test_sign_ins_refusals_and_what_the_console_read_are_on_the_audit_trail(
        world: ConsoleWorld, node: Any) -> None:
    token = world.make_token("viewer", ["console-ward-a"])
    http, _ = signed_in(world, token)
    key = world.segments[CAM_A][2]
    assert http.get("/media/segment", params={"key": key}, headers={"Range": "bytes=0-9"}).status_code == 206
    bad = "console-audit-not-a-token"
    assert httpx.post(f"{world.url}/session", json={"token": bad}).status_code == 401
    assert node.audit.flush()
    records = [json.loads(line) for o in node.store.list(f"audit/{node.node_id}/")
               for line in node.store.get_bytes(o.key).splitlines()]
    text = json.dumps(records)
    assert token not in text and bad not in text  # token ids (hashes) only
    actions = {(r.get("action"), r.get("caller")) for r in records}
    assert ("console_sign_in", "console-viewer") in actions
    assert any(r.get("action") == "console_sign_in_refused"
               and hashlib.sha256(bad.encode()).hexdigest() in json.dumps(r) for r in records)
    assert any(r.get("action") == "media_read" and r["details"].get("key") == key
               and r["details"].get("bytes") == 10 for r in records)


def test_sign_out_ends_the_session(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["viewer"])
    assert http.delete("/session", headers={"X-CSRF-Token": session["csrf"]}).status_code == 204
    http.cookies.set("vigil_session", "")  # what the browser does with the cleared cookie…
    assert http.get("/session").status_code == 401


def test_a_session_ends_when_its_token_expires_or_is_revoked(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.make_token("viewer", ["console-ward-a"], expires_in_s=3))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (r := http.get("/session")).status_code == 200:
        time.sleep(0.2)
    assert r.status_code == 401 and "expired" in r.json()["message"]
    assert 'vigil_session=""' in r.headers["set-cookie"]  # the browser drops the cookie
    r = call(http, session["csrf"], "CameraService/ListCameras", {})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    token = world.make_token("viewer", ["console-ward-a"])
    http, session = signed_in(world, token)
    with httpx.Client(base_url=world.url) as admin_http:
        admin_http.post("/session", json={"token": world.tokens["admin"]})
        admin_csrf = admin_http.get("/session").json()["csrf"]
        revoke = call(admin_http, admin_csrf, "AdminService/RevokeToken",
                      {"tokenHash": hashlib.sha256(token.encode()).hexdigest()})
        assert revoke.status_code == 200, revoke.text
    r = call(http, session["csrf"], "CameraService/ListCameras", {})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert http.get("/session").status_code == 401  # the console forgot the session


def test_bodies_past_the_limit_are_refused(world: ConsoleWorld) -> None:
    http, session = signed_in(world, world.tokens["viewer"])
    r = http.post(f"{API}.SearchService/Search", content=b"x" * (9 * 1024 * 1024),
                  headers={"Content-Type": "application/json", "X-CSRF-Token": session["csrf"]})
    assert r.status_code == 413 and "console.max_body_kb" in r.json()["message"]


def test_the_built_app_is_served_with_its_types_and_nothing_outside_it(
        node: Any, server: Any, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    with BackgroundConsole(node, server.port, dist, port=0) as console:
        missing = httpx.get(f"{console.url}/")
        assert missing.status_code == 503 and "make install" in missing.text
        (dist / "assets").mkdir(parents=True)
        (dist / "index.html").write_text("<!doctype html><script src='/assets/app.js'></script>")
        (dist / "assets" / "app.js").write_text("console.log('vigil')")
        (tmp_path / "secret.txt").write_text("not for the browser")
        index = httpx.get(f"{console.url}/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in index.headers["content-security-policy"]
        app = httpx.get(f"{console.url}/assets/app.js")
        assert app.headers["content-type"].startswith("text/javascript")
        assert httpx.get(f"{console.url}/../secret.txt").status_code == 404
        assert httpx.get(f"{console.url}/assets/..%2F..%2Fsecret.txt").status_code == 404


def test_vigil_serve_runs_the_console_and_prints_its_url(tmp_path: Path, random_model_dir: Path) -> None:
    env = cli_env(tmp_path / "data", random_model_dir)
    served = Served(env, tmp_path / "serve.log")
    try:
        assert served.proc.stdout is not None
        line = served.proc.stdout.readline()
        url = re.search(r"console on (http://127\.0\.0\.1:\d+)", line)
        assert url, line
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        http, session = signed_in(ConsoleWorld(url.group(1), {}, lambda *a: ""), token)
        assert session["role"] == "admin"
        assert call(http, session["csrf"], "CameraService/ListCameras", {}).status_code == 200
    finally:
        served.stop(signal.SIGTERM)
    assert served.proc.returncode == 0


def test_vigil_serve_refuses_a_plaintext_console_off_loopback(tmp_path: Path, random_model_dir: Path) -> None:
    env = cli_env(tmp_path / "data", random_model_dir, VIGIL_CONSOLE__HOST="0.0.0.0")
    proc = subprocess.run([*VIGIL, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "refusing to serve the console on 0.0.0.0 over plaintext HTTP" in proc.stderr
    assert "server.tls_cert_file" in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_under_tls_the_console_serves_https_with_a_secure_cookie_over_mutual_tls_grpc(
        node: Any, admin_token: str, request: pytest.FixtureRequest) -> None:
    s, pki = node.settings, request.getfixturevalue("_pki")
    tls_node = copy.copy(node)
    tls_node.settings = s.model_copy(update={
        "server": s.server.model_copy(update={"tls_cert_file": pki / "server.pem",
                                              "tls_key_file": pki / "server.key",
                                              "tls_client_ca_file": pki / "ca.pem"}),
        "client": s.client.model_copy(update={"tls_ca_file": pki / "ca.pem",
                                              "tls_cert_file": pki / "client.pem",
                                              "tls_key_file": pki / "client.key"})})
    with BackgroundServer(tls_node) as grpc_server, \
            BackgroundConsole(tls_node, grpc_server.port, port=0) as console:
        assert console.url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=pki / "ca.pem")
        with httpx.Client(base_url=console.url, verify=trust) as http:
            r = http.post("/session", json={"token": admin_token})
            assert r.status_code == 200 and "secure" in r.headers["set-cookie"].lower()
            listed = call(http, r.json()["csrf"], "CameraService/ListCameras", {})
            assert listed.status_code == 200, listed.text
