"""Wall-clock times as integer milliseconds since the epoch (UTC), and the units of time, once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

SECOND_MS = 1000
MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S
MINUTE_MS = MINUTE_S * SECOND_MS
HOUR_MS = HOUR_S * SECOND_MS
DAY_MS = DAY_S * SECOND_MS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"time {t.isoformat()} has no timezone; give UTC or an offset")
    return round(t.timestamp() * SECOND_MS)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)
