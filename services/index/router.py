"""A front end's side of a partitioned index: routes each search to the shard servers holding
the shards that survive its filter and merges their top-k (a `Searchable`).

Membership: `refresh` reads the live servers, assigns every known shard to its `replicas`
owners (`services.cluster.shard_servers.placement`: rendezvous hashing with bounded loads) and
has each server load what it newly owns from the bucket; only then do searches route by the new
assignment, and only then do servers drop what moved elsewhere. Known
shards are those of the catalog (the bucket, the writers' feeds) and every one seen before: a
shard never drops out of routing because the servers that held it died.

Failure: a search asks each shard's preferred owner; a server that does not answer
(`ActorUnavailableError`) is left out until the next `refresh`, and its shards, like those a
server reports it does not hold, go to the next owner. A shard with no owner left is
`Unsearched` in the answer. A server searches only shards it holds whole, so every hit returned
is right and every shard is searched at most once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from indexing.frame_columns import Box
from indexing.shards import ShardKey
from indexing.vector_index import FrameHit, SearchFilter, one_group
from services.cluster.interface import ActorUnavailableError
from services.cluster.shard_servers import ServerAnswer, ServerHandle, ServerSet, merge, placement
from services.index.searchable import Searched, Unsearched

logger = logging.getLogger(__name__)
MAX_FANOUT_THREADS = 16
Catalog = Callable[[], Iterable[ShardKey]]


class ShardRouter:
    """Searches a version's shards on the servers holding them; thread-safe (a `Searchable`)."""

    def __init__(self, servers: ServerSet, catalog: Catalog, replicas: int = 1,
                 group_of: Callable[[str], str] = one_group, dim: int = 0) -> None:
        if replicas < 1:
            raise ValueError(f"replicas {replicas}: each shard needs at least one server")
        self._servers, self._catalog, self._replicas = servers, catalog, replicas
        self._group_of, self._dim = group_of, dim
        self._known: set[ShardKey] = set()
        self._placement: dict[ShardKey, list[str]] = {}  # shard → its servers, preferred first
        self._members: dict[str, ServerHandle] = {}  # as assigned by the last refresh
        self._down: set[str] = set()  # members that failed a call since
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(MAX_FANOUT_THREADS, thread_name_prefix="shard-fanout")

    def refresh(self) -> dict[str, list[ShardKey]]:
        """Assign every known shard over the live servers and have them load it; returns server →
        shards held. A server that fails while loading is left out and the rest reassigned.

        Searches go on meanwhile, by the old assignment: servers first load their new shards
        beside the old ones, searches then route by the new assignment, and only then do servers
        drop the shards they no longer hold (so a reassignment never leaves a shard unsearched)."""
        known = self._known | set(self._catalog())
        members = dict(self._servers.members())
        with self._lock:
            before = dict(self._placement)
        for _ in range(len(members) + 1):
            where = placement(known, members, self._replicas)
            plan = {node: sorted((k for k, nodes in where.items() if node in nodes), key=_order)
                    for node in members}
            failed = []
            loads = {node: self._pool.submit(members[node].assign, sorted(
                {k for k, nodes in before.items() if node in nodes} | set(keys), key=_order))
                for node, keys in plan.items()}  # the servers load at the same time
            for node, load in loads.items():
                try:
                    load.result()
                except ActorUnavailableError:
                    logger.warning("shard server on %s did not load its shards: left out", node)
                    failed.append(node)
            for node in failed:
                members.pop(node)
            if not failed:
                break
        with self._lock:
            self._known, self._members, self._down, self._placement = known, members, set(), where
        for node, keys in plan.items():  # drop what moved elsewhere
            if any(node in nodes and node not in where.get(k, []) for k, nodes in before.items()):
                try:
                    members[node].assign(keys)
                except ActorUnavailableError:
                    self._note_down(node)
        return plan

    def reload(self, stored: Iterable[ShardKey]) -> dict[str, list[ShardKey]]:
        """Have every server load its shards again from the bucket, which now holds `stored`
        (`stored_shards`): after writes that went to the log, not through the shard writers'
        feeds (a model switch's re-embedding, before its version serves). The servers drop what
        they hold first, so until this returns they answer from less than the bucket holds."""
        members = dict(self._servers.members())
        for node, server in members.items():
            try:
                server.assign([])
            except ActorUnavailableError:
                self._note_down(node)
        with self._lock:
            self._known |= set(stored)
            self._placement = {}
        return self.refresh()

    def owners(self, key: ShardKey) -> list[str]:
        """The servers holding `key` since the last refresh, preferred first."""
        with self._lock:
            return list(self._placement.get(key, []))

    def poll(self) -> int:
        """Periodically: reassign when the live servers changed (a node joined or left, a server
        failed a call) or a shard was written that no server holds yet, then have every server
        add what its shards' writers appended. Returns frames added."""
        members, catalog = self._servers.members(), set(self._catalog())
        with self._lock:
            changed = set(members) != set(self._members) or bool(self._down) or not catalog <= self._known
        if changed:
            self.refresh()
        added = 0
        with self._lock:
            current = dict(self._members)
        for node, server in current.items():
            try:
                added += server.poll()
            except ActorUnavailableError:
                self._note_down(node)
        return added

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def find(self, query: np.ndarray, top_k: int, where: SearchFilter) -> Searched:
        with self._lock:
            keys = [k for k in self._known if self._survives(k, where)]
            members, down, held = dict(self._members), set(self._down), dict(self._placement)
        # each shard's remaining owners, preferred first (as the last refresh assigned them)
        left = {k: [n for n in held.get(k, []) if n not in down] for k in keys}
        answers: list[list[FrameHit]] = []
        unsearched: list[Unsearched] = []
        while left:
            for key in [k for k, nodes in left.items() if not nodes]:
                unsearched.append(Unsearched(key.group, key.day))
                del left[key]
            by_node: dict[str, list[ShardKey]] = {}
            for key, nodes in left.items():
                by_node.setdefault(nodes[0], []).append(key)
            calls = {node: self._pool.submit(members[node].search, query, top_k, where,
                                             sorted(ks, key=_order)) for node, ks in by_node.items()}
            for node, call in calls.items():
                try:
                    answer: ServerAnswer = call.result()
                except ActorUnavailableError:
                    self._note_down(node)
                    retry = by_node[node]
                else:
                    answers.append(answer.hits)
                    retry = answer.missing
                for key in by_node[node]:
                    if key in retry:
                        left[key] = left[key][1:]
                    else:
                        del left[key]
        if unsearched:
            logger.warning("no live shard server held %d shards: answered without them", len(unsearched))
        return Searched(merge(answers, top_k), tuple(sorted(unsearched)))

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter = SearchFilter()) -> list[FrameHit]:
        """`find`'s hits (callers that need to know what was not searched use `find`)."""
        return self.find(query, top_k, where).hits

    def vector(self, camera_id: str, time_ms: int, box: Box | None = None) -> np.ndarray | None:
        key = ShardKey.of(self._group_of(camera_id), time_ms)
        with self._lock:
            members, down, known = dict(self._members), set(self._down), key in self._known
            holders = list(self._placement.get(key, []))
        if not known:
            return None
        for node in [n for n in holders if n not in down]:
            try:
                looked = members[node].vector(key, camera_id, time_ms, box)
            except ActorUnavailableError:
                self._note_down(node)
                continue
            if looked.held:
                return looked.vector
        raise ActorUnavailableError(f"no live shard server holds group {key.group!r} of day {key.day} "
                                    "(its servers are down): try again once the cluster reassigns it")

    def sample(self, n: int, seed: int = 0, regions: bool | None = None) -> np.ndarray:
        with self._lock:
            keys = sorted(self._known, key=lambda k: -k.day)
            members, down, held = dict(self._members), set(self._down), dict(self._placement)
        picked: list[np.ndarray] = []
        for key in keys:
            wanted = n - sum(len(p) for p in picked)
            if wanted <= 0:
                break
            for node in [m for m in held.get(key, []) if m not in down]:
                try:
                    picked.append(members[node].sample(wanted, seed, regions, [key]))
                    break
                except ActorUnavailableError:
                    self._note_down(node)
        return np.concatenate(picked) if picked else np.zeros((0, self._dim), np.float32)

    def _note_down(self, node: str) -> None:
        logger.warning("shard server on %s did not answer: its shards go to their replicas", node)
        with self._lock:
            self._down.add(node)

    def _survives(self, key: ShardKey, where: SearchFilter) -> bool:
        groups = {self._group_of(c) for c in where.camera_ids}
        return (not groups or key.group in groups) and key.overlaps(where.start_ms, where.end_ms)


def _order(key: ShardKey) -> tuple[str, int]:
    return key.group, key.day


def partitioned(servers: ServerSet, stored: Iterable[ShardKey], replicas: int, dim: int) -> ShardRouter:
    """A router over `servers`, knowing the shards `stored` in the bucket (`stored_shards`) and
    those written since, assigned and loaded."""
    known = frozenset(stored)
    router = ShardRouter(servers, lambda: known | set(servers.written()), replicas, dim=dim)
    router.refresh()
    return router


class Polled:
    """Several periodic pollers (a front end's index follower and its router) polled as one."""

    def __init__(self, *pollers: _Poller) -> None:
        self._pollers = pollers

    def poll(self) -> int:
        return sum(p.poll() for p in self._pollers)


class _Poller(Protocol):
    def poll(self) -> int: ...
