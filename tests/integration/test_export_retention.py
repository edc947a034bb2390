"""Evidence exports expire like footage does: after `storage.export_retention_days` an export's
video and manifest go together, unless a hold covers one of its cameras and times; every sweep,
scheduled ones included, is on the audit record (issue #21, item 8)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.timeutil import to_ms
from vigil.v1 import admin_pb2, admin_pb2_grpc, common_pb2, playback_pb2, playback_pb2_grpc

START = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
CAMERA = "cam-exp-retain"


def _range(start_s: int, end_s: int) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(to_ms(START + timedelta(seconds=start_s))),
                                end=ts_from_ms(to_ms(START + timedelta(seconds=end_s))))


@pytest.fixture()
def channel(server: object, admin_token: str) -> Any:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        yield c.channel


def _age(node: Any, clip: Any, days: int) -> None:
    """Make the export look `days` old (what the bucket holds of an export made back then)."""
    manifest = json.loads(node.store.get_bytes(clip.manifest_key))
    manifest["created"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    node.store.put_bytes(clip.manifest_key, json.dumps(manifest).encode(), "application/json")


def _downloadable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - loopback presigned URL
            return bool(r.read())
    except urllib.error.HTTPError as err:
        assert err.code == 404
        return False


def test_old_exports_are_deleted_unless_held_and_the_sweep_is_audited(
        server: object, node: Any, channel: Any, video: Path, admin_token: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        assert c.wait_for_job(c.ingest_file(video, CAMERA, START), timeout_s=300).state == "succeeded"
    playback, admin = playback_pb2_grpc.PlaybackServiceStub(channel), admin_pb2_grpc.AdminServiceStub(channel)
    old, held, fresh = (playback.ExportClip(playback_pb2.ExportClipRequest(
        camera_ids=[CAMERA], time_range=_range(a, b))) for a, b in ((0, 4), (8, 12), (12, 16)))
    days = node.settings.storage.export_retention_days
    for export in (old, held):
        _age(node, export.clips[0], days + 1)
    hold = admin.PlaceHold(admin_pb2.PlaceHoldRequest(camera_id=CAMERA, reason="case 2026-77",
                                                      time_range=_range(9, 10)))
    admin.RunRetention(admin_pb2.RunRetentionRequest())
    left = {o.key for o in node.store.list("exports/")}
    for export, kept in ((old, False), (held, True), (fresh, True)):
        clip = export.clips[0]
        assert (clip.video_key in left, clip.manifest_key in left) == (kept, kept), export.export_id
        assert _downloadable(clip.url) == kept
    admin.ReleaseHold(admin_pb2.ReleaseHoldRequest(hold_id=hold.hold_id))

    records: list[tuple[str, str, dict[str, Any]]] = []
    monkeypatch.setattr(node.audit, "append", lambda *record, **_: records.append(record))
    node.scheduled_retention()  # what the periodic sweep runs
    assert not any(o.key.startswith(f"exports/{held.export_id}/") for o in node.store.list("exports/"))
    [(caller, action, details)] = records
    assert (caller, action) == ("system:retention", "retention")
    assert [e["export_id"] for e in details["exports"]] == [held.export_id]
    assert details["exports"][0]["cameras"] == [CAMERA] and details["exports_deleted"] == 1

