"""The bucket's key layout. Time is UTC, partitioned by camera and hour, so a
(camera, time range) lookup is a prefix listing.

    segments/{camera}/{YYYY}/{MM}/{DD}/{HH}/{start_ms}-{end_ms}.mp4
    segments/…/{start_ms}-{end_ms}.json        manifest, written after the segment
    thumbnails/{camera}/{YYYY}/{MM}/{DD}/{HH}/{time_ms}.jpg
    index/{model_id}/log/{batch}.npz           vectors added, one object per batch
    jobs/{job_id}.json
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_camera_id(camera_id: str) -> str:
    """Camera ids become key components: letters, digits, '_', '.', '-', at most 64."""
    if not CAMERA_ID.match(camera_id) or ".." in camera_id:
        raise ValueError(
            f"camera id {camera_id[:80]!r} is invalid: use 1-64 letters, digits, '_', '.' or '-'")
    return camera_id


def _hour_prefix(camera_id: str, time_ms: int) -> str:
    t = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
    return f"{camera_id}/{t:%Y/%m/%d/%H}"


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


def job_key(job_id: str) -> str:
    return f"jobs/{job_id}.json"
