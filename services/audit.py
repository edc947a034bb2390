"""The append-only audit trail in the bucket, hash-chained.

Every search, clip view, playlist, export and admin change becomes one record
with a sequence number and the hash of the previous record, so editing or
deleting any record breaks the chain; `verify` walks the chain and reports
the first broken link. Each node keeps its own chain (front ends sharing a bucket
would otherwise both write record 0), in `audit/{node}/{YYYY-MM-DD}/`:
`{seq:012d}.json` holds one record, `{first:012d}-{last:012d}.jsonl` a run of
consecutive records (one per line). `verify` checks every node's chain.

A record is appended to a local journal and flushed to disk (fdatasync,
≈ 0.1 ms) before `append` returns, so it survives a kill -9 of the server that
answered. A background thread ships records to the bucket in order, a run of
them per PUT at most every `SHIP_EVERY_S`; a starting node first ships what
its journal holds beyond the bucket's last record. A PUT per search on the
answer's path cost 3-5 ms of the ≈ 7 ms a cached search took end to end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)
SHIP_EVERY_S = 0.25  # records reach the bucket within about this (one PUT per run of records)
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
    """The node's audit chain: durable on local disk at `append`, in the bucket shortly after."""

    def __init__(self, store: ObjectStore, journal_dir: Path, node: str) -> None:
        if not node or not node.replace("-", "").isalnum():
            raise ValueError(f"audit node id must be letters, digits and dashes, got {node!r}")
        self._store, self._node, self._folder = store, node, f"{PREFIX}{node}/"
        journal_dir.mkdir(parents=True, exist_ok=True)
        path = journal_dir / "audit.journal"
        self._seq, self._prev = self._tail()
        unshipped = [r for r in _journal(path) if r["seq"] >= self._seq]  # acknowledged, not shipped
        if unshipped:
            self._put(unshipped)
            self._seq, self._prev = unshipped[-1]["seq"] + 1, unshipped[-1]["hash"]
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._urgent = self._closed = False
        self._shipper = threading.Thread(target=self._ship, name="audit-ship", daemon=True)
        self._shipper.start()

    def append(self, caller: str, action: str, details: dict[str, Any]) -> None:
        """Record it durably (local journal, flushed to disk); it reaches the bucket shortly."""
        with self._lock:
            body = {"seq": self._seq, "node": self._node, "time": datetime.now(UTC).isoformat(),
                    "caller": caller, "action": action, "details": details, "prev_hash": self._prev}
            record = {**body, "hash": _digest(body)}
            os.write(self._fd, _line(record))
            os.fdatasync(self._fd)
            self._pending.append(record)
            self._seq, self._prev = self._seq + 1, record["hash"]
            self._changed.notify_all()

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Ship now and wait until every record is in the bucket; False if that took too long."""
        with self._lock:
            self._urgent = True
            self._changed.notify_all()
            shipped = self._changed.wait_for(lambda: not self._pending, timeout_s)
            self._urgent = False
            return shipped

    def close(self, timeout_s: float = 10.0) -> None:
        """Ship what is pending (what is not stays in the journal for the next start), stop."""
        self.flush(timeout_s)
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self._shipper.join(timeout_s)
        os.close(self._fd)

    def verify(self) -> AuditCheck:
        """Every node's chain in the bucket (after shipping this node's pending records)."""
        self.flush()
        chains: dict[str, list[str]] = {}
        for obj in self._store.list(PREFIX):
            chains.setdefault(_node_of(obj.key), []).append(obj.key)
        total = 0
        for node in sorted(chains):
            check = _verify_chain(self._read(_in_chain_order(chains[node])), node)
            total += check.records
            if not check.ok:
                return AuditCheck(total, False, check.first_broken_seq, check.reason)
        return AuditCheck(total, True)

    def _ship(self) -> None:
        delay = 0.0
        while True:
            with self._lock:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                self._changed.wait_for(lambda: self._urgent or self._closed, SHIP_EVERY_S)
                run = list(self._pending)
            try:
                self._put(run)
            except Exception as exc:  # noqa: BLE001 - the bucket is away: the journal keeps them
                delay = min(5.0, max(0.1, 2 * delay))
                logger.warning("%d audit records not shipped yet (%s); retrying in %.1f s",
                               len(run), type(exc).__name__, delay)
                with self._lock:
                    self._changed.wait(delay)
                continue
            delay = 0.0
            with self._lock:
                for _ in run:
                    self._pending.popleft()
                if not self._pending:
                    os.ftruncate(self._fd, 0)  # all shipped (a crash before this: the start skips them)
                self._changed.notify_all()

    def _put(self, run: list[dict[str, Any]]) -> None:
        """One object for a run of consecutive records."""
        first, last = run[0], run[-1]
        folder = f"{self._folder}{first['time'][:10]}/"
        if len(run) == 1:
            data, key = json.dumps(first, ensure_ascii=False).encode(), f"{folder}{first['seq']:012d}.json"
        else:
            data = b"".join(_line(r) for r in run)
            key = f"{folder}{first['seq']:012d}-{last['seq']:012d}.jsonl"
        self._store.put_bytes(key, data, "application/json")

    def _objects(self) -> list[str]:
        """This node's object keys in chain order."""
        return _in_chain_order([o.key for o in self._store.list(self._folder)])

    def _records(self) -> list[dict[str, Any]]:
        """This node's records in order."""
        return self._read(self._objects())

    def _read(self, keys: list[str]) -> list[dict[str, Any]]:
        """The records of these objects, in the order given."""
        return [r for key in keys for r in _parse(self._store.get_bytes(key))]

    def _tail(self) -> tuple[int, str]:
        keys = self._objects()
        if not keys:
            return 0, GENESIS
        last = _parse(self._store.get_bytes(keys[-1]))[-1]
        return last["seq"] + 1, last["hash"]


def _node_of(key: str) -> str:
    """The node whose chain holds `key` ("" for a trail written before per-node chains)."""
    parts = key[len(PREFIX):].split("/")  # [node,] date, object
    return parts[0] if len(parts) == 3 else ""


def _in_chain_order(keys: list[str]) -> list[str]:
    """Object keys sorted by their first sequence number."""
    return sorted(keys, key=lambda k: k.rsplit("/", 1)[1].split(".")[0].split("-")[0])


def _verify_chain(records: list[dict[str, Any]], node: str) -> AuditCheck:
    prev, who = GENESIS, f"node {node}: " if node else ""
    for seq, record in enumerate(records):
        body = {k: v for k, v in record.items() if k != "hash"}
        if record.get("seq") != seq:
            return AuditCheck(seq, False, seq, f"{who}record {seq} is missing or out of order")
        if record.get("prev_hash") != prev:
            return AuditCheck(seq, False, seq, f"{who}record {seq} does not follow record {seq - 1}")
        if _digest(body) != record.get("hash"):
            return AuditCheck(seq, False, seq, f"{who}record {seq} was altered")
        prev = record["hash"]
    return AuditCheck(len(records), True)


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def _parse(data: bytes) -> list[dict[str, Any]]:
    """The records of one object (a JSON record, or JSON lines)."""
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _journal(path: Path) -> list[dict[str, Any]]:
    """The journal's records; a torn last line (a crash mid-write, never acknowledged) is skipped."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
