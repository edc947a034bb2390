"""WatchService over gRPC: watchlist entries and the alert stream, through `WatchlistService`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.api.calls import Context, caller
from services.api.timestamps import ms_from_ts, ts_from_ms
from services.application.watchlists import AlertView, EntryState, NewEntry, WatchlistService
from vigil.v1 import watch_pb2, watch_pb2_grpc


def new_entry(r: watch_pb2.AddWatchRequest) -> NewEntry:
    window = (r.window.from_minute, r.window.to_minute) if r.HasField("window") else None
    expires = ms_from_ts(r.expires) if r.HasField("expires") else None
    return NewEntry(text=r.text, image=r.image, image_name=r.image_name, cameras=tuple(r.camera_ids),
                    groups=tuple(r.groups), expires_ms=expires,
                    window_min=window, sensitivity=r.sensitivity if r.HasField("sensitivity") else None,
                    webhook_url=r.webhook_url, webhook_secret=r.webhook_secret)


def entry_message(state: EntryState) -> watch_pb2.WatchEntry:
    e = state.entry
    msg = watch_pb2.WatchEntry(entry_id=e.entry_id, kind=e.kind.value, text=e.text, created_by=e.created_by,
                               camera_ids=e.cameras, groups=e.groups, created=ts_from_ms(e.created_ms),
                               sensitivity=e.sensitivity, calibrated=state.calibrated,
                               has_webhook=bool(e.webhook_url))
    if e.expires_ms is not None:
        msg.expires.CopyFrom(ts_from_ms(e.expires_ms))
    if e.window_min is not None:
        msg.window.CopyFrom(watch_pb2.DailyWindow(from_minute=e.window_min[0], to_minute=e.window_min[1]))
    return msg


def alert_message(view: AlertView) -> watch_pb2.Alert:
    a = view.alert
    msg = watch_pb2.Alert(alert_id=a.alert_id, entry_id=a.entry_id, camera_id=a.camera_id,
                          frame_time=ts_from_ms(a.time_ms), score=a.score, cosine=a.cosine,
                          thumbnail_url=view.thumbnail_url, folded=a.folded, written=ts_from_ms(a.written_ms),
                          cursor=a.cursor, thumbnail_key=a.thumbnail_key)
    if a.box is not None:
        msg.box.CopyFrom(watch_pb2.AlertBox(x0=a.box[0], y0=a.box[1], x1=a.box[2], y1=a.box[3]))
    return msg


class WatchServicer(watch_pb2_grpc.WatchServiceServicer):
    def __init__(self, watchlists: WatchlistService) -> None:
        self._watchlists = watchlists

    async def AddWatch(self, request: watch_pb2.AddWatchRequest, context: Context) -> watch_pb2.WatchEntry:
        return entry_message(await asyncio.to_thread(self._watchlists.add, caller(), new_entry(request)))

    async def ListWatches(self, request: watch_pb2.ListWatchesRequest,
                          context: Context) -> watch_pb2.ListWatchesResponse:
        states = await asyncio.to_thread(self._watchlists.list, caller())
        return watch_pb2.ListWatchesResponse(entries=[entry_message(s) for s in states])

    async def RemoveWatch(self, request: watch_pb2.RemoveWatchRequest,
                          context: Context) -> watch_pb2.RemoveWatchResponse:
        await asyncio.to_thread(self._watchlists.remove, caller(), request.entry_id)
        return watch_pb2.RemoveWatchResponse()

    async def WatchAlerts(self, request: watch_pb2.WatchAlertsRequest,
                          context: Context) -> AsyncIterator[watch_pb2.Alert]:
        async for view in self._watchlists.alerts(caller(), request.cursor, frozenset(request.entry_ids),
                                                  request.follow_s):
            yield alert_message(view)
