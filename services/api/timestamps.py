"""protobuf Timestamp <-> integer milliseconds (no heavy imports: the CLI client uses it)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp


def ts_from_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def ms_from_ts(ts: Timestamp) -> int:
    return ts.ToMilliseconds()
