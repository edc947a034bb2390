"""The append-only audit trail in the bucket, hash-chained.

Every search, clip view, playlist, export and admin change becomes one record
at `audit/{YYYY-MM-DD}/{seq:012d}.json`. Each record carries the hash of the
previous one, so editing or deleting any record breaks the chain;
`verify` walks the chain and reports the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.object_store import ObjectStore

GENESIS = "0" * 64
PREFIX = "audit/"


@dataclass(frozen=True)
class AuditCheck:
    records: int
    ok: bool
    first_broken_seq: int | None = None
    reason: str = ""


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class AuditLog:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._seq, self._prev = self._tail()

    def append(self, caller: str, action: str, details: dict[str, Any]) -> None:
        with self._lock:
            now = datetime.now(UTC)
            body = {"seq": self._seq, "time": now.isoformat(), "caller": caller, "action": action,
                    "details": details, "prev_hash": self._prev}
            record = {**body, "hash": _digest(body)}
            key = f"{PREFIX}{now:%Y-%m-%d}/{self._seq:012d}.json"
            self._store.put_bytes(key, json.dumps(record, ensure_ascii=False).encode(), "application/json")
            self._seq, self._prev = self._seq + 1, record["hash"]

    def verify(self) -> AuditCheck:
        prev, count = GENESIS, 0
        for seq, record in enumerate(self._records()):
            body = {k: v for k, v in record.items() if k != "hash"}
            if record.get("seq") != seq:
                return AuditCheck(count, False, seq, f"record {seq} is missing or out of order")
            if record.get("prev_hash") != prev:
                return AuditCheck(count, False, seq, f"record {seq} does not follow record {seq - 1}")
            if _digest(body) != record.get("hash"):
                return AuditCheck(count, False, seq, f"record {seq} was altered")
            prev, count = record["hash"], count + 1
        return AuditCheck(count, True)

    def _records(self) -> list[dict[str, Any]]:
        objs = sorted(self._store.list(PREFIX), key=lambda o: o.key.rsplit("/", 1)[1])
        return [json.loads(self._store.get_bytes(o.key)) for o in objs]

    def _tail(self) -> tuple[int, str]:
        objs = sorted(self._store.list(PREFIX), key=lambda o: o.key.rsplit("/", 1)[1])
        if not objs:
            return 0, GENESIS
        last = json.loads(self._store.get_bytes(objs[-1].key))
        return last["seq"] + 1, last["hash"]
