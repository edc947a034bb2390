"""The bucket's key layout. Time is UTC, partitioned by camera and hour, so a
(camera, time range) lookup is a prefix listing.

    segments/{camera}/{YYYY}/{MM}/{DD}/{HH}/{start_ms}-{end_ms}.mp4
    segments/…/{start_ms}-{end_ms}.json        manifest, written after the segment
    thumbnails/{camera}/{YYYY}/{MM}/{DD}/{HH}/{time_ms}.jpg
    index/active.json                          the index version nodes serve (model id and spec)
    index/{model_id}/snapshots/{day}/g-{group}/{frames}-{digest}.npz   a run of one shard's frames
    index/{model_id}/log/{batch}-{unique}.npz  vectors added since, one object per batch
    index/{model_id}/tombstones/{unique}.json  deletions not yet compacted
    index/{model_id}/tombstones/set-{digest}.json   compacted deletions (kept)
    jobs/{job_id}.json
    cameras/{camera_id}.json                   the camera registry
    holds/{hold_id}.json                       legal holds (retention keeps what they cover)
    exports/{export_id}/{camera_id}.mp4        an evidence export, its manifest beside it (.json)
    auth/tokens/{token_hash}.json              API tokens, by SHA-256 of the token
    audit/{node}/{YYYY-MM-DD}/{seq}.json       the audit trail (also {first}-{last}.jsonl runs)
    watch/entries/{entry_id}.json              watchlist entries (text or photo, scope, expiry)
    watch/entries/{entry_id}.image             a photo entry's image
    watch/webhook-cursor.json                  the last alert handed to webhook delivery
    watch/changed.json                         a token rewritten whenever entries or vectors change
    watch/vectors/{model_id}/{entry_id}.json   an entry's query vector and background calibration
    watch/alerts/{YYYY}/{MM}/{DD}/{HH}/{written_ms}-{unique}.json   alerts, by the time written

Every key and prefix is built here; other modules import these functions and constants.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from urllib.parse import quote

from storage.timeutil import HOUR_MS, HOUR_S

# Patterns are used with `fullmatch` only: `re.match(r"…$")` accepts a trailing newline.
CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ALL_GROUPS = "*"  # as a token's only group: every camera
JOB_ID = re.compile(r"[0-9a-f]{32}")
TOKEN_HASH = re.compile(r"[0-9a-f]{64}")
MAX_TOKEN_GROUPS = 256


def validate_camera_id(camera_id: str) -> str:
    """Camera ids become key components: letters, digits, '_', '.', '-', at most 64."""
    if not CAMERA_ID.fullmatch(camera_id) or ".." in camera_id:
        raise ValueError(
            f"camera id {camera_id[:80]!r} is invalid: use 1-64 letters, digits, '_', '.' or '-'")
    return camera_id


def validate_group(group: str, wildcard: bool = False) -> str:
    """A camera group (ward, district, owner system), as cameras and tokens name it.

    1-64 letters, digits, '_', '.' or '-', starting with a letter or digit. `wildcard` admits
    '*' (every camera), which only a token's group list may hold, and only alone
    (`validate_groups`).
    """
    if wildcard and group == ALL_GROUPS:
        return group
    if not GROUP.fullmatch(group):
        raise ValueError(f"group {group[:80]!r} is invalid: use 1-64 letters, digits, '_', '.' or '-'"
                         + (", or '*' alone for every camera" if wildcard else ""))
    return group


def validate_groups(groups: list[str]) -> tuple[str, ...]:
    """A token's groups: at least one, each valid, '*' only alone; sorted and deduplicated."""
    unique = sorted({validate_group(g, wildcard=True) for g in groups})
    if not unique:
        raise ValueError("at least one group is needed ('*' for every camera)")
    if len(unique) > MAX_TOKEN_GROUPS:
        raise ValueError(f"{len(unique)} groups is more than the {MAX_TOKEN_GROUPS} a token may hold")
    if ALL_GROUPS in unique and len(unique) > 1:
        raise ValueError("'*' already means every camera: give it alone, without other groups")
    return tuple(unique)


@functools.lru_cache(maxsize=8192)
def _hour_path(hour: int) -> str:
    """'YYYY/MM/DD/HH' of the hour `hour` hours after the epoch (a search derives ~100 keys)."""
    return f"{datetime.fromtimestamp(hour * HOUR_S, tz=UTC):%Y/%m/%d/%H}"


def _hour_prefix(camera_id: str, time_ms: int) -> str:
    return f"{camera_id}/{_hour_path(time_ms // HOUR_MS)}"


SEGMENTS_PREFIX = "segments/"
THUMBNAILS_PREFIX = "thumbnails/"
JOBS_PREFIX = "jobs/"
CAMERAS_PREFIX = "cameras/"
CAMERA_VIEWS_PREFIX = "views/"
HOLDS_PREFIX = "holds/"
EXPORTS_PREFIX = "exports/"
TOKENS_PREFIX = "auth/tokens/"
AUDIT_PREFIX = "audit/"
INDEX_PREFIX = "index/"
WATCH_ENTRIES_PREFIX = "watch/entries/"
WATCH_VECTORS_PREFIX = "watch/vectors/"
WATCH_ALERTS_PREFIX = "watch/alerts/"


def segment_key(camera_id: str, start_ms: int, end_ms: int) -> str:
    return f"{SEGMENTS_PREFIX}{_hour_prefix(camera_id, start_ms)}/{start_ms}-{end_ms}.mp4"


def segment_hour_prefix(camera_id: str, time_ms: int) -> str:
    """The folder of a camera's segments in the UTC hour holding `time_ms`."""
    return f"{SEGMENTS_PREFIX}{_hour_prefix(camera_id, time_ms)}/"


def camera_segments_prefix(camera_id: str) -> str:
    """Every segment (and manifest) of one camera."""
    return f"{SEGMENTS_PREFIX}{camera_id}/"


def is_segment_key(key: str) -> bool:
    """`key` has the shape of a segment's key (`segments/…/….mp4`, no '..'); it may not exist."""
    return key.startswith(SEGMENTS_PREFIX) and key.endswith(".mp4") and ".." not in key


def manifest_key(segment: str) -> str:
    return segment.removesuffix(".mp4") + ".json"


def thumbnail_key(camera_id: str, time_ms: int) -> str:
    return f"{thumbnail_hour_prefix(camera_id, time_ms)}{time_ms}.jpg"


def thumbnail_hour_prefix(camera_id: str, time_ms: int) -> str:
    """The folder of a camera's thumbnails in the UTC hour holding `time_ms`."""
    return f"{THUMBNAILS_PREFIX}{_hour_prefix(camera_id, time_ms)}/"


def index_log_key(model_id: str, batch_id: str) -> str:
    return f"{index_log_prefix(model_id)}{batch_id}.npz"


def index_prefix(model_id: str) -> str:
    return f"{INDEX_PREFIX}{model_id}/"


ACTIVE_INDEX_KEY = f"{INDEX_PREFIX}active.json"
TOMBSTONE_SET = "set-"


def index_log_prefix(model_id: str) -> str:
    return f"{index_prefix(model_id)}log/"


def index_tombstone_prefix(model_id: str) -> str:
    return f"{index_prefix(model_id)}tombstones/"


def index_tombstone_set_key(model_id: str, digest: str) -> str:
    return f"{index_tombstone_prefix(model_id)}{TOMBSTONE_SET}{digest}.json"


def index_snapshot_prefix(model_id: str, day: int | None = None) -> str:
    base = f"{index_prefix(model_id)}snapshots/"
    return base if day is None else f"{base}{day:06d}/"


def index_snapshot_key(model_id: str, day: int, group: str, frames: int, digest: str) -> str:
    """A snapshot run: one shard's (camera group × UTC day) frames; named by content, so idempotent."""
    return f"{index_snapshot_prefix(model_id, day)}g-{quote(group, safe='')}/{frames:09d}-{digest}.npz"


def index_trained_key(model_id: str, day: int, group: str, name: str) -> str:
    """A shard's trained IVF index (centroids and codebooks, no vectors), by tier and list count:
    a cache that spares a restarted node the training (`indexing.trained_cache`)."""
    return f"{index_prefix(model_id)}trained/{day:06d}/g-{quote(group, safe='')}/{name}.faiss"


def job_key(job_id: str) -> str:
    return f"{JOBS_PREFIX}{job_id}.json"


def camera_key(camera_id: str) -> str:
    return f"{CAMERAS_PREFIX}{validate_camera_id(camera_id)}.json"


def camera_view_key(camera_id: str) -> str:
    """What ingest has learned of the camera's view (`storage.camera_views`)."""
    return f"{CAMERA_VIEWS_PREFIX}{validate_camera_id(camera_id)}.json"


def watch_entry_key(entry_id: str) -> str:
    return f"{WATCH_ENTRIES_PREFIX}{entry_id}.json"


def watch_vectors_prefix(model_id: str) -> str:
    return f"{WATCH_VECTORS_PREFIX}{model_id}/"


def watch_vector_key(model_id: str, entry_id: str) -> str:
    return f"{watch_vectors_prefix(model_id)}{entry_id}.json"


def watch_photo_key(entry_id: str) -> str:
    """A photo entry's image, kept to embed it again for another model."""
    return f"{WATCH_ENTRIES_PREFIX}{entry_id}.image"


WATCH_WEBHOOK_CURSOR_KEY = "watch/webhook-cursor.json"  # the last alert handed to webhook delivery
WATCH_CHANGED_KEY = "watch/changed.json"  # rewritten on every entry change: matchers relist then


def watch_alert_hour_prefix(written_ms: int) -> str:
    return f"{WATCH_ALERTS_PREFIX}{_hour_path(written_ms // HOUR_MS)}/"


def watch_alert_key(written_ms: int, unique: str) -> str:
    """Alerts sort by the time they were written (13 digits: ordered as text too)."""
    return f"{watch_alert_hour_prefix(written_ms)}{written_ms:013d}-{unique}.json"


def hold_key(hold_id: str) -> str:
    return f"{HOLDS_PREFIX}{hold_id}.json"


def export_key(export_id: str, camera_id: str) -> str:
    return f"{EXPORTS_PREFIX}{export_id}/{camera_id}.mp4"


def export_id_of(key: str) -> str:
    """The export a key under `exports/` belongs to."""
    return key.removeprefix(EXPORTS_PREFIX).split("/", 1)[0]


_MEDIA_KEY = re.compile(r"(?:segments/(?P<seg>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d+-\d+\.mp4"
                        r"|thumbnails/(?P<thumb>[^/]+)/\d{4}/\d{2}/\d{2}/\d{2}/\d+\.jpg"
                        r"|exports/[0-9A-Za-z_-]{1,64}/(?P<export>[^/]+)\.(?:mp4|json))")


def media_camera(key: str) -> str | None:
    """The camera whose footage `key` is (a segment, a thumbnail, an export's MP4 or manifest);
    None for any other key, or one whose camera part is not a valid camera id."""
    m = _MEDIA_KEY.fullmatch(key)
    camera = m and (m.group("seg") or m.group("thumb") or m.group("export"))
    return camera if camera and CAMERA_ID.fullmatch(camera) and ".." not in camera else None


def token_key(token_hash: str) -> str:
    return f"{TOKENS_PREFIX}{token_hash}.json"


def audit_node_prefix(node: str) -> str:
    """One node's audit chain."""
    return f"{AUDIT_PREFIX}{node}/"

