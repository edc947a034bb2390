"""Watchlist entries, their per-model query vectors, and alerts, as the bucket holds them.

An entry (`WatchEntry`) is what a user asked to watch for: a text or a photo, the scope it
watches (cameras and/or groups, always inside its creator's groups), an optional daily time
window, an expiry and a sensitivity. It is written once and deleted when removed. Its query
vector and background calibration for one model (`EntryVector`) live beside it under the model's
prefix, so a model switch adds vectors without touching entries, and a matcher lists only what
it can use.

Alerts (`Alert`) are written once under the time they were written (`storage.keys.
watch_alert_key`), so readers follow them in order by listing hour prefixes: a cursor is the key
name of the last alert delivered. A reader delivers an alert only once it is `settle_ms` old, so
an alert whose write started before the cursor was handed out is not skipped; a writer whose PUT
took longer than that writes the alert again under a fresh key (readers drop the repeat by
`alert_id`).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore
from storage.timeutil import HOUR_MS, now_ms

ENTRY_ID = re.compile(r"[0-9a-f]{32}")  # fullmatch only
CURSOR = re.compile(r"\d{13}-[0-9a-f]{32}")
MINUTES_PER_DAY = 24 * 60
Clock = Callable[[], int]  # ms since the epoch
MAX_HOURS_LISTED = 48


class EntryKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"


@dataclass(frozen=True)
class WatchEntry:
    entry_id: str
    kind: EntryKind
    text: str  # the query text, or the photo's file name
    created_by: str
    creator_groups: tuple[str, ...]  # the creator's token groups ('*': every camera)
    cameras: tuple[str, ...] = ()  # scope: these cameras …
    groups: tuple[str, ...] = ()  # … and these groups' cameras; both empty: every camera it may see
    created_ms: int = 0
    expires_ms: int | None = None
    window_min: tuple[int, int] | None = None  # daily [from, to) in UTC minutes; wraps midnight
    sensitivity: float = 0.5
    fold_s: float = 60.0  # repeats on one camera within this are one alert
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)  # never returned, never logged

    def active(self, now_ms: int) -> bool:
        return self.expires_ms is None or now_ms < self.expires_ms

    def watches(self, camera_id: str, group: str | None, time_ms: int) -> bool:
        """Whether a frame of `camera_id` (in `group`) at `time_ms` is in this entry's scope. Any
        newly indexed frame may be, recorded before the entry or not (a file of last night's
        footage is watched too); whether the entry is still active is the caller's check, on
        the clock (`active`)."""
        creator_sees = keys.ALL_GROUPS in self.creator_groups or group in self.creator_groups
        if not creator_sees:
            return False
        if (self.cameras or self.groups) and camera_id not in self.cameras and group not in self.groups:
            return False
        return self.window_min is None or in_daily_window(time_ms, self.window_min)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WatchEntry:
        raw: dict[str, Any] = json.loads(data)
        window = raw.pop("window_min")
        return cls(**{**raw, "kind": EntryKind(raw["kind"]),
                      "creator_groups": tuple(raw["creator_groups"]), "cameras": tuple(raw["cameras"]),
                      "groups": tuple(raw["groups"]),
                      "window_min": None if window is None else (int(window[0]), int(window[1]))})


def in_daily_window(time_ms: int, window: tuple[int, int]) -> bool:
    minute = (time_ms // 60_000) % MINUTES_PER_DAY
    start, end = window
    return start <= minute < end if start <= end else minute >= start or minute < end


@dataclass(frozen=True)
class EntryVector:
    """An entry's query vector for one model and where its scores fall on recent footage: on whole
    keyframes (`background_*`) and on regions (`region_*`), which score differently. A score's
    calibrated value is (score - centre) / scale (`indexing.watch` says how both are read)."""

    entry_id: str
    model_id: str
    vector: np.ndarray  # float32, unit length
    background_centre: float
    background_scale: float
    background_max: float
    background_size: int
    region_centre: float = 0.0
    region_scale: float = 0.0
    region_size: int = 0

    def to_json(self) -> bytes:
        data = {k: v for k, v in asdict(self).items() if k != "vector"}
        data["vector"] = base64.b64encode(np.asarray(self.vector, "<f4").tobytes()).decode()
        return json.dumps(data).encode()

    @classmethod
    def from_json(cls, data: bytes) -> EntryVector:
        raw: dict[str, Any] = json.loads(data)
        vector = np.frombuffer(base64.b64decode(raw.pop("vector")), "<f4").astype(np.float32)
        for old, new in _VECTOR_FIELDS_BEFORE.items():  # written before 2026-12-05: a mean and a
            if old in raw:  # standard deviation, used as they are until the next recalibration
                raw[new] = raw.pop(old)
        return cls(vector=vector, **raw)


_VECTOR_FIELDS_BEFORE = {"background_mean": "background_centre", "background_std": "background_scale",
                         "region_mean": "region_centre", "region_std": "region_scale"}


@dataclass(frozen=True)
class Alert:
    alert_id: str  # (entry, camera, frame time, box): the same match written twice is one alert
    entry_id: str
    camera_id: str
    time_ms: int  # the frame's time
    score: float  # calibrated: `indexing.watch.calibrated_score`
    cosine: float
    thumbnail_key: str
    segment_key: str
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 normalised; None: whole frame
    folded: int = 0  # earlier matches of this alert's fold window not alerted on their own
    written_ms: int = 0
    cursor: str = ""  # the key name, set when read

    def to_json(self) -> bytes:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "cursor"}).encode()

    @classmethod
    def from_json(cls, data: bytes, cursor: str) -> Alert:
        raw: dict[str, Any] = json.loads(data)
        box = raw.pop("box")
        return cls(**raw, box=None if box is None else (box[0], box[1], box[2], box[3]), cursor=cursor)


def new_entry_id() -> str:
    return uuid.uuid4().hex


def cursor_ms(cursor: str) -> int:
    """The written time a cursor stands at; ValueError naming it if it is not one."""
    if not CURSOR.fullmatch(cursor):
        raise ValueError(f"cursor {cursor[:80]!r} is not one this server handed out "
                         "(13 digits, '-', 32 hex); start without a cursor to follow new alerts")
    return int(cursor[:13])


class WatchStore:
    """Entries, entry vectors and alerts in the bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def put_entry(self, entry: WatchEntry) -> None:
        self._store.put_bytes(keys.watch_entry_key(entry.entry_id), entry.to_json(), "application/json")
        self.mark_changed()

    def mark_changed(self) -> None:
        """Tell matchers to list entries and vectors again (they read this token, not the lists)."""
        self._store.put_bytes(keys.WATCH_CHANGED_KEY, json.dumps({"token": uuid.uuid4().hex}).encode(),
                              "application/json")

    def changed_token(self) -> str:
        """The token of the last change ('' if none yet); read it before listing."""
        try:
            return str(json.loads(self._store.get_bytes(keys.WATCH_CHANGED_KEY))["token"])
        except ObjectNotFoundError:
            return ""

    def entry(self, entry_id: str) -> WatchEntry | None:
        try:
            return WatchEntry.from_json(self._store.get_bytes(keys.watch_entry_key(entry_id)))
        except ObjectNotFoundError:
            return None

    def entries(self) -> list[WatchEntry]:
        found = []
        for obj in self._store.list(keys.WATCH_ENTRIES_PREFIX):
            if not obj.key.endswith(".json"):
                continue
            try:
                found.append(WatchEntry.from_json(self._store.get_bytes(obj.key)))
            except ObjectNotFoundError:
                continue  # removed while listed
        return found

    def entry_ids(self) -> set[str]:
        return {o.key.rsplit("/", 1)[-1].removesuffix(".json")
                for o in self._store.list(keys.WATCH_ENTRIES_PREFIX) if o.key.endswith(".json")}

    def put_photo(self, entry_id: str, image: bytes) -> None:
        self._store.put_bytes(keys.watch_photo_key(entry_id), image, "application/octet-stream")

    def photo(self, entry_id: str) -> bytes:
        return self._store.get_bytes(keys.watch_photo_key(entry_id))

    def remove_entry(self, entry_id: str) -> None:
        """The entry first (matchers stop using it at their next refresh), then its photo and
        its vectors for every model."""
        self._store.delete([keys.watch_entry_key(entry_id)])
        self._store.delete([keys.watch_photo_key(entry_id)])
        vectors = [o.key for o in self._store.list(keys.WATCH_VECTORS_PREFIX)
                   if o.key.endswith(f"/{entry_id}.json")]
        self._store.delete(vectors)
        self.mark_changed()

    def get_cursor(self) -> str | None:
        try:
            return str(json.loads(self._store.get_bytes(keys.WATCH_WEBHOOK_CURSOR_KEY))["cursor"])
        except ObjectNotFoundError:
            return None

    def put_cursor(self, cursor: str) -> None:
        self._store.put_bytes(keys.WATCH_WEBHOOK_CURSOR_KEY, json.dumps({"cursor": cursor}).encode(),
                              "application/json")

    def put_vector(self, vector: EntryVector) -> None:
        self._store.put_bytes(keys.watch_vector_key(vector.model_id, vector.entry_id), vector.to_json(),
                              "application/json")
        self.mark_changed()

    def vector_ids(self, model_id: str) -> set[str]:
        prefix = keys.watch_vectors_prefix(model_id)
        return {o.key.removeprefix(prefix).removesuffix(".json") for o in self._store.list(prefix)}

    def vector(self, model_id: str, entry_id: str) -> EntryVector | None:
        try:
            return EntryVector.from_json(self._store.get_bytes(keys.watch_vector_key(model_id, entry_id)))
        except ObjectNotFoundError:
            return None

    def put_alert(self, alert: Alert, settle_ms: int, clock_ms: Clock | None = None) -> Alert:
        """Write the alert; again under a fresh key if the write outlasted `settle_ms` (a reader
        may have moved past its first key)."""
        clock = clock_ms or now_ms
        while True:
            written = clock()
            unique = uuid.uuid4().hex
            stamped = Alert(**{**_fields(alert), "written_ms": written})
            key = keys.watch_alert_key(written, unique)
            self._store.put_bytes(key, stamped.to_json(), "application/json")
            if clock() - written < settle_ms:
                return Alert(**{**_fields(stamped), "cursor": f"{written:013d}-{unique}"})

    def alerts_after(self, cursor: str, until_ms: int) -> Iterator[Alert]:
        """Alerts written after `cursor` and no later than `until_ms`, in order. A cursor more
        than MAX_HOURS_LISTED hours back lists every alert once instead of hour by hour."""
        start = cursor_ms(cursor)
        hours = range(start // HOUR_MS, until_ms // HOUR_MS + 1)
        prefixes = ([keys.WATCH_ALERTS_PREFIX] if len(hours) > MAX_HOURS_LISTED
                    else [keys.watch_alert_hour_prefix(h * HOUR_MS) for h in hours])
        for prefix in prefixes:
            listed = self._store.list(prefix)
            for name, key in sorted((o.key.rsplit("/", 1)[-1].removesuffix(".json"), o.key) for o in listed):
                if name <= cursor or not CURSOR.fullmatch(name) or int(name[:13]) > until_ms:
                    continue
                try:
                    yield Alert.from_json(self._store.get_bytes(key), name)
                except ObjectNotFoundError:
                    continue


def cursor_at(time_ms: int) -> str:
    """A cursor before every alert written after `time_ms`."""
    return f"{max(time_ms, 0):013d}-{'f' * 32}"


def _fields(alert: Alert) -> dict[str, Any]:
    return {f: getattr(alert, f) for f in alert.__dataclass_fields__}
