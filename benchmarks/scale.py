"""Does a partitioned index scale out: 1, 2 and 4 simulated nodes over the same vectors?

    python -m benchmarks.scale [--quick] [--vectors N] --out FILE.json

N seeded 256-d vectors (default 1M; quick: 200k), clustered like CLIP embeddings of CCTV
keyframes (a camera's scene, a shared concept, pose noise), from 1,000 cameras over 8 UTC days
(8 day shards), written once to a bucket (`tests.memory_store.MemoryStore`, in this process) as
a node's shard writers write them: one log batch per camera group and day. For 1, 2 and 4 nodes,
one `ShardServer` per node (in this process: each node's index is its own set of `FrameIndex`
shards with a vector cache directory, so shards from 50k vectors are IVF-PQ32 + re-rank, as a
node builds them) loads its rendezvous-hash share of the shards from the bucket, and a
`ShardRouter` fans each search out to them with threads and merges the top-k (replicas 1).

Reported per node count: seconds to load and build every server; the index RAM each server holds
(FAISS indexes and record columns, `ShardServer.stats`) against total / nodes; its float16 vector
files; recall@10 against exact search, unfiltered and filtered (100 of the 1,000 cameras, one
day), and whether every hit list equals the single node's; p50/p99 of `ShardRouter.find` with its
fan-out. Then, on the 4-node cluster, search p99 and the longest search while one shard grows
from 0 to `grow` keyframes in batches of 1,000 through its server's writer feed (crossing the exact
→ IVF-PQ build at 50k and a retrain at 100k). Constants for the capacity model
(`services.cluster.capacity`): bucket bytes per vector (the log objects), disk bytes per vector,
and the process's anonymous heap growth per vector while the 1-node server loads (run under
PYTHONMALLOC=malloc, as `vigil serve` runs). A partitioned front end holds no frame of the index
(`services.index.routed_frames`): the servers' RAM is the index's.

Not measured here: the Ray RPC between a router and its servers (the fan-out is threads in one
process; tests/integration/test_shard_servers.py runs the same code over Ray actors on a 4-node
`ray.cluster_utils` cluster), nor separate machines' RAM (each server's share is counted from
its own indexes).
"""

from __future__ import annotations

import functools
import gc
import itertools
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import _harness
from benchmarks.search import clustered_vectors
from indexing.frame_columns import FrameRecord
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, SearchFilter
from services.cluster.index_writers import FeedBatch
from services.cluster.shard_servers import LocalShardServers, ServerStats, ShardServer, stored_shards
from services.index.router import ShardRouter
from services.node import heap
from storage import keys
from storage.timeutil import DAY_MS
from tests.memory_store import MemoryStore

MODEL, DIM, DAYS, CAMERAS, DAY0 = "scale", 256, 8, 1000, 20_400
QUERIES, RUNS, BATCH = 100, 200, 1000


def _time(i: np.ndarray, per_day: int) -> np.ndarray:
    out: np.ndarray = (DAY0 + i // per_day) * DAY_MS + (i % per_day) * (DAY_MS // per_day)
    return out


def _records(lo: int, hi: int, per_day: int, day: int | None = None) -> list[FrameRecord]:
    times = _time(np.arange(lo, hi), per_day) if day is None else (
        day * DAY_MS + np.arange(lo, hi) * (DAY_MS // (hi + 1)))
    cameras = [f"cam-{i % CAMERAS}" for i in range(lo, hi)]
    return [FrameRecord(c, t, t + 1000, keys.segment_key(c, t, t + 10_000), t, t + 10_000,
                        keys.thumbnail_key(c, t))  # the keys ingest writes (kept as columns)
            for c, t in zip(cameras, times.tolist(), strict=True)]


def _fill(store: MemoryStore, x: np.ndarray, per_day: int) -> None:
    log, lo = IndexLog(store, MODEL), 0
    while lo < len(x):  # a day's frames in several batches, each within one day
        hi = min(lo + 50_000, len(x), (lo // per_day + 1) * per_day)
        log.append(f"b{lo}", _records(lo, hi, per_day), x[lo:hi])
        lo = hi


def _exact(x: np.ndarray, q: np.ndarray, allowed: np.ndarray | None) -> list[set[int]]:
    out = []
    for v in q:
        scores = x @ v if allowed is None else x[allowed] @ v
        top = np.argpartition(-scores, 10)[:10]
        out.append(set((top if allowed is None else allowed[top]).tolist()))
    return out


def _recall(found: list[list[tuple[str, int]]], truth: list[set[int]], per_day: int) -> float:
    def frame(camera: str, t: int) -> int:  # the inverse of `_records`
        day, within = divmod(t - DAY0 * DAY_MS, DAY_MS)
        return int(day * per_day + within // (DAY_MS // per_day))
    hits = sum(len({frame(c, t) for c, t in f} & s) for f, s in zip(found, truth, strict=True))
    return hits / (10 * len(truth))


@dataclass
class Run:
    result: dict[str, object]
    router: ShardRouter
    servers: LocalShardServers
    hits: dict[str, list[list[tuple[str, int]]]]
    stats: dict[str, ServerStats]
    heap_growth: int
    extra: set[ShardKey]  # shards the router knows beyond the bucket's


def run_nodes(nodes: int, store: MemoryStore, cache: Path, q: np.ndarray,
              wheres: dict[str, SearchFilter]) -> Run:
    servers = LocalShardServers(lambda node: ShardServer(
        store, MODEL, DIM, new_index=lambda d: FrameIndex(d, vector_cache_dir=cache / node)),
        [f"node-{i}" for i in range(nodes)])
    stored, extra = stored_shards(store, MODEL), set[ShardKey]()
    router = ShardRouter(servers, lambda: stored | extra, replicas=1, dim=DIM)
    heap0 = _harness.anon_rss_bytes()
    t0 = time.perf_counter()
    router.refresh()
    for node in servers.members():
        servers.join(node).settle()  # the IVF builds are part of loading
    build_s = time.perf_counter() - t0
    heap_growth = _harness.anon_rss_bytes() - heap0
    stats = {node: servers.join(node).stats() for node in servers.members()}
    total_ram = sum(s.ram_bytes for s in stats.values())
    hits = {name: [[(h.record.camera_id, h.record.time_ms) for h in router.find(v, 10, where).hits]
                   for v in q] for name, where in wheres.items()}
    result: dict[str, object] = {
        "build_s": round(build_s, 1),
        "shards_per_node": {n: len(s.shards) for n, s in stats.items()},
        "vectors_per_node": {n: s.frames for n, s in stats.items()},
        "index_ram_bytes_per_node": {n: s.ram_bytes for n, s in stats.items()},
        "index_ram_max_node_over_total_per_node":
            max(s.ram_bytes for s in stats.values()) / (total_ram / nodes),
        "disk_bytes_per_node": {n: s.disk_bytes for n, s in stats.items()},
        "process_heap_growth_bytes": heap_growth,
    }
    turns = itertools.count()
    for name, where in wheres.items():
        result[f"latency_ms_{name}"] = _harness.latencies_ms(
            functools.partial(lambda w: router.find(q[next(turns) % len(q)], 10, w), where), RUNS)
    return Run(result, router, servers, hits, stats, heap_growth, extra)


def growth(run: Run, grow: int, q: np.ndarray) -> dict[str, object]:
    """Search p99 and the longest search while one new day shard grows to `grow` in batches."""
    router, servers = run.router, run.servers
    day = DAY0 + DAYS + 1
    key = ShardKey("", day)
    run.extra.add(key)  # a day the writers have just begun: nothing in the bucket yet
    router.refresh()
    server = servers.join(router.owners(key)[0])
    x = clustered_vectors(grow, seed=99, cameras=CAMERAS)
    samples: list[float] = []
    done = threading.Event()

    def searching() -> None:
        i = 0
        while not done.is_set():
            t0 = time.perf_counter()
            router.find(q[i % len(q)], 10, SearchFilter())
            samples.append((time.perf_counter() - t0) * 1000)
            i += 1

    thread = threading.Thread(target=searching)
    gc.freeze()  # as a node does once started (services.node.app; see benchmarks.growth)
    thread.start()
    t0 = time.perf_counter()
    for seq, lo in enumerate(range(0, grow, BATCH), start=1):
        records = _records(lo, lo + BATCH, 0, day=day)
        server.apply(key, FeedBatch(seq, records, x[lo:lo + BATCH]))
    grew_s = time.perf_counter() - t0
    done.set()
    thread.join()
    a = np.array(samples)
    return {"grown_to": grow, "batches": grow // BATCH, "grow_s": round(grew_s, 1), "searches": len(a),
            "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}


def main() -> None:
    heap.use_system_malloc("benchmarks.scale", sys.argv[1:])  # measured as `vigil serve` runs
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--vectors", type=int, default=None, help="default 1,000,000 (quick: 200,000)")
    parser.add_argument("--grow", type=int, default=None,
                        help="growth shard size (default 150,000; quick 60,000)")
    args = parser.parse_args()
    n = args.vectors or (200_000 if args.quick else 1_000_000)
    grow = args.grow or (60_000 if args.quick else 150_000)
    per_day = n // DAYS
    x = clustered_vectors(n, seed=0, cameras=CAMERAS)
    store = MemoryStore()
    _fill(store, x, per_day)
    bucket_bytes = sum(len(v) for v in store.objects.values())
    noise = np.random.default_rng(8).standard_normal((QUERIES, DIM)).astype(np.float32)
    q = clustered_vectors(QUERIES, seed=7, cameras=CAMERAS) + 0.05 * noise
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    day = DAY0 + 3
    cams = frozenset(f"cam-{c}" for c in range(0, CAMERAS, 10))
    wheres = {"unfiltered": SearchFilter(),
              "10pct_cameras_1_day": SearchFilter(camera_ids=cams, start_ms=day * DAY_MS,
                                                  end_ms=(day + 1) * DAY_MS)}
    frames = np.arange(n)
    allowed = np.flatnonzero(np.isin(frames % CAMERAS, list(range(0, CAMERAS, 10)))
                             & (frames // per_day == day - DAY0))
    truth = {"unfiltered": _exact(x, q, None), "10pct_cameras_1_day": _exact(x, q, allowed)}
    results: dict[str, object] = {"vectors": n, "dim": DIM, "days": DAYS, "cameras": CAMERAS,
                                  "bucket_bytes_per_vector": bucket_bytes / n}
    single: dict[str, list[list[tuple[str, int]]]] = {}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-scale-") as tmp:
        for nodes in (1, 2, 4):
            run = run_nodes(nodes, store, Path(tmp) / f"n{nodes}", q, wheres)
            r = run.result
            single = single or run.hits
            for name in wheres:
                r[f"recall@10_{name}"] = _recall(run.hits[name], truth[name], per_day)
                r[f"same_hits_as_1_node_{name}"] = run.hits[name] == single[name]
            if nodes == 1:
                results["ram_bytes_per_vector_1_node_heap"] = run.heap_growth / n
                results["index_ram_bytes_per_vector"] = sum(s.ram_bytes for s in run.stats.values()) / n
                results["disk_bytes_per_vector"] = sum(s.disk_bytes for s in run.stats.values()) / n
            if nodes == 4:
                r["search_while_one_shard_grows"] = growth(run, grow, q)
            results[f"{nodes}_nodes"] = r
            run.router.close()
            del run
    results["command"] = "python -m benchmarks.scale " + " ".join(sys.argv[1:])
    _harness.write(args.out, "a partitioned index over 1, 2 and 4 simulated nodes: RAM per node, "
                   "recall, fan-out latency, search during growth", results, args.quick)


if __name__ == "__main__":
    main()
