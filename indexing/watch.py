"""Watchlist matching: calibrated scores of newly indexed vectors against standing queries.

Calibration. A raw cosine means different things for different queries and models: a text
query's cosines with ordinary street footage may sit around 0.15 for one phrase and 0.30 for
another, and a photo's far higher. So an entry is calibrated against a background sample of
recent footage (`calibrate`): its cosines with the background vectors are what "nothing in
particular" scores for this query. Whole keyframes and region crops score differently (a crop
of a bicycle is closer to a photo of one than any street view), so each has its own background.
A new vector's calibrated score is (cosine - centre) / scale with its kind's centre and scale,
read from where alerts are decided, the background's upper tail: the centre is the median, and
the scale puts the background's TAIL_QUANTILE at the standard normal's quantile there (3.09 for
1 in 1,000). For a normal background this is the z-score; for the skewed and long-tailed ones
real queries have (text and photo entries differ most) it keeps what matters the same for every
entry: a calibrated score of 3.09 is reached by 1 background vector in 1,000, whatever the
query's distribution (a mean and a standard deviation did not: on `benchmarks.alert_rules`'
footage text entries never alerted at the default sensitivity, a photo entry did). One
sensitivity maps to one threshold for every query and model (`z_threshold`): sensitivity 1
alerts at Z_AT_MOST_SENSITIVE, 0 at Z_AT_LEAST_SENSITIVE, linearly between (0.5: 3). An entry
whose background is smaller than MIN_BACKGROUND is not matched yet (it is recalibrated as footage
arrives); a kind with too small a background of its own uses the other's.

Matching (`WatchMatcher.match`) runs where a batch is acknowledged (the shard writer that logs
it: one place per vector cluster-wide), on whole-frame and region vectors alike: one matrix
product of the batch against every active entry of the model, then the scope check (cameras,
groups, the creator's groups, time window, expiry) only for the few scores above threshold.
The active entries' arrays are built when the entries change and again when one expires on the
clock (every frame newly indexed is watched, recorded before the entry was added or not: a file
of last night's footage too), not once per batch; the daily window is checked on the frame's
time. Repeats of an entry on one camera within the entry's fold window are folded into the alert
that opened the window. Before every batch a matcher reads one small object (`watch/changed.json`,
rewritten on every change) and lists entries and vectors again only when it changed, so an entry
applies to every batch acknowledged after AddWatch returned; camera groups are re-read every
CAMERAS_REFRESH_S, and at once when a match is on a camera not in the groups read (one registered
and ingested within that time is matched with its group, not dropped as in no group).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from indexing.frame_columns import FrameRecord
from storage.cameras import CameraRegistry
from storage.object_store import ObjectStore
from storage.timeutil import now_ms
from storage.watchlists import Alert, EntryVector, WatchEntry, WatchStore

logger = logging.getLogger(__name__)
MIN_BACKGROUND = 32  # background vectors an entry needs before it is matched
CAMERAS_REFRESH_S = 10.0  # camera groups are re-read this often
Z_AT_MOST_SENSITIVE = 1.0  # sensitivity 1.0
Z_AT_LEAST_SENSITIVE = 5.0  # sensitivity 0.0
TAIL_QUANTILE = 0.999  # the background's quantile the scale is read at
TAIL_Z = NormalDist().inv_cdf(TAIL_QUANTILE)  # where that quantile lies on a normal background: 3.09
MIN_SCALE = 1e-3  # a background with (almost) no spread would make every tiny difference huge
REFRESH_S = 0.0  # seconds between reads of the change token: 0, before every batch
SETTLE_MS = 1000  # see storage.watchlists: a reader delivers alerts this old


def z_threshold(sensitivity: float) -> float:
    """The calibrated score an entry of this sensitivity alerts at (0 ≤ sensitivity ≤ 1)."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"sensitivity {sensitivity} is outside [0, 1]")
    return Z_AT_LEAST_SENSITIVE - sensitivity * (Z_AT_LEAST_SENSITIVE - Z_AT_MOST_SENSITIVE)


def calibrate(entry_id: str, model_id: str, query: np.ndarray, background: np.ndarray,
              regions: np.ndarray | None = None) -> EntryVector:
    """The entry's vector with its score distributions over `background` (rows: recent whole
    keyframes) and `regions` (recent region crops)."""
    q = np.asarray(query, np.float32).reshape(-1)
    frames, crops = _scores(background, q), _scores(regions, q)
    return EntryVector(entry_id, model_id, q, *_centre_scale(frames),
                       float(frames.max()) if frames.size else 0.0, int(frames.size),
                       *_centre_scale(crops), int(crops.size))


def _centre_scale(scores: np.ndarray) -> tuple[float, float]:
    """The median of a background's scores, and the scale that puts its TAIL_QUANTILE at TAIL_Z."""
    if not scores.size:
        return 0.0, MIN_SCALE
    centre = float(np.median(scores))
    return centre, max((float(np.quantile(scores, TAIL_QUANTILE)) - centre) / TAIL_Z, MIN_SCALE)


def _scores(vectors: np.ndarray | None, q: np.ndarray) -> np.ndarray:
    if vectors is None or not len(vectors):
        return np.zeros(0, np.float32)
    scores: np.ndarray = vectors.astype(np.float32) @ q
    return scores


def _stats(vector: EntryVector, region: bool) -> tuple[float, float]:
    """(centre, scale) of the entry's background of this kind, or of the other kind if too small."""
    use_regions = vector.region_size >= MIN_BACKGROUND if region else vector.background_size < MIN_BACKGROUND
    return ((vector.region_centre, vector.region_scale) if use_regions
            else (vector.background_centre, vector.background_scale))


def calibrated_score(vector: EntryVector, cosine: float, region: bool = False) -> float:
    centre, scale = _stats(vector, region)
    return (cosine - centre) / scale


def alert_id(entry_id: str, record: FrameRecord) -> str:
    box = "" if record.box is None else f"{record.box.x0},{record.box.y0},{record.box.x1},{record.box.y1}"
    text = f"{entry_id}|{record.camera_id}|{record.time_ms}|{box}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Active:
    """The entries a matcher scores, as arrays: row i is entries[i]."""

    entries: tuple[WatchEntry, ...]
    vectors: tuple[EntryVector, ...]
    queries: np.ndarray  # (entries, dim)
    cosine_at: np.ndarray  # (2, entries) the cosine each entry alerts at: on whole keyframes, on regions


_NONE = _Active((), (), np.zeros((0, 0), np.float32), np.zeros((2, 0), np.float32))


class WatchMatcher:
    """Matches one model's acknowledged batches against the bucket's active entries; thread-safe."""

    def __init__(self, store: ObjectStore, model_id: str, refresh_s: float = REFRESH_S,
                 settle_ms: int = SETTLE_MS, clock_ms: Callable[[], int] = now_ms) -> None:
        self._watch, self._cameras = WatchStore(store), CameraRegistry(store)
        self._model_id, self._refresh_s = model_id, refresh_s
        self._settle_ms, self._clock = settle_ms, clock_ms
        self._active, self._groups = _NONE, dict[str, str]()
        self._rebuild_at_ms = 0  # the clock time an active entry expires at: the arrays are rebuilt then
        self._entries: dict[str, WatchEntry] = {}
        self._vectors: dict[str, EntryVector] = {}
        self._refreshed = self._cameras_read = float("-inf")
        self._token: str | None = None  # the change token the loaded entries are of
        self._opened: dict[tuple[str, str], tuple[int, int]] = {}  # (entry, camera) → (alert time, folded)
        self._lock = threading.Lock()

    def match(self, records: Sequence[FrameRecord], vectors: np.ndarray) -> list[Alert]:
        """Alerts for the batch's matches (written to the bucket before this returns)."""
        with self._lock:
            self._refresh_if_due()
            active = self._active
            if not active.entries or not len(records):
                return []
            scores = vectors.astype(np.float32, copy=False) @ active.queries.T
            kind = np.array([r.box is not None for r in records], dtype=np.int64)
            hits = np.argwhere(scores >= active.cosine_at[kind])
            if any(records[int(i)].camera_id not in self._groups for i, _ in hits):
                self._read_cameras()  # registered since the last read: match it with its group
            found = [(records[int(i)], int(e), float(scores[i, e])) for i, e in hits]
            return [a for r, e, c in sorted(found, key=lambda f: f[0].time_ms)
                    if (a := self._alert(active, e, r, c)) is not None]

    def refresh(self, full: bool = True) -> None:
        """Re-read entries, vectors and camera groups from the bucket now (`full`), or do what a
        due refresh does (read the change token; list only if it changed)."""
        with self._lock:
            self._refreshed = float("-inf")
            if full:
                self._cameras_read, self._token = float("-inf"), None
            self._refresh_if_due()

    def _alert(self, active: _Active, e: int, record: FrameRecord, cosine: float) -> Alert | None:
        entry, vector = active.entries[e], active.vectors[e]
        if not entry.watches(record.camera_id, self._groups.get(record.camera_id), record.time_ms):
            return None
        key = (entry.entry_id, record.camera_id)
        opened = self._opened.get(key)
        if opened is not None and 0 <= record.time_ms - opened[0] < entry.fold_s * 1000:
            self._opened[key] = (opened[0], opened[1] + 1)
            return None
        folded = 0 if opened is None else opened[1]
        box = None if record.box is None else (record.box.x0, record.box.y0, record.box.x1, record.box.y1)
        alert = Alert(alert_id(entry.entry_id, record), entry.entry_id, record.camera_id, record.time_ms,
                      round(calibrated_score(vector, cosine, record.box is not None), 3), round(cosine, 4),
                      record.thumbnail_key,
                      record.segment_key, box, folded)
        stored = self._watch.put_alert(alert, self._settle_ms, self._clock)
        self._opened[key] = (record.time_ms, 0)
        logger.info("watch %s matched camera %s at %d (score %.2f)", entry.entry_id, record.camera_id,
                    record.time_ms, alert.score)
        return stored

    def _refresh_if_due(self) -> None:
        if time.monotonic() - self._refreshed < self._refresh_s:
            return
        self._refreshed = time.monotonic()
        try:
            self._reload()
        except Exception:  # the bucket is unreachable for now: keep matching what was loaded
            logger.exception("watchlists not refreshed; matching the %d entries loaded before",
                             len(self._active.entries))

    def _reload(self) -> None:
        token = self._watch.changed_token()  # before listing: a change after it is seen next time
        changed = token != self._token
        if changed:
            self._relist()
            self._token = token
        if time.monotonic() - self._cameras_read >= CAMERAS_REFRESH_S:
            self._read_cameras()
        now = self._clock()
        if changed or now >= self._rebuild_at_ms:  # entries expire on the clock
            self._active = self._arrays(now)
            self._rebuild_at_ms = min((e.expires_ms for e in self._active.entries
                                       if e.expires_ms is not None), default=2**63)

    def _read_cameras(self) -> None:
        try:
            self._groups = {c.camera_id: c.group for c in self._cameras.list()}
            self._cameras_read = time.monotonic()
        except Exception:  # the bucket is unreachable for now: keep the groups read before
            logger.exception("camera groups not re-read; using the %d read before", len(self._groups))

    def _relist(self) -> None:
        ids, vector_ids = self._watch.entry_ids(), self._watch.vector_ids(self._model_id)
        self._entries = {i: e for i, e in self._entries.items() if i in ids}
        for i in ids - self._entries.keys():
            if (entry := self._watch.entry(i)) is not None:
                self._entries[i] = entry
        self._vectors = {i: v for i, v in self._vectors.items() if i in vector_ids}
        for i in (vector_ids & ids) - self._vectors.keys():
            if (vector := self._watch.vector(self._model_id, i)) is not None:
                self._vectors[i] = vector

    def _arrays(self, now: int) -> _Active:
        usable = [(self._entries[i], v) for i, v in sorted(self._vectors.items()) if i in self._entries
                  and self._entries[i].active(now)
                  and max(v.background_size, v.region_size) >= MIN_BACKGROUND]
        if not usable:
            return _NONE
        entries, vectors = zip(*usable, strict=True)
        cosine_at = np.array([[centre + z_threshold(e.sensitivity) * scale
                               for e, v in usable for centre, scale in [_stats(v, region)]]
                              for region in (False, True)], np.float32)
        return _Active(entries, vectors, np.stack([v.vector for v in vectors]).astype(np.float32), cosine_at)
