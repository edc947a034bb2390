"""The append-only audit trail in the bucket: an HMAC chain per node, anchored on the node.

Every RPC (see `services.api.access`) and every system event (a scheduled
retention sweep, ...) becomes one record with a sequence number and the MAC of
the previous record. The MAC is HMAC-SHA256 under a key that is not in the
bucket (setting `audit.key`, shared by front ends that share a trail, or else
`{data_dir}/audit-key`, generated on the first start, mode 600), so whoever can
write the bucket can delete or edit records but cannot re-chain them. Each node
keeps its own chain (front ends sharing a bucket would otherwise both write
record 0), in `audit/{node}/{YYYY-MM-DD}/`: `{seq:012d}.json` holds one record,
`{first:012d}-{last:012d}.jsonl` a run of consecutive records (one per line).

The chain's head (node, seq, hash, time) is anchored outside the bucket, in
`{data_dir}/audit-anchor.json` (mode 600, replaced atomically and flushed),
after every run of records reaches the bucket; `head()` returns it for
external notarisation. `verify` checks every node's chain it holds the key of,
and this node's chain against its anchor (and a notarised head when given): a
rewritten record, a deleted one and a truncated tail are all reported.
Records written before keyed chains (no `key_id`) are checked with the plain
SHA-256 of earlier versions, and only before a chain's first keyed record:
that record's MAC covers their last hash, so they cannot be rewritten either,
while an unkeyed record after a keyed one is reported as a rewrite.

A record is appended to a local journal and flushed to disk (fdatasync,
≈ 0.1 ms) before `append` returns, so it survives a kill -9 of the server that
answered. A background thread ships records to the bucket in order, a run of
them per PUT at most every `SHIP_EVERY_S`; a starting node first ships what
its journal holds beyond the bucket's last record, and continues after its
anchor if the bucket's chain ends before it (the gap stays visible to verify).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from storage.keys import AUDIT_PREFIX, audit_node_prefix
from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)
SHIP_EVERY_S = 0.25  # records reach the bucket within about this (one PUT per run of records)
GENESIS = "0" * 64
KEY_FILE = "audit-key"
ANCHOR_FILE = "audit-anchor.json"
MIN_KEY_CHARS = 32


@dataclass(frozen=True)
class AuditHead:
    """The last record of a node's chain: what `vigil audit head` prints for notarisation."""
    node: str
    seq: int
    hash: str
    time: str


@dataclass(frozen=True)
class RpcCall:
    """The RPC a record is about: method, gRPC status name, token id, caller's role, peer, ids."""
    rpc: str
    outcome: str
    token_id: str  # the token's SHA-256 (`vigil token revoke` takes it); "none" or "unknown"
    role: str
    peer: str
    request: dict[str, Any]  # identifiers the request named (camera_id, job_id, ...), never secrets


@dataclass(frozen=True)
class AuditCheck:
    records: int
    ok: bool
    first_broken_seq: int | None = None
    reason: str = ""
    unverified_nodes: tuple[str, ...] = ()  # chains keyed with a key this node does not hold
    unkeyed_nodes: tuple[str, ...] = ()  # chains with no keyed record: plain SHA-256, forgeable
    head: AuditHead | None = None  # this node's anchored head, as checked


def load_key(path: Path, configured: str | None = None) -> bytes:
    """The HMAC key: `configured` (setting audit.key) or the key file, created on first use (600)."""
    if configured is not None:
        if len(configured) < MIN_KEY_CHARS:
            raise ValueError(f"audit.key has {len(configured)} characters; use at least "
                             f"{MIN_KEY_CHARS} random ones (e.g. `openssl rand -hex 32`)")
        return configured.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
    key = path.read_text().strip()
    if len(key) < MIN_KEY_CHARS:
        raise ValueError(f"{path} holds no audit key ({len(key)} characters); restore it from a "
                         "backup, or remove it to start a new key (earlier records stay unverifiable)")
    return key.encode()


def key_id(key: bytes) -> str:
    """A public name of the key (not the key): which key a record was chained with."""
    return hmac.new(key, b"vigil audit key id", hashlib.sha256).hexdigest()[:16]


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False).encode()


def _digest(body: dict[str, Any], key: bytes | None = None) -> str:
    """HMAC-SHA256 of a keyed record; the plain SHA-256 of an unkeyed one (earlier versions)."""
    if key is None:
        return hashlib.sha256(_canonical(body)).hexdigest()
    return hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()


class AuditLog:
    """The node's audit chain: durable on local disk at `append`, in the bucket shortly after."""

    def __init__(self, store: ObjectStore, journal_dir: Path, node: str, *, key: bytes | None = None,
                 anchor: Path | None = None, lock_days: int = 0) -> None:
        """`key` defaults to the key file in `journal_dir`, `anchor` to the anchor file there;
        `lock_days` > 0 puts objects under that many days of S3 Object Lock where the bucket has it."""
        if not node or not node.replace("-", "").isalnum():
            raise ValueError(f"audit node id must be letters, digits and dashes, got {node!r}")
        self._store, self._node, self._folder = store, node, audit_node_prefix(node)
        journal_dir.mkdir(parents=True, exist_ok=True)
        self._key = key if key is not None else load_key(journal_dir / KEY_FILE)
        self._key_id = key_id(self._key)
        self._anchor = anchor if anchor is not None else journal_dir / ANCHOR_FILE
        self._lock_days = lock_days if lock_days > 0 and _lockable(store) else 0
        path = journal_dir / "audit.journal"
        self._seq, self._prev = self._tail()
        unshipped = [r for r in _journal(path) if r["seq"] >= self._seq]  # acknowledged, not shipped
        if unshipped:
            self._put(unshipped)
            self._seq, self._prev = unshipped[-1]["seq"] + 1, unshipped[-1]["hash"]
            self._write_anchor(unshipped[-1])
        self._resume_after_anchor()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._urgent = self._closed = False
        self._shipper = threading.Thread(target=self._ship, name="audit-ship", daemon=True)
        self._shipper.start()

    def append(self, caller: str, action: str, details: dict[str, Any], *,
               call: RpcCall | None = None) -> None:
        """Record it durably (local journal, flushed to disk); it reaches the bucket shortly.

        `caller` is who acted ("system:retention" for the node itself); `call` the RPC, if any.
        """
        with self._lock:
            body = {"seq": self._seq, "node": self._node, "time": datetime.now(UTC).isoformat(),
                    "caller": caller, "action": action, "details": details,
                    **(asdict(call) if call is not None else {}),
                    "key_id": self._key_id, "prev_hash": self._prev}
            record = {**body, "hash": _digest(body, self._key)}
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

    def head(self) -> AuditHead | None:
        """This node's anchored chain head (after shipping what is pending); None before any record."""
        self.flush()
        return _read_anchor(self._anchor, self._node)

    def verify(self, notarised: tuple[int, str] | None = None) -> AuditCheck:
        """Every node's chain in the bucket (after shipping this node's pending records).

        This node's chain must also reach its anchor, and hold `notarised` (seq, hash) if given.
        Chains keyed with another key (another node's own key file) are listed, not checked;
        chains with no keyed record (earlier versions, or forged) are checked and listed.
        """
        self.flush()
        chains: dict[str, list[str]] = {self._node: []}
        for obj in self._store.list(AUDIT_PREFIX):
            chains.setdefault(_node_of(obj.key), []).append(obj.key)
        anchored = _read_anchor(self._anchor, self._node)
        total, unverified, unkeyed = 0, [], []
        for node in sorted(chains):
            records = self._read(_in_chain_order(chains[node]))
            own = node == self._node
            check = _verify_chain(records, node, self._key, self._key_id, own)
            if check is None:
                unverified.append(node)
                continue
            if records and not any("key_id" in r for r in records):
                unkeyed.append(node)
            if check.ok and own:
                check = _check_heads(records, node, anchored, notarised)
            total += check.records
            if not check.ok:
                return AuditCheck(total, False, check.first_broken_seq, check.reason,
                                  tuple(unverified), tuple(unkeyed), anchored)
        return AuditCheck(total, True, unverified_nodes=tuple(unverified), unkeyed_nodes=tuple(unkeyed),
                          head=anchored)

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
            self._write_anchor(run[-1])  # before the journal lets go of them
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
        if self._lock_days:
            until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=self._lock_days)
            cast(RetainingStore, self._store).put_bytes_retained(key, data, "application/json", until)
        else:
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

    def _resume_after_anchor(self) -> None:
        """If the bucket's chain ends before the anchor, records were deleted: go on after the anchor."""
        anchored = _read_anchor(self._anchor, self._node)
        if anchored is not None and anchored.seq >= self._seq:
            logger.error("the audit trail in the bucket ends before record %d, but this node anchored "
                         "record %d: records were deleted from the bucket; continuing after the anchor "
                         "(`vigil audit verify` reports the gap)", self._seq, anchored.seq)
            self._seq, self._prev = anchored.seq + 1, anchored.hash

    def _write_anchor(self, record: dict[str, Any]) -> None:
        """Replace the anchor file atomically and durably (only the shipper and the start write it)."""
        head = {"node": self._node, "seq": record["seq"], "hash": record["hash"], "time": record["time"]}
        tmp = self._anchor.with_name(self._anchor.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(head).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._anchor)
        folder = os.open(self._anchor.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@runtime_checkable
class RetainingStore(Protocol):
    """A store that can put objects under S3 Object Lock retention (`storage.s3`)."""

    def object_lock_enabled(self) -> bool: ...

    def put_bytes_retained(self, key: str, data: bytes, content_type: str, until: datetime) -> None: ...


def _lockable(store: ObjectStore) -> bool:
    """Whether audit objects can be locked: the bucket was created with Object Lock."""
    if not isinstance(store, RetainingStore) or not store.object_lock_enabled():
        logger.info("the bucket has no S3 Object Lock: audit objects are not locked "
                    "(the keyed chain and the anchor still show any change)")
        return False
    logger.info("audit objects are put under S3 Object Lock (COMPLIANCE retention)")
    return True


def _node_of(key: str) -> str:
    """The node whose chain holds `key` ("" for a trail written before per-node chains)."""
    parts = key[len(AUDIT_PREFIX):].split("/")  # [node,] date, object
    return parts[0] if len(parts) == 3 else ""


def _in_chain_order(keys: list[str]) -> list[str]:
    """Object keys sorted by their first sequence number."""
    return sorted(keys, key=lambda k: k.rsplit("/", 1)[1].split(".")[0].split("-")[0])


def _verify_chain(records: list[dict[str, Any]], node: str, key: bytes, kid: str,
                  own: bool) -> AuditCheck | None:
    """Check one chain; None when it is keyed with another key and is not this node's."""
    if not own and not any(r.get("key_id") == kid for r in records) and any("key_id" in r for r in records):
        return None
    prev, who, keyed = GENESIS, f"node {node}: " if node else "", False
    for seq, record in enumerate(records):
        body = {k: v for k, v in record.items() if k != "hash"}
        if record.get("seq") != seq:
            return AuditCheck(seq, False, seq, f"{who}record {seq} is missing or out of order")
        if record.get("prev_hash") != prev:
            return AuditCheck(seq, False, seq, f"{who}record {seq} does not follow record {seq - 1}")
        if "key_id" in record:
            keyed = True
            if record["key_id"] != kid:
                return AuditCheck(seq, False, seq, f"{who}record {seq} is keyed with another key "
                                  "(rewritten, or audit.key was changed)")
        elif keyed:
            return AuditCheck(seq, False, seq, f"{who}record {seq} is unkeyed after keyed records "
                              "(rewritten without the key)")
        if _digest(body, key if "key_id" in record else None) != record.get("hash"):
            return AuditCheck(seq, False, seq, f"{who}record {seq} was altered")
        prev = record["hash"]
    return AuditCheck(len(records), True)


def _check_heads(records: list[dict[str, Any]], node: str, anchored: AuditHead | None,
                 notarised: tuple[int, str] | None) -> AuditCheck:
    """This node's (verified) chain must reach its anchor and a notarised head, with their hashes."""
    anchor = None if anchored is None else (anchored.seq, anchored.hash)
    for name, head in (("anchored", anchor), ("notarised", notarised)):
        if head is None:
            continue
        seq, digest = head
        if seq >= len(records):
            return AuditCheck(len(records), False, len(records),
                              f"node {node}: the chain ends at record {len(records) - 1} but the "
                              f"{name} head is record {seq}: records were deleted from the bucket")
        if records[seq]["hash"] != digest:
            return AuditCheck(seq, False, seq, f"node {node}: record {seq} is not the {name} head "
                              "(the chain was rewritten)")
    return AuditCheck(len(records), True)


def _read_anchor(path: Path, node: str) -> AuditHead | None:
    """The anchored head of `node`'s chain; None when there is none (or it belongs to another node)."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if raw.get("node") != node:
        logger.warning("%s anchors node %s, not this node (%s): ignored", path, raw.get("node"), node)
        return None
    return AuditHead(raw["node"], int(raw["seq"]), raw["hash"], raw["time"])


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
