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
  each as soon as a read of the bucket finds it (not once it is SETTLE_MS old), with a cursor
  that resumes right after it, losing and repeating nothing (`AlertFollower`). The bucket is read
  every `watch.poll_s`, and at once when the node rings the stream's bell (`AlertBell`: a live
  batch, whose alerts are stored before it is acknowledged, reached this node).
- Entries are listed and removed by their creator, or by an admin of every group.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
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
from storage.timeutil import now_ms
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
)

logger = logging.getLogger(__name__)
MAX_TEXT_CHARS = 500
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_SCOPE = 256
SETTLE_MS = 1000  # alerts are delivered once this old (storage.watchlists)
MAX_FOLLOW_S = 86_400.0
SEEN_IDS = 4096  # alert ids remembered per stream, to drop an alert written twice
MAX_CURSOR_IDS = 64  # young alerts a cursor names (more within SETTLE_MS: the rest may repeat)
ALERT_ID = re.compile(r"[0-9a-f]{32}")  # fullmatch


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
        try:
            follower = AlertFollower(self._watch, cursor or cursor_at(self._clock() - SETTLE_MS))
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from None
        listener = self.bell.listen()
        try:
            while time.monotonic() < ends:
                listener.clear()
                batch = await asyncio.to_thread(follower.read, self._clock())
                for alert in batch:
                    if entry_ids and alert.entry_id not in entry_ids:
                        continue
                    if self._visibility.sees(caller.principal, alert.camera_id):
                        thumbnail = await asyncio.to_thread(self._presign, alert.thumbnail_key)
                        yield AlertView(alert, thumbnail)
                await listener.wait(min(self._settings.poll_s, max(ends - time.monotonic(), 0.0)))
        finally:
            listener.close()

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
        search, n = self._serving.current.search, self._settings.background_size
        return search.sample(n, regions=False), search.sample(n, regions=True)

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


def split_cursor(cursor: str) -> tuple[str, tuple[str, ...]]:
    """(settled key, ids of the alerts after it already delivered) of a cursor handed out by
    `AlertFollower`; ValueError naming it if it is not one."""
    base, *ids = cursor.split(".")
    cursor_ms(base)  # ValueError naming the cursor
    if len(ids) > MAX_CURSOR_IDS or not all(ALERT_ID.fullmatch(i) for i in ids):
        raise ValueError(f"cursor {cursor[:80]!r} is not one this server handed out (a key, then at most "
                         f"{MAX_CURSOR_IDS} '.'-separated alert ids); start without a cursor to follow "
                         "new alerts")
    return base, tuple(ids)


class AlertFollower:
    """Reads the bucket's alerts after a cursor: each alert once, as soon as it is stored, with
    the cursor that resumes right after it, losing nothing and repeating nothing.

    Alert keys are write times (`storage.watchlists`): an alert is stored at most SETTLE_MS after
    its key's time, so at a read at time T every alert keyed up to T - SETTLE_MS is there, but a
    younger one may still be in flight under a key lower than one already read. A cursor is thus
    a settled key (every alert up to it delivered) followed by the ids of the younger alerts
    delivered after it ('.'-separated); a read starts at the settled key and skips those ids.
    """

    def __init__(self, watch: WatchStore, cursor: str) -> None:
        """ValueError naming `cursor` if it is not one handed out."""
        self._watch = watch
        self._base, ids = split_cursor(cursor)
        self._after: dict[str, str] = dict.fromkeys(ids, "")  # delivered after base: id → key
        self._recent: deque[str] = deque(maxlen=SEEN_IDS)  # an alert written twice is dropped

    def read(self, now_ms: int) -> list[Alert]:
        """The alerts stored since the last read, in key order, each with its resume cursor."""
        settled = cursor_at(now_ms - SETTLE_MS)
        keys = dict(self._after)  # every alert delivered after the base: id → its (latest) key
        base, fresh = self._base, list[tuple[Alert, str]]()
        for alert in self._watch.alerts_after(self._base, now_ms):
            key = alert.cursor
            base = max(base, min(key, settled))  # every alert up to it is in this read, before it
            if alert.alert_id in keys or alert.alert_id in self._recent:  # delivered, or written twice
                keys[alert.alert_id] = max(keys.get(alert.alert_id, ""), key)
                continue
            keys[alert.alert_id] = key
            fresh.append((alert, base))
        new = {a.alert_id for a, _ in fresh}
        given = {i: k for i, k in keys.items() if i not in new}  # ids not listed: keyed before the base
        out = []
        for alert, at in fresh:  # each cursor names what was delivered up to its alert, nothing later
            given[alert.alert_id] = keys[alert.alert_id]
            self._recent.append(alert.alert_id)
            out.append(replace(alert, cursor=_cursor(at, given)))
        self._base = max(base, settled)
        self._after = {i: k for i, k in keys.items() if k > self._base}
        return out

    @property
    def cursor(self) -> str:
        """Where the reads stand: resuming here repeats and loses nothing."""
        return _cursor(self._base, self._after)


def _cursor(base: str, delivered: dict[str, str]) -> str:
    """`base` and the ids of the alerts delivered after it (id → key), oldest first."""
    young = sorted((k, i) for i, k in delivered.items() if k > base)[:MAX_CURSOR_IDS]
    return ".".join([base, *(i for _, i in young)])


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
