"""WatchlistService: standing searches (text or photo) on the cameras a caller may see, and the
alerts they raise.

Rules:
- An entry's scope is cameras and/or groups the creator may see (a camera it may not see is
  answered as one that does not exist; a group outside its token's groups is refused), and the
  entry keeps its creator's groups: it never matches a camera outside them, even one added to
  a group later. Who may create entries is the RPC policy's business (`services.api.access`).
- Adding embeds the query with the served model and calibrates it against a background sample
  of recent footage (`indexing.watch`); the entry, its photo and its vector are in the bucket
  before the call returns, and the shard writers match against it within their refresh time.
  `recalibrate` (periodic) redoes every entry's background and gives entries a vector for a
  newly served model.
- Alerts are followed from the bucket (`alerts`): a caller gets the alerts of cameras it may see,
  each as soon as it is stored, and a cursor to resume from. An alert is delivered as soon as a
  read of the bucket finds it, not once it is SETTLE_MS old; but only alerts SETTLE_MS old are
  known to have no earlier write still in flight (`storage.watchlists`), so an alert delivered
  younger carries the cursor of the settled position before it: a stream resumed from it may
  repeat the alerts of the last SETTLE_MS before it (the same `alert_id`; nothing is lost). The
  bucket is read every `watch.poll_s`, and at once when the node rings the stream's bell
  (`AlertBell`: a live batch, whose alerts are stored before it is acknowledged, reached this node).
- Entries are listed and removed by their creator, or by an admin of every group.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from indexing.watch import MIN_BACKGROUND, calibrate
from services.application.audit import AuditTrail, Caller
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError
from services.index.serving import ServingRef
from services.security.auth import Role
from services.settings import WatchSettings
from storage.keys import validate_group
from storage.url_policy import Purpose, UrlPolicy, check_url
from storage.watchlists import (
    MINUTES_PER_DAY,
    Alert,
    EntryKind,
    WatchEntry,
    WatchStore,
    cursor_at,
    cursor_ms,
    new_entry_id,
    now_ms,
)

logger = logging.getLogger(__name__)
MAX_TEXT_CHARS = 500
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SCOPE = 256
SETTLE_MS = 1000  # alerts are delivered once this old (storage.watchlists)
MAX_FOLLOW_S = 86_400.0
SEEN_IDS = 4096  # alert ids remembered per stream, to drop an alert written twice


@dataclass(frozen=True)
class NewEntry:
    """An entry as a caller asks for it (validated by `WatchlistService.add`)."""

    text: str = ""
    image: bytes = b""
    image_name: str = ""
    cameras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    expires_ms: int | None = None
    window_min: tuple[int, int] | None = None
    sensitivity: float | None = None
    webhook_url: str = ""
    webhook_secret: str = ""


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    thumbnail_url: str  # presigned for `storage.presign_ttl_s`


@dataclass(frozen=True)
class EntryState:
    entry: WatchEntry
    calibrated: bool  # has a vector with a background for the served model


class AlertBell:
    """Wakes the alert streams open on this node to read the bucket now (thread-safe `ring`)."""

    def __init__(self) -> None:
        self._events: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()

    def ring(self) -> None:
        with self._lock:
            events = list(self._events)
        for loop, event in events:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that stream's loop is closed: it is going away
                continue

    def listen(self) -> _Listener:
        """An event set by every ring from now on, until the listener is closed."""
        return _Listener(self)

    def _add(self, key: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._events.add(key)

    def _discard(self, key: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._events.discard(key)


class _Listener:
    def __init__(self, bell: AlertBell) -> None:
        self._bell, self._event = bell, asyncio.Event()
        self._key = (asyncio.get_running_loop(), self._event)
        bell._add(self._key)

    def clear(self) -> None:
        """Before a read: a ring during the read wakes the next `wait` at once."""
        self._event.clear()

    async def wait(self, timeout_s: float) -> None:
        """Until a ring since the last `clear`, or `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)

    def close(self) -> None:
        self._bell._discard(self._key)


class WatchlistService:
    def __init__(self, visibility: Visibility, watch: WatchStore, serving: ServingRef, audit: AuditTrail,
                 settings: WatchSettings, url_policy: Callable[[], UrlPolicy], presign: Callable[[str], str],
                 clock_ms: Callable[[], int] = now_ms, bell: AlertBell | None = None) -> None:
        self._visibility, self._watch, self._serving, self._audit = visibility, watch, serving, audit
        self._settings, self._url_policy, self._clock = settings, url_policy, clock_ms
        self._presign = presign
        self.bell = bell or AlertBell()

    def add(self, caller: Caller, new: NewEntry) -> EntryState:
        entry = self._entry(caller, new)
        if len(self._watch.entry_ids()) >= self._settings.max_entries:
            raise ResourceExhaustedError(f"{self._settings.max_entries} watchlist entries are active "
                                         "(watch.max_entries): remove one first")
        serving = self._serving.current
        query = self._query(entry, new.image)  # a bad photo is refused before anything is stored
        vector = calibrate(entry.entry_id, serving.model_id, query, *self._background())
        if new.image:
            self._watch.put_photo(entry.entry_id, new.image)
        self._watch.put_vector(vector)
        self._watch.put_entry(entry)  # last: an entry listed has everything it needs
        self._audit.touched(caller, "add_watch", _details(entry))
        return EntryState(entry, max(vector.background_size, vector.region_size) >= MIN_BACKGROUND)

    def list(self, caller: Caller) -> list[EntryState]:
        model_id = self._serving.current.model_id
        ready = self._watch.vector_ids(model_id)
        return sorted((EntryState(e, e.entry_id in ready) for e in self._watch.entries()
                       if self._owns(caller, e)), key=lambda s: (s.entry.created_ms, s.entry.entry_id))

    def remove(self, caller: Caller, entry_id: str) -> None:
        entry = self._watch.entry(entry_id) if len(entry_id) == 32 else None
        if entry is None or not self._owns(caller, entry):
            raise NotFoundError(f"no watchlist entry {entry_id[:40]}")
        self._watch.remove_entry(entry_id)
        self._audit.touched(caller, "remove_watch", {"entry_id": entry_id})

    async def alerts(self, caller: Caller, cursor: str, entry_ids: frozenset[str] = frozenset(),
                     follow_s: float = 0.0) -> AsyncIterator[AlertView]:
        """Alerts after `cursor` ('' : from now on) on cameras the caller sees, until cancelled
        (or for `follow_s` seconds, when positive)."""
        if not 0 <= follow_s <= MAX_FOLLOW_S:
            raise InvalidArgumentError(f"follow_s {follow_s} is outside [0, {MAX_FOLLOW_S}] "
                                       "(0: until cancelled)")
        ends = time.monotonic() + follow_s if follow_s else float("inf")
        if cursor:
            try:
                cursor_ms(cursor)
            except ValueError as exc:
                raise InvalidArgumentError(str(exc)) from None
        else:
            cursor = cursor_at(self._clock() - SETTLE_MS)
        seen: deque[str] = deque(maxlen=SEEN_IDS)  # delivered after `cursor` (read again until settled)
        listener = self.bell.listen()
        try:
            while time.monotonic() < ends:
                listener.clear()
                read_ms = self._clock()
                batch = await asyncio.to_thread(self._after, cursor, read_ms)
                for alert, resume in resume_cursors(batch, cursor, read_ms):
                    if alert.alert_id in seen or (entry_ids and alert.entry_id not in entry_ids):
                        continue
                    seen.append(alert.alert_id)
                    if self._visibility.sees(caller.principal, alert.camera_id):
                        thumbnail = await asyncio.to_thread(self._presign, alert.thumbnail_key)
                        yield AlertView(replace(alert, cursor=resume), thumbnail)
                cursor = max(cursor, cursor_at(read_ms - SETTLE_MS))
                await listener.wait(min(self._settings.poll_s, max(ends - time.monotonic(), 0.0)))
        finally:
            listener.close()

    def _after(self, cursor: str, until_ms: int) -> tuple[Alert, ...]:
        return tuple(self._watch.alerts_after(cursor, until_ms))

    def recalibrate(self) -> int:
        """Every active entry calibrated again on recent footage, with the served model (a model
        switch gives entries their new vectors here); returns entries calibrated."""
        serving = self._serving.current
        background = self._background()
        done = 0
        for entry in self._watch.entries():
            if not entry.active(self._clock()):
                continue
            try:
                image = self._watch.photo(entry.entry_id) if entry.kind is EntryKind.IMAGE else b""
                self._watch.put_vector(calibrate(entry.entry_id, serving.model_id,
                                                 self._query(entry, image), *background))
                done += 1
            except Exception:  # one entry's failure (its photo removed meanwhile) spares the rest
                logger.exception("watchlist entry %s not recalibrated", entry.entry_id)
        return done

    def _background(self) -> tuple[np.ndarray, np.ndarray]:
        """Recent whole keyframes and recent regions, `watch.background_size` of each at most."""
        index, n = self._serving.current.index, self._settings.background_size
        return index.sample(n, regions=False), index.sample(n, regions=True)

    def _query(self, entry: WatchEntry, image: bytes) -> np.ndarray:
        serving = self._serving.current
        if entry.kind is EntryKind.IMAGE:
            return serving.search.embed_image(image)
        vector: np.ndarray = serving.embedder.embed_texts([entry.text])[0]
        return vector

    def _owns(self, caller: Caller, entry: WatchEntry) -> bool:
        p = caller.principal
        return entry.created_by == caller.subject or (p.all_cameras and p.role is Role.ADMIN)

    def _entry(self, caller: Caller, new: NewEntry) -> WatchEntry:
        if bool(new.text.strip()) == bool(new.image):
            raise InvalidArgumentError("give either a text or an image to watch for, not both")
        if len(new.text) > MAX_TEXT_CHARS or len(new.image) > MAX_IMAGE_BYTES:
            raise InvalidArgumentError(f"the text is limited to {MAX_TEXT_CHARS} characters and the "
                                       f"image to {MAX_IMAGE_BYTES} bytes")
        now = self._clock()
        if new.expires_ms is not None and new.expires_ms <= now:
            raise InvalidArgumentError("expires is in the past: give a time after now")
        sensitivity = self._settings.default_sensitivity if new.sensitivity is None else new.sensitivity
        if not 0.0 <= sensitivity <= 1.0:
            raise InvalidArgumentError(f"sensitivity {sensitivity} is outside [0, 1]")
        if new.window_min is not None and not all(0 <= m < MINUTES_PER_DAY for m in new.window_min):
            raise InvalidArgumentError(f"time window {new.window_min} must be minutes of the day (0-1439)")
        principal = caller.principal
        kind = EntryKind.IMAGE if new.image else EntryKind.TEXT
        return WatchEntry(
            new_entry_id(), kind, new.image_name[:200] if new.image else new.text.strip(), caller.subject,
            tuple(sorted(principal.groups)), self._cameras(caller, new.cameras),
            self._groups(caller, new.groups),
            now, new.expires_ms, new.window_min, sensitivity, self._settings.fold_s,
            self._webhook(new.webhook_url), new.webhook_secret)

    def _cameras(self, caller: Caller, cameras: tuple[str, ...]) -> tuple[str, ...]:
        if len(cameras) > MAX_SCOPE:
            raise InvalidArgumentError(f"at most {MAX_SCOPE} cameras per entry")
        return tuple(sorted({self._visibility.camera(caller.principal, c, f"no camera {c[:80]}")
                             for c in cameras}))

    def _groups(self, caller: Caller, groups: tuple[str, ...]) -> tuple[str, ...]:
        if len(groups) > MAX_SCOPE:
            raise InvalidArgumentError(f"at most {MAX_SCOPE} groups per entry")
        checked = set()
        for g in groups:
            try:
                checked.add(validate_group(g))
            except ValueError as exc:
                raise InvalidArgumentError(str(exc)) from None
            if not caller.principal.all_cameras and g not in caller.principal.groups:
                raise PermissionDeniedError(f"group {g} is not one of your token's groups: an entry "
                                            "watches only cameras you may see")
        return tuple(sorted(checked))

    def _webhook(self, url: str) -> str:
        if url:
            check_url(url, Purpose.WEBHOOK, self._url_policy())  # UrlRefusedError: INVALID_ARGUMENT
        return url


def resume_cursors(alerts: Sequence[Alert], cursor: str, read_ms: int) -> Iterator[tuple[Alert, str]]:
    """Each alert of one read of the bucket (`alerts_after(cursor, read_ms)`, in key order) with
    the cursor a stream resumed after it must start from to lose nothing: its own for an alert
    SETTLE_MS old at the read (every alert written up to it was stored by then: this read has
    them); for a younger one, the settled position before it (an earlier write may still be in
    flight)."""
    settled = cursor_at(read_ms - SETTLE_MS)
    for alert in alerts:
        # a young alert: every alert up to `settled` was in this read, before it
        cursor = max(cursor, alert.cursor if alert.cursor <= settled else settled)
        yield alert, cursor


def _details(entry: WatchEntry) -> dict[str, object]:
    """What the audit trail keeps of an entry: never its webhook secret."""
    query = (entry.text if entry.kind is EntryKind.TEXT
             else f"image {entry.text}")
    return {"entry_id": entry.entry_id, "kind": entry.kind.value,
            "query_sha256": hashlib.sha256(query.encode()).hexdigest()[:16], "cameras": list(entry.cameras),
            "groups": list(entry.groups), "expires_ms": entry.expires_ms, "sensitivity": entry.sensitivity,
            "webhook": bool(entry.webhook_url)}


def without_secret(entry: WatchEntry) -> WatchEntry:
    return replace(entry, webhook_secret="")
