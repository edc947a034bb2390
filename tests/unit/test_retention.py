"""Retention decisions (segments and evidence exports) and the sweep over an in-memory bucket."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from storage import keys
from storage.cameras import Camera, CameraRegistry
from storage.export import ExportManifest
from storage.keys import export_key
from storage.manifests import SegmentManifest
from storage.retention import Hold, Holds, RetentionSweeper, SweepTally, expired, export_expired
from storage.timeutil import DAY_MS, from_ms, to_ms
from tests.memory_store import Crash, CrashAt, MemoryStore

NOW = to_ms(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
CAM = "cam-r"


def _segment(start_ms: int, camera: str = CAM, seconds: int = 4) -> SegmentManifest:
    end_ms = start_ms + seconds * 1000
    return SegmentManifest(camera, keys.segment_key(camera, start_ms, end_ms), start_ms, end_ms,
                           1000, "0" * 64, "h264", 640, 360, 100)


def _clip(export_id: str, made_ms: int, start_ms: int, camera: str = CAM) -> ExportManifest:
    return ExportManifest(export_id, camera, start_ms, start_ms + 8000, start_ms, start_ms + 8000,
                          export_key(export_id, camera), "1" * 64, 2000, "detective",
                          from_ms(made_ms).isoformat(), ())


def _hold(camera: str, start_ms: int, end_ms: int) -> Hold:
    return Hold("h" * 32, camera, start_ms, end_ms, "case 1", "admin")


def test_a_segment_expires_once_all_of_it_is_older_than_the_retention() -> None:
    cutoff = NOW - 30 * DAY_MS
    assert expired(_segment(cutoff - 4000), NOW, 30, [])
    assert not expired(_segment(cutoff - 3999), NOW, 30, [])  # its last millisecond is still kept
    old = _segment(cutoff - 10 * DAY_MS)
    assert not expired(old, NOW, 30, [_hold(CAM, old.start_ms + 1, old.start_ms + 2)])
    assert expired(old, NOW, 30, [_hold("cam-other", old.start_ms, old.end_ms),
                                  _hold(CAM, old.end_ms, old.end_ms + 1000)])


def test_an_export_expires_whole_unless_a_hold_covers_one_of_its_clips() -> None:
    made = NOW - 31 * DAY_MS
    clips = [_clip("e1", made, 1000), _clip("e1", made, 1000, camera="cam-s")]
    assert export_expired(clips, NOW, 30, [])
    assert not export_expired(clips, NOW, 31 + 1, [])
    assert not export_expired([clips[0], _clip("e1", NOW - DAY_MS, 1000, "cam-s")], NOW, 30, [])
    assert not export_expired(clips, NOW, 30, [_hold("cam-s", 8999, 10_000)])  # one clip held: all kept
    assert export_expired(clips, NOW, 30, [_hold("cam-s", 9000, 10_000), _hold("cam-t", 0, 10_000)])
    assert not export_expired([], NOW, 30, [])


class _Vectors:
    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        return 2


def _bucket() -> tuple[MemoryStore, RetentionSweeper, Holds]:
    store = MemoryStore()
    CameraRegistry(store).put(Camera(CAM, group="g", retention_days=30))
    for m in (_segment(NOW - 40 * DAY_MS), _segment(NOW - 40 * DAY_MS + 4000), _segment(NOW - DAY_MS)):
        store.put_bytes(m.segment_key, b"video")
        store.put_bytes(keys.manifest_key(m.segment_key), m.to_json())
    for clip in (_clip("old", NOW - 31 * DAY_MS, 0), _clip("old", NOW - 31 * DAY_MS, 0, "cam-s"),
                 _clip("held", NOW - 31 * DAY_MS, 50_000), _clip("new", NOW - DAY_MS, 0)):
        store.put_bytes(clip.video_key, b"evidence")
        store.put_bytes(clip.manifest_key, json.dumps(asdict(clip)).encode())
    holds = Holds(store)
    holds.place(CAM, 52_000, 53_000, "case 2", "admin")
    return store, RetentionSweeper(store, CameraRegistry(store), holds, _Vectors(), lambda: NOW,
                                   export_retention_days=30), holds


def test_the_sweep_deletes_old_exports_video_first_and_keeps_held_and_recent_ones() -> None:
    store, sweeper, _ = _bucket()
    order: list[str] = []
    store.before_write = lambda op, key: order.append(key) if key.startswith("exports/") else None
    report = sweeper.sweep()
    assert sorted({k.split("/")[1] for k in store.keys("exports/")}) == ["held", "new"]
    assert order == ["exports/old/cam-r.mp4", "exports/old/cam-s.mp4",
                     "exports/old/cam-r.json", "exports/old/cam-s.json"]
    assert (report.exports_deleted, report.exports_held) == (1, 1)
    assert (report.segments_deleted, report.bytes_deleted, report.vectors_deleted) == (2, 2000, 4)
    details = json.loads(json.dumps(report.audit_details()))  # plain data for the audit trail
    assert details["footage"] == [{"camera_id": CAM, "segments": 2, "bytes": 2000,
                                   "start_ms": NOW - 40 * DAY_MS, "end_ms": NOW - 40 * DAY_MS + 8000}]
    assert details["exports"] == [{"export_id": "old", "cameras": [CAM, "cam-s"], "start_ms": 0,
                                   "end_ms": 8000, "created": from_ms(NOW - 31 * DAY_MS).isoformat()}]


def test_a_released_hold_lets_the_next_sweep_delete_the_export() -> None:
    store, sweeper, holds = _bucket()
    sweeper.sweep()
    holds.release(holds.all()[0].hold_id)
    assert [e.export_id for e in sweeper.sweep().exports] == ["held"]
    assert sorted({k.split("/")[1] for k in store.keys("exports/")}) == ["new"]


def test_a_sweep_that_fails_part_way_still_tells_what_it_deleted() -> None:
    store, sweeper, _ = _bucket()
    store.before_write = CrashAt(3)  # segment 1: manifest, video; segment 2: manifest, then killed
    tally = SweepTally()
    with pytest.raises(Crash):
        sweeper.sweep(tally)
    report = tally.report()
    assert report.segments_deleted == 1 and report.footage[0].end_ms == NOW - 40 * DAY_MS + 4000


def test_sweep_reports_print_as_one_short_line() -> None:
    _, sweeper, _ = _bucket()
    assert str(sweeper.sweep()) == ("2 segments (2000 bytes, 4 vectors) and 1 exports deleted; "
                                    "0 segments and 1 exports held")


def test_export_manifests_read_back_as_written() -> None:
    clip = _clip("e9", NOW, 0)
    assert ExportManifest.from_json(json.dumps(asdict(clip)).encode()) == clip
    assert clip.manifest_key == "exports/e9/cam-r.json"
