"""Run by tests/integration/test_shard_servers.py in its own process (one Ray driver per process):
a 4-node Ray cluster on this machine (ray.cluster_utils), one shard server per node loading its
shards from the bucket (SeaweedFS, named by VIGIL_TEST_S3_* variables), a router over them.
It kills a shard-server actor, removes nodes while queries run, adds a server that never answers,
and prints one JSON line of what the queries answered compared with one index holding everything."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import ray
from ray.cluster_utils import Cluster

from indexing.frame_columns import FrameRecord
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, SearchFilter
from services.cluster.interface import ActorUnavailableError
from services.cluster.ray_cluster import RayCluster, RayShardServers, _ServerHandle
from services.cluster.shard_servers import ServerHandle, ServerSet, placement, stored_shards
from services.index.router import ShardRouter
from services.settings import RaySettings
from storage.s3 import S3Endpoint
from storage.stores import open_store
from storage.timeutil import DAY_MS

MODEL, DIM, DAYS, PER_DAY, DAY0 = "ray-shards", 16, 8, 40, 20_400
CAMERAS = ("cam-a", "cam-b")
QUERIES = np.random.default_rng(1).standard_normal((6, DIM)).astype(np.float32)
CALL_TIMEOUT_S = 20.0  # a shard server that does not answer within this is taken for dead
LOAD_TIMEOUT_S = 60.0  # ... nor load its shards (or apply a change) within this
HUNG_LOAD_TIMEOUT_S = 3.0  # the hung server's: its loads and changes are refused this soon
HANG_S = 3600.0


@ray.remote(num_cpus=0, max_concurrency=16)
class _Hung:
    """A shard server that has stopped answering (a wedged process, not a dead one)."""

    def assign(self, keys: object) -> None:
        time.sleep(HANG_S)

    def add(self, key: object, records: object, vectors: object) -> None:
        time.sleep(HANG_S)

    def delete_range(self, key: object, camera_id: object, start_ms: object, end_ms: object) -> None:
        time.sleep(HANG_S)

    def records(self, key: object) -> None:
        time.sleep(HANG_S)


class _WithHung:
    """The live servers plus the hung one (a `ServerSet`)."""

    def __init__(self, servers: ServerSet, hung: ServerHandle) -> None:
        self._servers, self._hung = servers, hung

    def members(self) -> dict[str, ServerHandle]:
        return {**self._servers.members(), "hung": self._hung}

    def written(self) -> list[ShardKey]:
        return self._servers.written()


def _refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except ActorUnavailableError:
        return True
    return False


def _fill(endpoint: S3Endpoint) -> FrameIndex:
    rng, log, whole = np.random.default_rng(7), IndexLog(open_store(endpoint), MODEL), FrameIndex(DIM)
    for day in range(DAY0, DAY0 + DAYS):
        for camera in CAMERAS:
            t0 = day * DAY_MS
            records = [FrameRecord(camera, t0 + 60_000 * i, t0 + 60_000 * i + 1000, f"s/{camera}.mp4",
                                   t0, t0 + 1000, f"t/{camera}.jpg") for i in range(PER_DAY)]
            vectors = rng.standard_normal((PER_DAY, DIM)).astype(np.float32)
            log.append(f"{camera}-{day}", records, vectors)
            whole.add(records, vectors)
    return whole


def _check(router: ShardRouter, whole: FrameIndex, lost_days: set[int] = frozenset()) -> dict[str, int]:  # type: ignore[assignment]
    """Every query: hits equal to the whole index's outside the days reported unsearched, and
    those days exactly the lost ones. Returns counts of right and wrong answers."""
    right = wrong = 0
    for q in QUERIES:
        found = router.find(q, 10, SearchFilter())
        unsearched = {u.day for u in found.unsearched}
        expected = [(h.record.camera_id, h.record.time_ms) for h in whole.search(q, 10 * DAYS * 4)
                    if h.record.time_ms // DAY_MS not in unsearched][:10]
        ok = [(h.record.camera_id, h.record.time_ms) for h in found.hits] == expected
        ok &= unsearched <= set(lost_days) if lost_days else not unsearched
        right, wrong = right + ok, wrong + (not ok)
    return {"right": right, "wrong": wrong}


def main() -> None:
    env = os.environ
    endpoint = S3Endpoint(env["VIGIL_TEST_S3_ENDPOINT"], env["VIGIL_TEST_S3_ACCESS_KEY"],
                          env["VIGIL_TEST_S3_SECRET_KEY"], env["VIGIL_TEST_S3_BUCKET"])
    whole = _fill(endpoint)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(3)]
    cluster.wait_for_nodes()
    out: dict[str, object] = {}
    try:
        RayCluster.start(RaySettings(address=cluster.address), endpoint)
        servers = RayShardServers(endpoint, MODEL, DIM, CALL_TIMEOUT_S, LOAD_TIMEOUT_S)
        store = open_store(endpoint)
        router = ShardRouter(servers, lambda: stored_shards(store, MODEL), replicas=2, dim=DIM)
        plan = router.refresh()
        out["nodes"] = len(plan)
        out["shards_per_server"] = sorted(len(k) for k in plan.values())
        out["all_up"] = _check(router, whole)

        # a shard-server actor killed (its node lives on): replicas answer
        victim = next(n for n in plan if plan[n])
        servers.members()[victim].kill()  # type: ignore[attr-defined]
        out["actor_killed"] = _check(router, whole)
        router.refresh()  # a new actor on that node, loaded from the bucket
        out["after_refresh"] = _check(router, whole)

        # a whole node removed while queries run: every answer still right
        node_ids = {w.node_id: w for w in workers}
        plan = router.refresh()
        gone = next(n for n in plan if n in node_ids)
        results: list[dict[str, int]] = []
        stop = threading.Event()

        def query() -> None:
            while not stop.is_set():
                results.append(_check(router, whole))

        runner = threading.Thread(target=query)
        runner.start()
        time.sleep(1.0)  # queries are running when the node goes
        cluster.remove_node(node_ids.pop(gone))
        time.sleep(2 * CALL_TIMEOUT_S)
        stop.set()
        runner.join(120)
        out["node_removed_mid_query"] = {"right": sum(r["right"] for r in results),
                                         "wrong": sum(r["wrong"] for r in results)}

        # one replica per shard, then another node removed: its days are reported, nothing wrong
        single = ShardRouter(servers, lambda: stored_shards(store, MODEL), replicas=1, dim=DIM)
        plan = single.refresh()
        gone = next(n for n in plan if n in node_ids and plan[n])
        lost = {k.day for k in plan[gone]}
        cluster.remove_node(node_ids.pop(gone))
        out["no_replica_left"] = _check(single, whole, lost)
        found = single.find(QUERIES[0], 10, SearchFilter())
        out["unsearched_days_reported"] = sorted(u.day for u in found.unsearched) == sorted(lost)
        plan = single.refresh()  # reassigned over the nodes left, loaded from the bucket
        out["after_reassignment"] = _check(single, whole)
        out["owners_deterministic"] = placement(stored_shards(store, MODEL), list(plan), 1) == {
            ShardKey("", d): single.owners(ShardKey("", d)) for d in range(DAY0, DAY0 + DAYS)}

        # a server that never answers: its loads and changes are refused after its load timeout,
        # so a refresh leaves it out (instead of waiting on it for good) and searches stay right
        hung = _ServerHandle(_Hung.remote(), CALL_TIMEOUT_S, HUNG_LOAD_TIMEOUT_S)
        key, no_vectors = ShardKey("", DAY0), np.zeros((0, DIM), np.float32)
        out["hung_refused"] = {
            "assign": _refused(lambda: hung.assign([key])),
            "add": _refused(lambda: hung.add(key, [], no_vectors)),
            "delete_range": _refused(lambda: hung.delete_range(key, CAMERAS[0], 0, 1)),
            "records": _refused(lambda: hung.records(key))}
        beside = ShardRouter(_WithHung(servers, hung), lambda: stored_shards(store, MODEL),
                             replicas=1, dim=DIM)
        plan = beside.refresh()
        out["hung_left_out"] = "hung" not in plan and sum(map(len, plan.values())) == DAYS
        out["hung_beside"] = _check(beside, whole)
    finally:
        print(json.dumps(out), flush=True)
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
