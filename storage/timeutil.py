"""Wall-clock times as integer milliseconds since the epoch (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"time {t.isoformat()} has no timezone; give UTC or an offset")
    return round(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)
