"""The client side of WatchService, for the CLI, the demo and the benchmark: plain functions over
an authenticated channel (`VigilClient.channel`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import grpc

from services.api.timestamps import ts_from_ms
from vigil.v1 import watch_pb2, watch_pb2_grpc

TIMEOUT_S = 120.0


def add_watch(channel: grpc.Channel, text: str | None = None, image: Path | bytes | None = None,
              cameras: Sequence[str] = (), groups: Sequence[str] = (), expires: datetime | None = None,
              window: tuple[int, int] | None = None, sensitivity: float | None = None,
              webhook_url: str | None = None, webhook_secret: str | None = None) -> watch_pb2.WatchEntry:
    request = watch_pb2.AddWatchRequest(camera_ids=list(cameras), groups=list(groups),
                                        webhook_url=webhook_url or "", webhook_secret=webhook_secret or "")
    if text is not None:
        request.text = text
    elif isinstance(image, Path):
        request.image, request.image_name = image.read_bytes(), image.name
    elif image is not None:
        request.image, request.image_name = image, "photo"
    if expires is not None:
        request.expires.CopyFrom(ts_from_ms(round(expires.timestamp() * 1000)))
    if window is not None:
        request.window.CopyFrom(watch_pb2.DailyWindow(from_minute=window[0], to_minute=window[1]))
    if sensitivity is not None:
        request.sensitivity = sensitivity
    stub = watch_pb2_grpc.WatchServiceStub(channel)
    entry: watch_pb2.WatchEntry = stub.AddWatch(request, timeout=TIMEOUT_S)
    return entry


def list_watches(channel: grpc.Channel) -> list[watch_pb2.WatchEntry]:
    stub = watch_pb2_grpc.WatchServiceStub(channel)
    reply = stub.ListWatches(watch_pb2.ListWatchesRequest(), timeout=TIMEOUT_S)
    return list(reply.entries)


def remove_watch(channel: grpc.Channel, entry_id: str) -> None:
    watch_pb2_grpc.WatchServiceStub(channel).RemoveWatch(watch_pb2.RemoveWatchRequest(entry_id=entry_id),
                                                         timeout=TIMEOUT_S)


def tail_alerts(channel: grpc.Channel, cursor: str = "", entry_ids: Sequence[str] = (),
                follow_s: float = 0.0) -> Iterator[watch_pb2.Alert]:
    """Alerts as they come, for `follow_s` seconds (0: until the iterator is closed)."""
    stream = watch_pb2_grpc.WatchServiceStub(channel).WatchAlerts(
        watch_pb2.WatchAlertsRequest(cursor=cursor, entry_ids=list(entry_ids), follow_s=follow_s))
    try:
        yield from stream
    finally:
        stream.cancel()
