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

Everything else a front end asks of its index goes the same way, a shard at a time (`ask`: the
first live holder; `ask_all`: every live holder, for changes), so a partitioned front end holds
no frame itself (`services.index.routed_frames`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from indexing.frame_columns import Box
from indexing.shards import ShardKey
from indexing.vector_index import FrameHit, SearchFilter, one_group
from services.cluster.interface import ActorUnavailableError
from services.cluster.shard_servers import Looked, ServerAnswer, ServerHandle, ServerSet, merge, placement
from services.index.searchable import Searched, Unsearched

logger = logging.getLogger(__name__)
MAX_FANOUT_THREADS = 16
T = TypeVar("T")
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
        self._refreshing = threading.Lock()  # one reassignment at a time (the poller's, an add's)
        self._pool = ThreadPoolExecutor(MAX_FANOUT_THREADS, thread_name_prefix="shard-fanout")

    def refresh(self, new: Iterable[ShardKey] = ()) -> dict[str, list[ShardKey]]:
        """Assign every known shard (and `new` ones) over the live servers and have them load it;
        returns server → shards held. A server that fails while loading is left out and the rest reassigned.

        Searches go on meanwhile, by the old assignment: servers first load their new shards
        beside the old ones, searches then route by the new assignment, and only then do servers
        drop the shards they no longer hold (so a reassignment never leaves a shard unsearched)."""
        with self._refreshing:
            members = dict(self._servers.members())
            with self._lock:
                known, before = self._known | set(self._catalog()) | set(new), dict(self._placement)
            for _ in range(len(members) + 1):
                where = placement(known, members, self._replicas)
                plan = {node: sorted(k for k, nodes in where.items() if node in nodes)
                        for node in members}
                failed = []
                loads = {node: self._pool.submit(members[node].assign, sorted(
                    {k for k, nodes in before.items() if node in nodes} | set(keys)))
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
                self._members, self._down, self._placement = members, set(), where
                self._known |= known  # only grows (a shard `learn`t meanwhile is placed next time)
            for node, keys in plan.items():  # drop what moved elsewhere
                if any(node in nodes and node not in where.get(k, []) for k, nodes in before.items()):
                    try:
                        members[node].assign(keys)
                    except ActorUnavailableError:
                        self._note_down(node)
            return plan

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
                                             sorted(ks)) for node, ks in by_node.items()}
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

        def look(server: ServerHandle) -> Looked | None:
            looked = server.vector(key, camera_id, time_ms, box)
            return looked if looked.held else None
        return self.ask(key, look, Looked(True, None)).vector

    def shards(self) -> list[ShardKey]:
        """Every shard known (stored, written or seen before)."""
        with self._lock:
            return sorted(self._known)

    def learn(self, keys: Iterable[ShardKey]) -> None:
        """Shards whose frames are in the bucket but that no server holds yet (re-embedded into
        the log past the writers, or a writer's first batch before the next poll): assigned now."""
        wanted = set(keys)
        with self._lock:
            placed = wanted <= self._known
        if not placed:
            self.refresh(wanted)

    def ask(self, key: ShardKey, call: Callable[[ServerHandle], T | None], unknown: T) -> T:
        """`call` on the first live server holding `key`, preferred first (it answers None when it
        does not hold the shard whole); `unknown` for a shard never stored or written. Raises
        `ActorUnavailableError` when no live server holds it."""
        with self._lock:
            known = key in self._known
        if not known:
            return unknown
        for answer in self._answers(key, call):
            return answer
        raise ActorUnavailableError(f"no live shard server holds group {key.group!r} of day {key.day} "
                                    "(its servers are down): try again once the cluster reassigns it")

    def ask_all(self, key: ShardKey, call: Callable[[ServerHandle], T | None]) -> list[T]:
        """`call` on every live server holding `key` (a change each replica makes), the answers
        of those that hold it."""
        return list(self._answers(key, call))

    def _answers(self, key: ShardKey, call: Callable[[ServerHandle], T | None]) -> Iterator[T]:
        """`call`'s answers from the live servers holding `key`, preferred first, one at a time."""
        with self._lock:
            members, down = dict(self._members), set(self._down)
            holders = list(self._placement.get(key, []))
        for node in [n for n in holders if n not in down]:
            try:
                answer = call(members[node])
            except ActorUnavailableError:
                self._note_down(node)
                continue
            if answer is not None:
                yield answer

    def counts(self) -> dict[ShardKey, int]:
        """Frames per shard, as its preferred live holder counts them."""
        with self._lock:
            members, down, held = dict(self._members), set(self._down), dict(self._placement)
        counted: dict[str, dict[ShardKey, int]] = {}
        for node, server in members.items():
            if node not in down:
                try:
                    counted[node] = server.stats().shards
                except ActorUnavailableError:
                    self._note_down(node)
        counts = {key: next((counted[n][key] for n in nodes if key in counted.get(n, {})), None)
                  for key, nodes in held.items()}
        return {key: n for key, n in counts.items() if n is not None}

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


def partitioned(servers: ServerSet, stored: Iterable[ShardKey], replicas: int, dim: int) -> ShardRouter:
    """A router over `servers`, knowing the shards `stored` in the bucket (`stored_shards`) and
    those written since, assigned and loaded."""
    known = frozenset(stored)
    router = ShardRouter(servers, lambda: known | set(servers.written()), replicas, dim=dim)
    router.refresh()
    return router
