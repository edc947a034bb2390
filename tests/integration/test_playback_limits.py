"""One request cannot occupy the server: playlists have a range cap like exports, and the
hour-by-hour listing behind a playlist or an export stops once its caller has gone (issue #21,
item 7). The stop is observed by counting the bucket LISTs the abandoned request still made."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from storage.export import Exporter
from storage.object_store import ObjectInfo
from storage.recordings import Recordings
from storage.timeutil import to_ms
from vigil.v1 import common_pb2, playback_pb2, playback_pb2_grpc

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
HOURS = 24
LISTS_OF_A_FULL_RANGE = HOURS + 1  # the hour before the range too (a segment may start there)


def _range(hours: float) -> common_pb2.TimeRange:
    return common_pb2.TimeRange(start=ts_from_ms(to_ms(START)),
                                end=ts_from_ms(to_ms(START + timedelta(hours=hours))))


class GatedStore:
    """The node's store; LISTs under `prefix` are counted and the first waits for `release`."""

    def __init__(self, store: Any, prefix: str) -> None:
        self._store, self._prefix = store, prefix
        self.lists = 0
        self.release = threading.Event()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix.startswith(self._prefix):
            self.lists += 1
            self.release.wait(120)
        return self._store.list(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture()
def playback(server: object, admin_token: str) -> Iterator[playback_pb2_grpc.PlaybackServiceStub]:
    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        yield playback_pb2_grpc.PlaybackServiceStub(c.channel)


def _code(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value


def test_a_playlist_longer_than_the_cap_is_refused(node: Any, playback: Any) -> None:
    cap = node.settings.server.max_playlist_hours
    too_long = _code(lambda: playback.GetPlaylist(playback_pb2.GetPlaylistRequest(
        camera_id="cam-cap", time_range=_range(cap + 1))))
    assert too_long.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{cap:g} h" in too_long.details() and "server.max_playlist_hours" in too_long.details()
    within = _code(lambda: playback.GetPlaylist(playback_pb2.GetPlaylistRequest(
        camera_id="cam-cap", time_range=_range(cap))))
    assert within.code() == grpc.StatusCode.NOT_FOUND  # allowed; this camera has no footage


def _abandon(gate: GatedStore, call: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Make `call` with a short deadline while its first LIST is held, then let the server go on."""
    caplog.set_level(logging.INFO, logger="storage.recordings")
    assert _code(call).code() == grpc.StatusCode.DEADLINE_EXCEEDED
    gate.release.set()
    for _ in range(1200):  # until the worker stopped, or listed every hour
        if gate.lists >= LISTS_OF_A_FULL_RANGE or "the caller is gone" in caplog.text:
            break
        time.sleep(0.05)
    assert gate.lists < LISTS_OF_A_FULL_RANGE // 2, f"{gate.lists} LISTs after the client left"
    assert "the caller is gone" in caplog.text


def test_an_abandoned_playlist_stops_listing(node: Any, playback: Any, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    gate = GatedStore(node.store, "segments/cam-gone-play/")
    monkeypatch.setattr(node.services.playback, "_recordings", Recordings(gate))
    _abandon(gate, lambda: playback.GetPlaylist(playback_pb2.GetPlaylistRequest(
        camera_id="cam-gone-play", time_range=_range(HOURS)), timeout=1.0), caplog)


def test_an_abandoned_export_stops_listing(node: Any, playback: Any, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    gate = GatedStore(node.store, "segments/cam-gone-export/")
    exporter = Exporter(gate, node.settings.data_dir / "work", 60)
    monkeypatch.setattr(node.services.evidence, "_exporter", exporter)
    _abandon(gate, lambda: playback.ExportClip(playback_pb2.ExportClipRequest(
        camera_ids=["cam-gone-export"], time_range=_range(HOURS)), timeout=1.0), caplog)
