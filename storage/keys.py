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
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from urllib.parse import quote

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
    return f"{datetime.fromtimestamp(hour * 3600, tz=UTC):%Y/%m/%d/%H}"


def _hour_prefix(camera_id: str, time_ms: int) -> str:
    return f"{camera_id}/{_hour_path(time_ms // 3_600_000)}"


def segment_key(camera_id: str, start_ms: int, end_ms: int) -> str:
    return f"segments/{_hour_prefix(camera_id, start_ms)}/{start_ms}-{end_ms}.mp4"


def manifest_key(segment: str) -> str:
    return segment.removesuffix(".mp4") + ".json"


def thumbnail_key(camera_id: str, time_ms: int) -> str:
    return f"thumbnails/{_hour_prefix(camera_id, time_ms)}/{time_ms}.jpg"


def index_log_key(model_id: str, batch_id: str) -> str:
    return f"index/{model_id}/log/{batch_id}.npz"


def index_prefix(model_id: str) -> str:
    return f"index/{model_id}/"


ACTIVE_INDEX_KEY = "index/active.json"
TOMBSTONE_SET = "set-"


def index_log_prefix(model_id: str) -> str:
    return f"index/{model_id}/log/"


def index_tombstone_prefix(model_id: str) -> str:
    return f"index/{model_id}/tombstones/"


def index_tombstone_set_key(model_id: str, digest: str) -> str:
    return f"{index_tombstone_prefix(model_id)}{TOMBSTONE_SET}{digest}.json"


def index_snapshot_prefix(model_id: str, day: int | None = None) -> str:
    base = f"index/{model_id}/snapshots/"
    return base if day is None else f"{base}{day:06d}/"


def index_snapshot_key(model_id: str, day: int, group: str, frames: int, digest: str) -> str:
    """A snapshot run: one shard's (camera group × UTC day) frames; named by content, so idempotent."""
    return f"{index_snapshot_prefix(model_id, day)}g-{quote(group, safe='')}/{frames:09d}-{digest}.npz"


def job_key(job_id: str) -> str:
    return f"jobs/{job_id}.json"

