"""Shard servers: each holds the in-memory indexes of the shards (camera group × UTC day) it is
assigned, loaded from the bucket, and searches only the shards a router names.

A `ShardServer` is plain Python; Ray runs it as an actor, one per node
(`services.cluster.ray_cluster`), `LocalShardServers` as objects in this process. Which server
holds which shard is `placement`: rendezvous hashing of the shard over the live servers with
bounded loads, `replicas` of them per shard, so a join or a leave moves mostly the shards of
that server and every router computes the same assignment from the same membership.

A server answers for a shard only when it holds it whole: loaded from the bucket (snapshot runs,
log batches, then tombstones: `indexing.stored_index.IndexLog`) and kept up to date from its
writer's feed (`apply`). A search names its shards; those the server does not hold (a restarted
server, an assignment not yet loaded) come back in `ServerAnswer.missing` for the router to ask
a replica, so a server never answers for a shard with part of it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from indexing.frame_columns import Box, FrameKey
from indexing.index_codec import FrameBatch, decode_batch
from indexing.index_snapshots import Run
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameHit, FrameIndex, FrameRecord, SearchFilter, one_group
from services.cluster.index_writers import Feed, FeedBatch, FeedPosition, writer_prefix
from services.cluster.interface import ActorUnavailableError
from storage import keys as stored_keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

SERVER_PREFIX = "vigil-shard-server"
FeedOf = Callable[[ShardKey], Feed | None]


def server_name(model_id: str, node_id: str) -> str:
    return f"{SERVER_PREFIX}-{model_id}-{node_id}"


def ranked(key: ShardKey, servers: Iterable[str]) -> list[str]:
    """Every server by its rendezvous weight for `key`, highest first (the same in every process,
    whatever the servers' order)."""
    def weight(server: str) -> bytes:
        return hashlib.blake2b(f"{key.group}\x00{key.day}\x00{server}".encode(), digest_size=8).digest()
    return sorted(set(servers), key=weight, reverse=True)


def placement(keys: Iterable[ShardKey], servers: Iterable[str], replicas: int) -> dict[ShardKey, list[str]]:
    """Shard → the servers holding it, preferred first: rendezvous hashing with bounded loads.

    Each shard, in (group, day) order, goes to the `replicas` highest-weighted servers that hold
    fewer than ⌈shards × replicas / servers⌉ shards, so no server holds more than its share
    (plain rendezvous hashing put 4 of 8 day shards on one of 4 servers) and two replicas of a
    shard are never on one server. A server is passed over only when taking it would leave the
    shards still to place unable to get their replicas under that cap (`_completable`), so every
    shard gets exactly min(`replicas`, servers) of them. Deterministic in the sets of shards and
    servers; a join or a leave moves mostly the shards of the server that came or went.
    """
    members = sorted(set(servers))
    shards = sorted(set(keys))
    if not members:
        return {k: [] for k in shards}
    r = min(max(replicas, 1), len(members))
    cap = -(-len(shards) * r // len(members))
    load = dict.fromkeys(members, 0)
    out: dict[ShardKey, list[str]] = {}
    for left, key in zip(range(len(shards), 0, -1), shards, strict=True):
        room = {s: cap - load[s] for s in members}
        chosen: list[str] = []
        for server in ranked(key, members):
            if len(chosen) == r:
                break
            if room[server] > 0 and _completable(room, left, r, [*chosen, server]):
                chosen.append(server)
        for server in chosen:
            load[server] += 1
        out[key] = chosen
    return out


def _completable(room: dict[str, int], left: int, r: int, chosen: Sequence[str]) -> bool:
    """Whether `left` shards (this one included, `chosen` picked for it so far) can each still get
    `r` distinct servers, server s taking at most `room[s]` more.

    Such shards fit iff Σ min(room, left) ≥ left × r (lay each server's slots end to end and deal
    them to the shards in turn: no server has more than `left` of them, so none gets a shard twice).
    Finishing this shard with a set C leaves Σ min(room, left) − left × r less the number of
    servers outside C with room ≥ `left`; the best completion of `chosen` takes as many of those
    as it can."""
    slack = sum(min(n, left) for n in room.values()) - left * r
    full = [s for s, n in room.items() if n >= left and s not in chosen]
    return max(0, len(full) - (r - len(chosen))) <= slack


def assignment(keys: Iterable[ShardKey], servers: Iterable[str], replicas: int) -> dict[str, set[ShardKey]]:
    """Server → the shards it holds (`placement`), for every server (those holding none included)."""
    held: dict[str, set[ShardKey]] = {s: set() for s in set(servers)}
    for key, holders in placement(keys, servers, replicas).items():
        for server in holders:
            held[server].add(key)
    return held


@dataclass(frozen=True)
class ServerAnswer:
    """A server's best hits over the shards it was asked for and holds, and those it does not hold."""

    hits: list[FrameHit]
    missing: list[ShardKey]


@dataclass(frozen=True)
class Looked:
    """A stored vector looked up on a server: `held` False when it does not hold the shard."""

    held: bool
    vector: np.ndarray | None


@dataclass(frozen=True)
class ServerStats:
    shards: dict[ShardKey, int]  # each shard held → its frames
    ram_bytes: int  # FAISS indexes and record columns of every shard held
    disk_bytes: int

    @property
    def frames(self) -> int:
        return sum(self.shards.values())


class ServerHandle(Protocol):
    """A router's side of one shard server (`ShardServer`'s calls; a dead one raises
    `ActorUnavailableError`)."""

    def assign(self, keys: Sequence[ShardKey]) -> list[ShardKey]: ...

    def held(self) -> list[ShardKey]: ...

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter,
               keys: Sequence[ShardKey]) -> ServerAnswer: ...

    def vector(self, key: ShardKey, camera_id: str, time_ms: int, box: Box | None) -> Looked: ...

    def sample(self, n: int, seed: int, regions: bool | None, keys: Sequence[ShardKey]) -> np.ndarray: ...

    def indexed(self, key: ShardKey, frames: Sequence[FrameKey]) -> list[bool] | None: ...

    def add(self, key: ShardKey, records: Sequence[FrameRecord], vectors: np.ndarray) -> int | None: ...

    def delete_range(self, key: ShardKey, camera_id: str, start_ms: int, end_ms: int) -> int | None: ...

    def records(self, key: ShardKey) -> list[FrameRecord] | None: ...

    def stats(self) -> ServerStats: ...

    def poll(self) -> int: ...


class ServerSet(Protocol):
    """The shard servers of one index version, one per live node."""

    def members(self) -> dict[str, ServerHandle]: ...

    def written(self) -> list[ShardKey]:
        """The shards that have a writer (written to since the cluster started)."""
        ...


def written_shard(model_id: str, writer: str) -> ShardKey | None:
    """The shard of a writer named by `index_writers.writer_name`; None for another version's."""
    prefix = writer_prefix(model_id)
    if not writer.startswith(prefix):
        return None
    day, _, group = writer[len(prefix):].partition("-")
    return ShardKey(group, int(day))


def stored_shards(store: ObjectStore, model_id: str,
                  group_of: Callable[[str], str] = one_group) -> set[ShardKey]:
    """Every shard the version's bucket holds frames of: the snapshot runs' keys name theirs
    (nothing read), the log batches not yet compacted are read."""
    snapshots = stored_keys.index_snapshot_prefix(model_id)
    return ({Run.parse(o.key, snapshots).shard for o in store.list(snapshots)}
            | {ShardKey.of(group_of(r.camera_id), r.time_ms)
               for batch in IndexLog(store, model_id).log_batches() for r in batch.records})


def shard_batches(store: ObjectStore, model_id: str, shards: Collection[ShardKey]) -> Iterator[FrameBatch]:
    """The snapshot runs of `shards` only (a run holds one shard, its key says which), then every
    log batch (not yet compacted: any shard's). As `IndexLog.batches`, an object that vanished
    while listed (a compaction replaced it) sends the listing round again for its replacement."""
    snapshots = stored_keys.index_snapshot_prefix(model_id)
    days = sorted({k.day for k in shards})
    done: set[str] = set()
    vanished = True
    while vanished:
        vanished = False
        listed = (o.key for day in days for o in store.list(stored_keys.index_snapshot_prefix(model_id, day)))
        runs = sorted(k for k in listed if Run.parse(k, snapshots).shard in shards)
        logged = sorted(o.key for o in store.list(stored_keys.index_log_prefix(model_id)))
        for key in [k for k in runs + logged if k not in done]:
            done.add(key)
            try:
                data = store.get_bytes(key)
            except ObjectNotFoundError:
                vanished = True
                continue
            yield decode_batch(data)


class ShardServer:
    """The shards assigned to one server, each its own `FrameIndex`; thread-safe.

    `vector_cache_dir` and `index_options` are passed to each shard's `FrameIndex` (the node's
    vector cache and trained-index store)."""

    def __init__(self, store: ObjectStore, model_id: str, dim: int,
                 group_of: Callable[[str], str] = one_group,
                 new_index: Callable[[int], FrameIndex] | None = None,
                 feed_of: FeedOf | None = None) -> None:
        """`feed_of`: the writer feed of a shard (None: no writer yet), which `poll` follows."""
        self.model_id, self.dim = model_id, dim
        self._store, self._log = store, IndexLog(store, model_id)
        self._group_of = group_of
        self._new_index = new_index or (lambda d: FrameIndex(d, group_of=group_of))
        self._feed_of = feed_of
        self._positions: dict[ShardKey, FeedPosition] = {}
        self._shards: dict[ShardKey, FrameIndex] = {}
        self._lock = threading.Lock()  # assignments and feed batches, one at a time
        self._view = threading.Lock()  # the shard table (searches copy it)

    def ready(self) -> bool:
        return True

    def assign(self, keys: Sequence[ShardKey]) -> list[ShardKey]:
        """Hold exactly `keys` from now on: drop the others, load the new ones from the bucket.
        Returns the shards loaded (a shard is searchable only once loaded whole)."""
        wanted = set(keys)
        with self._lock:
            with self._view:
                dropped = [k for k in self._shards if k not in wanted]
                new = wanted - set(self._shards)
                for key in dropped:
                    del self._shards[key]
                    self._positions.pop(key, None)
            self._mark(new)  # what is appended while the bucket is read comes by the feed
            loaded = self._load(new) if new else {}
            with self._view:
                self._shards.update(loaded)
        return sorted(loaded)

    def held(self) -> list[ShardKey]:
        with self._view:
            return sorted(self._shards)

    def poll(self) -> int:
        """Add what the held shards' writers appended since the last poll (a shard whose writer
        restarted or whose feed moved past this server is reloaded from the bucket)."""
        if self._feed_of is None:
            return 0
        added = 0
        with self._lock:
            for key in list(self._shards):
                feed = self._feed_of(key)
                if feed is None:
                    continue
                position = self._positions.get(key, FeedPosition())
                reply = feed.since(position)
                if not reply.complete:  # under _lock: no assign meanwhile
                    self._positions[key] = feed.head()
                    loaded = self._load({key})
                    with self._view:
                        self._shards.update(loaded)
                    continue
                for batch in reply.batches:
                    added += batch.apply(self._shards[key])
                last = reply.batches[-1].seq if reply.batches else position.seq
                self._positions[key] = FeedPosition(reply.epoch, last)
        return added

    def apply(self, key: ShardKey, batch: FeedBatch) -> int:
        """A change of one held shard from its writer's feed; a shard not held is ignored."""
        with self._lock:
            index = self._shards.get(key)
            return 0 if index is None else batch.apply(index)

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter,
               keys: Sequence[ShardKey]) -> ServerAnswer:
        """The `top_k` best allowed frames in the named shards this server holds."""
        with self._view:
            held = [(k, self._shards.get(k)) for k in keys]
        missing = [k for k, index in held if index is None]
        found = [h for _, index in held if index is not None for h in index.search(query, top_k, where)]
        return ServerAnswer(merge([found], top_k), missing)

    def vector(self, key: ShardKey, camera_id: str, time_ms: int, box: Box | None) -> Looked:
        """The stored vector (`FrameIndex.vector`) in the shard `key`, if this server holds it."""
        with self._view:
            index = self._shards.get(key)
        return Looked(False, None) if index is None else Looked(True, index.vector(camera_id, time_ms, box))

    def sample(self, n: int, seed: int, regions: bool | None, keys: Sequence[ShardKey]) -> np.ndarray:
        """Up to `n` stored vectors of the named shards held, the newest days first."""
        with self._view:
            held = [self._shards[k] for k in sorted(keys, key=lambda k: -k.day) if k in self._shards]
        picked: list[np.ndarray] = []
        for index in held:
            wanted = n - sum(len(p) for p in picked)
            if wanted <= 0:
                break
            picked.append(index.sample(wanted, seed, regions))
        return np.concatenate(picked) if picked else np.zeros((0, self.dim), np.float32)

    def indexed(self, key: ShardKey, frames: Sequence[FrameKey]) -> list[bool] | None:
        """`FrameIndex.indexed` in the shard `key`; None if this server does not hold it."""
        with self._view:
            index = self._shards.get(key)
        return None if index is None else index.indexed(frames)

    def add(self, key: ShardKey, records: Sequence[FrameRecord], vectors: np.ndarray) -> int | None:
        """Frames of the shard `key` already in the bucket's log but not in its writer's feed (a
        model switch's re-embedding), added now; returns how many were new, None if this server
        does not hold the shard (it finds them in the bucket when it loads it)."""
        with self._lock:  # after a load of the shard under way
            index = self._shards.get(key)
            return None if index is None else index.add(records, vectors)

    def delete_range(self, key: ShardKey, camera_id: str, start_ms: int, end_ms: int) -> int | None:
        """Forget the camera's frames in [start_ms, end_ms) of the shard `key` now (its writer's
        feed brings the same tombstone later); returns how many, None if the shard is not held."""
        with self._lock:
            index = self._shards.get(key)
            return None if index is None else index.delete_range(camera_id, start_ms, end_ms)

    def records(self, key: ShardKey) -> list[FrameRecord] | None:
        """Every frame of the shard `key`; None if this server does not hold it."""
        with self._view:
            index = self._shards.get(key)
        return None if index is None else index.records()

    def settle(self) -> None:
        """Wait until no held shard is being rebuilt (benchmarks)."""
        with self._view:
            indexes = list(self._shards.values())
        for index in indexes:
            index.settle()

    def stats(self) -> ServerStats:
        with self._view:
            shards = list(self._shards.items())
        stats = [s for _, index in shards for s in index.shard_stats()]
        return ServerStats({k: len(index) for k, index in sorted(shards, key=lambda ki: ki[0])},
                           sum(s.bytes + s.record_bytes for s in stats), sum(s.disk_bytes for s in stats))

    def _mark(self, keys: Iterable[ShardKey]) -> None:
        for key in keys:
            feed = None if self._feed_of is None else self._feed_of(key)
            self._positions[key] = FeedPosition() if feed is None else feed.head()

    def _load(self, keys: set[ShardKey]) -> dict[ShardKey, FrameIndex]:
        """The shards' frames from the bucket: their snapshot runs, the log's rows of these shards,
        then tombstones."""
        indexes = {k: self._new_index(self.dim) for k in keys}
        for batch in shard_batches(self._store, self.model_id, keys):
            rows: dict[ShardKey, list[int]] = {}
            for i, r in enumerate(batch.records):
                key = ShardKey.of(self._group_of(r.camera_id), r.time_ms)
                if key in indexes:
                    rows.setdefault(key, []).append(i)
            for key, idx in rows.items():
                indexes[key].add([batch.records[i] for i in idx], batch.vectors[idx])
        for t in self._log.tombstones():
            for key, index in indexes.items():
                if key.group == self._group_of(t.camera_id) and key.overlaps(t.start_ms, t.end_ms):
                    index.delete_range(t.camera_id, t.start_ms, t.end_ms)
        return indexes


def merge(answers: Iterable[Sequence[FrameHit]], top_k: int) -> list[FrameHit]:
    """The `top_k` best hits of several answers, best first (a stable order on ties)."""
    hits = [h for answer in answers for h in answer]
    order = np.argsort(-np.array([h.score for h in hits], dtype=np.float64), kind="stable")
    return [hits[i] for i in order[:top_k]]


class _Local:
    """A server in this process as a router reaches it: calls fail once its node has left."""

    def __init__(self, server: ShardServer) -> None:
        self.server, self.alive = server, True

    def __getattr__(self, name: str) -> Callable[..., object]:
        method = getattr(self.server, name)

        def call(*args: object) -> object:
            if not self.alive:
                raise ActorUnavailableError("the shard server's node left the cluster")
            return method(*args)
        return call


class LocalShardServers:
    """`ShardServer`s in this process standing for nodes (unit tests, the embedded default,
    benchmarks): `join` and `leave` change the membership; a server whose node left fails every
    call from then on, as a dead actor does."""

    def __init__(self, make: Callable[[str], ShardServer], nodes: Sequence[str] = ("local",),
                 written: Callable[[], list[ShardKey]] = list) -> None:
        self._make, self._written = make, written
        self._servers: dict[str, _Local] = {}
        self._lock = threading.Lock()
        for node in nodes:
            self.join(node)

    def join(self, node: str) -> ShardServer:
        with self._lock:
            if node not in self._servers:
                self._servers[node] = _Local(self._make(node))
            return self._servers[node].server

    def leave(self, node: str) -> None:
        with self._lock:
            handle = self._servers.pop(node, None)
        if handle is not None:
            handle.alive = False

    def members(self) -> dict[str, ServerHandle]:
        with self._lock:
            return dict(self._servers)  # type: ignore[arg-type]  # `_Local` forwards every call

    def written(self) -> list[ShardKey]:
        return self._written()
