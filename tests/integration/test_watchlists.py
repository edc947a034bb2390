"""Watchlists on a real server: a photo entry alerts when its subject is ingested, the alert
stream resumes from a cursor across a server restart, scoping by group, webhooks.

Footage (tests/media lavfi scenes, the test session's random-weight model): the cameras' usual
view is SMPTE bars and an RGB test pattern; the subject is a plain white frame that none of them,
nor any other test's footage, shows until it is ingested. An entry is calibrated on up to
`watch.background_size` recent vectors of the whole bucket, newest days first: in a full test
session that is not only this file's street but every other test's footage too (the session's
`video` shows tests.media.SCENES, whose last scene is a dark green grid — the subject this file
once used, which therefore stopped standing out). With the random model the white frame's
calibrated score is about 11 over the street alone and 3.7 (simulated) when the background also
holds a hundred copies of SCENES, while the street's frames score at most 3.09 (a background
smaller than 1,000 vectors has its top score at the 1-in-1,000 level, `indexing.watch`); so the
sensitivity is 0.4 (3.4), between the two.
"""

from __future__ import annotations

import http.server
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import grpc
import pytest

from indexing.watch import z_threshold
from services.api.client import VigilClient
from services.api.watch_client import add_watch, list_watches, remove_watch, tail_alerts
from services.application.webhooks import SIGNATURE_HEADER, verify
from tests.media import frame_png, make_video
from tests.served import Served, cli_env
from vigil.v1 import cameras_pb2, watch_pb2

STREET = ("smptebars=size=640x360:rate=10", "rgbtestsrc=size=640x360:rate=10")
SUBJECT = "color=c=white:size=640x360:rate=10"  # in no other test's footage
SENSITIVITY = 0.4  # 3.4: see the module's docstring
WAIT_S = 60.0


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("watch-media")
    return {"street": make_video(folder / "street.mp4", STREET * 8),  # 32 keyframes: a background
            "subject": make_video(folder / "subject.mp4", (STREET[0], SUBJECT)),
            "photo": folder / "photo.png"}


@pytest.fixture(scope="module")
def photo(footage: dict[str, Path]) -> bytes:
    return frame_png(footage["subject"], 5.0, footage["photo"])  # a frame of the subject


def _ingest(client: VigilClient, video: Path, camera: str, start: datetime) -> None:
    job = client.ingest_file(video, camera, start)
    assert client.wait_for_job(job, timeout_s=600).state == "succeeded"


def _alerts(channel: grpc.Channel, cursor: str, want: int, entry: str) -> list[watch_pb2.Alert]:
    """Alerts after `cursor` until `want` arrived (or WAIT_S passed), then a second more."""
    got: list[watch_pb2.Alert] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < want and time.monotonic() < deadline:
        got += tail_alerts(channel, got[-1].cursor if got else cursor, [entry], follow_s=2.0)
    got += tail_alerts(channel, got[-1].cursor if got else cursor, [entry], follow_s=1.0)
    return got


@pytest.fixture(scope="module")
def wards(client_module: VigilClient) -> dict[str, str]:
    """Two wards' cameras and a viewer and an investigator token for each."""
    c = client_module
    cameras = (("watch-a1", "watch-ward-a"), ("watch-a2", "watch-ward-a"), ("watch-b1", "watch-ward-b"))
    for cam, group in cameras:
        c.register_camera(cameras_pb2.Camera(camera_id=cam, group=group, retention_days=30))
    return {f"{role}-{ward}": c.create_token(f"watch-{role}-{ward}", role, [f"watch-ward-{ward}"])[0]
            for role in ("viewer", "investigator") for ward in ("a", "b")}


@pytest.fixture(scope="module")
def client_module(server: Any, admin_token: str) -> Iterator[VigilClient]:
    with VigilClient(server.address, admin_token) as c:
        yield c


def test_a_photo_entry_alerts_when_its_subject_is_ingested_and_only_in_its_groups(
        server: Any, client_module: VigilClient, wards: dict[str, str], footage: dict[str, Path],
        photo: bytes) -> None:
    c, start = client_module, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for cam in ("watch-a1", "watch-a2", "watch-b1"):
        _ingest(c, footage["street"], cam, start)  # the background the entry is calibrated on
    with VigilClient(server.address, wards["investigator-a"]) as inv_a, \
            VigilClient(server.address, wards["viewer-b"]) as viewer_b:
        entry = add_watch(inv_a.channel, image=photo, sensitivity=SENSITIVITY)
        assert entry.calibrated and list(entry.groups) == [] and entry.created_by == "watch-investigator-a"
        before = _alerts(inv_a.channel, f"{0:013d}-{'f' * 32}", 0, entry.entry_id)
        assert before == []  # the street alone never alerts
        later = start + timedelta(minutes=5)
        cursor = f"{int(later.timestamp() * 1000) - 120_000:013d}-{'f' * 32}"
        for cam in ("watch-a1", "watch-b1"):
            _ingest(c, footage["subject"], cam, later)
        alerts = _alerts(inv_a.channel, cursor, 1, entry.entry_id)
        seen_by_b = _alerts(viewer_b.channel, cursor, 0, entry.entry_id)
    assert [a.camera_id for a in alerts] == ["watch-a1"]  # ward B's camera is outside the creator's groups
    a = alerts[0]
    assert a.score >= z_threshold(SENSITIVITY) and a.entry_id == entry.entry_id
    assert a.thumbnail_url.startswith("http")
    subject_ms = int(later.timestamp() * 1000) + 4000  # the subject's scene starts 4 s in
    assert subject_ms <= a.frame_time.ToMilliseconds() < subject_ms + 4000
    assert seen_by_b == []  # nor does a ward-B viewer see ward A's alerts


def test_a_viewer_cannot_add_entries_and_an_investigator_not_on_another_wards_camera(
        server: Any, wards: dict[str, str]) -> None:
    with VigilClient(server.address, wards["viewer-a"]) as viewer_a:
        with pytest.raises(grpc.RpcError) as denied:
            add_watch(viewer_a.channel, text="a red bicycle")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with VigilClient(server.address, wards["investigator-a"]) as inv_a:
        with pytest.raises(grpc.RpcError) as hidden:
            add_watch(inv_a.channel, text="a red bicycle", cameras=["watch-b1"])
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        assert "watch-b1" in (hidden.value.details() or "")
        with pytest.raises(grpc.RpcError) as group:
            add_watch(inv_a.channel, text="a red bicycle", groups=["watch-ward-b"])
        assert group.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "watch-ward-b" not in json.dumps([e.text for e in list_watches(inv_a.channel)])


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_a_refused_webhook_url_is_a_clear_error(client_module: VigilClient) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        add_watch(client_module.channel, text="a red bicycle", webhook_url="http://169.254.169.254/hook")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "link-local" in (refused.value.details() or "") and "fetch.webhook_allow" in (
        refused.value.details() or "")


@pytest.mark.timeout(900)
def test_a_restarted_server_resumes_alerts_from_a_cursor_without_loss_or_repeat_and_signs_webhooks(
        tmp_path: Path, random_model_dir: Path, footage: dict[str, Path], photo: bytes) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = uuid.uuid4().hex
    env = cli_env(tmp_path / "data", random_model_dir, VIGIL_FETCH__WEBHOOK_ALLOW='["127.0.0.1/32"]',
                  VIGIL_WATCH__POLL_S="0.2")
    served = Served(env, tmp_path / "serve-1.log")
    try:
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        with VigilClient(served.address, token) as c:
            cams = [f"restart-{i}" for i in range(3)]
            for cam in cams:
                c.register_camera(cameras_pb2.Camera(camera_id=cam, group="restart", retention_days=30))
                _ingest(c, footage["street"], cam, start)
            entry = add_watch(c.channel, image=photo, sensitivity=SENSITIVITY,
                              webhook_url=f"http://127.0.0.1:{receiver.server_address[1]}/vigil",
                              webhook_secret=secret)
            for cam in cams:
                _ingest(c, footage["subject"], cam, start + timedelta(minutes=5))
            first = _alerts(c.channel, f"{0:013d}-{'f' * 32}", 3, entry.entry_id)
        assert sorted(a.camera_id for a in first) == cams
        served.stop(signal.SIGKILL)
        served = Served(env, tmp_path / "serve-2.log")
        with VigilClient(served.address, token) as c:
            resumed = _alerts(c.channel, first[0].cursor, 2, entry.entry_id)
            assert [a.alert_id for a in resumed] == [a.alert_id for a in first[1:]]
            assert [e.entry_id for e in list_watches(c.channel)] == [entry.entry_id]
            deadline = time.monotonic() + WAIT_S
            while len(_Receiver.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
            remove_watch(c.channel, entry.entry_id)
    finally:
        served.stop(signal.SIGTERM)
        receiver.shutdown()
    delivered = {json.loads(body)["alert_id"] for body, _ in _Receiver.received}
    assert delivered == {a.alert_id for a in first}
    assert all(verify(secret.encode(), body, header) for body, header in _Receiver.received)
    assert secret not in (tmp_path / "serve-1.log").read_text() + (tmp_path / "serve-2.log").read_text()
