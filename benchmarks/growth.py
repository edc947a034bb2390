"""Do searches stall while a shard grows and is retrained, and what does a restart cost?

    python -m benchmarks.growth [--quick] [--rate FRAMES_PER_S] --out FILE.json

One shard (one camera group, one UTC day) grows from 0 to 300k keyframes
(quick: 120k) in batches of 1,000, added by a writer thread as an index
writer adds them (`FrameIndex.add`, vector cache directory as a node has it:
exact below 50k, IVF-PQ with re-rank from 50k, rebuilt at 50k, 100k and 200k),
at `--rate` keyframes a second (default 2,000: 10,000 cameras at one keyframe
per 5 s; 0: as fast as the writer can). Meanwhile the main thread searches
without pause (k = 10; every other search filtered to 10 % of the cameras),
with the benchmark's clustered vectors (`benchmarks.search`).

Reported: every search's latency during growth (max, p50/p95/p99, overall and
while a rebuild was under way), the add latency per batch, when each rebuild
ran, recall@10 of the grown shard; then a restart: the grown shard's vectors
added again in one bulk load (as a node replays its snapshot) into a new index
with the trained indexes the growth saved (`indexing.trained_cache`) and
without, timed, and whether the restarted index answers as the grown one.
The trained indexes sit in an in-process store here (the node keeps them in
the bucket: one GET of ≈ 0.8 MB per shard, not timed).

The cyclic GC's objects are frozen before growth starts, as a node freezes
them once started (`services.node.app`): a full collection over the import-time
objects otherwise takes ~200 ms of whichever thread triggers it, a search or
the writer holding the view lock.

On a shared, loaded machine a search's wall time also counts the time its
thread waited for a CPU or the GIL, which no index design removes. So each
search also reports the part of it spent waiting for the index's view lock
(the only thing a rebuild or an add could make it wait for; timed by wrapping
the lock's read acquisition in this benchmark) and its thread's CPU time, and
the results give the machine's load average.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import cast

import numpy as np

from benchmarks import _harness
from benchmarks.search import CAMERAS, DIM, clustered_vectors
from indexing.trained_cache import TrainedCache
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from storage import keys
from storage.object_store import ObjectStore
from storage.timeutil import DAY_MS
from tests.memory_store import MemoryStore

DAY0 = 20_400 * DAY_MS
BATCH = 1_000
QUERIES = 200
TEN_PCT = SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, CAMERAS, 10)))


def _records(lo: int, hi: int, n: int) -> list[FrameRecord]:
    """Keyframes lo..hi-1 of n spread evenly over one UTC day, camera i mod 100's."""
    step = DAY_MS // n
    out = []
    for i in range(lo, hi):
        camera, t = f"cam-{i % CAMERAS}", DAY0 + i * step
        start = t - t % 10_000
        out.append(FrameRecord(camera, t, t + step, keys.segment_key(camera, start, start + 10_000),
                               start, start + 10_000, keys.thumbnail_key(camera, t)))
    return out


def _stats(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"runs": 0}
    a = np.array(samples)
    return {"max": float(a.max()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "runs": len(samples)}


def grow(n: int, rate: float, x: np.ndarray, cache_dir: Path,
         bucket: MemoryStore) -> tuple[FrameIndex, dict[str, object]]:
    """Grow one shard to n keyframes from a writer thread while this thread searches."""
    index = FrameIndex(DIM, vector_cache_dir=cache_dir,
                       trained=TrainedCache(cast(ObjectStore, bucket), "bench"))
    queries = clustered_vectors(QUERIES, seed=1)
    batches = range(0, n, BATCH)  # each batch's records made when it is added, as ingest does
    adds: list[float] = []
    builds: list[dict[str, object]] = []
    done = threading.Event()

    def writer() -> None:
        t0, building = time.perf_counter(), False
        try:
            for b, lo in enumerate(batches):
                if rate > 0 and (wait := t0 + b * BATCH / rate - time.perf_counter()) > 0:
                    time.sleep(wait)  # ingest pace
                records = _records(lo, lo + BATCH, n)
                start = time.perf_counter()
                index.add(records, x[lo:lo + BATCH])
                adds.append((time.perf_counter() - start) * 1000)
                if bool(index.rebuilding()) != building:
                    building = not building
                    builds.append({"t_s": round(time.perf_counter() - t0, 3), "frames": len(index),
                                   "building": building})
        finally:
            done.set()

    thread = threading.Thread(target=writer, name="writer")
    searches: list[tuple[float, float, bool]] = []  # (start s, ms, a rebuild under way)
    lock_waits: list[float] = []  # ms each search waited for the view lock
    cpu: list[float] = []  # ms of CPU each search's thread used
    _time_lock_waits(index, lock_waits)
    # as a node does once started (services.node.app): the ~460k objects imports built are never
    # scanned again by the cyclic GC, whose full pass over them stopped a search for ~200 ms
    gc.freeze()
    t0, load = time.perf_counter(), os.getloadavg()[0]
    thread.start()
    i = 0
    while not done.is_set():
        where = TEN_PCT if i % 2 else SearchFilter()
        under_way = bool(builds) and bool(builds[-1]["building"])
        start, start_cpu = time.perf_counter(), time.thread_time()
        index.search(queries[i % QUERIES], 10, where)
        searches.append((start - t0, (time.perf_counter() - start) * 1000, under_way))
        cpu.append((time.thread_time() - start_cpu) * 1000)
        i += 1
    thread.join()
    growth_s = time.perf_counter() - t0
    index.settle()
    worst = max(searches, key=lambda s: s[1])
    out: dict[str, object] = {
        "frames": n, "batch": BATCH, "rate_per_s": rate or "unpaced", "growth_s": round(growth_s, 2),
        "search_ms": _stats([s[1] for s in searches]),
        "search_ms_during_rebuilds": _stats([s[1] for s in searches if s[2]]),
        "search_ms_unfiltered": _stats([s[1] for s in searches[0::2]]),
        "search_ms_10pct_cameras": _stats([s[1] for s in searches[1::2]]),
        "longest_search": {"at_s": round(worst[0], 3), "ms": worst[1], "during_rebuild": worst[2]},
        "search_view_lock_wait_ms": _stats(lock_waits), "search_thread_cpu_ms": _stats(cpu),
        "load_average_1m": {"start": load, "end": os.getloadavg()[0], "cpus": os.cpu_count()},
        "add_ms": _stats(adds), "rebuilds": builds, "final_shard": index.shard_stats()[0].__dict__,
        "recall@10": _recall(index, x, queries[:100]),
    }
    return index, out


def _time_lock_waits(index: FrameIndex, waits: list[float]) -> None:
    """Record how long this thread's searches wait to enter the index's view lock (ms)."""
    view = index._sync.view
    read = view.read
    me = threading.current_thread()

    @contextmanager
    def timed() -> Iterator[None]:
        start = time.perf_counter()
        with read():
            if threading.current_thread() is me:
                waits.append((time.perf_counter() - start) * 1000)
            yield

    view.read = timed  # type: ignore[method-assign]


def _recall(index: FrameIndex, x: np.ndarray, queries: np.ndarray) -> float:
    times = DAY0 + np.arange(len(x)) * (DAY_MS // len(x))
    found = 0
    for q in queries:
        exact = set(times[np.argsort(-(x @ q))[:10]].tolist())
        found += len(exact & {h.record.time_ms for h in index.search(q, 10)})
    return found / (10 * len(queries))


def restart(n: int, x: np.ndarray, cache_dir: Path, bucket: MemoryStore | None) -> tuple[FrameIndex, float]:
    """Seconds to load the shard in one bulk add (a snapshot replay) until its IVF index is built."""
    trained = None if bucket is None else TrainedCache(cast(ObjectStore, bucket), "bench")
    index = FrameIndex(DIM, vector_cache_dir=cache_dir, trained=trained)
    records = _records(0, n, n)
    t0 = time.perf_counter()
    index.add(records, x)
    index.settle()
    return index, time.perf_counter() - t0


def main() -> None:
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--rate", type=float, default=2_000.0,
                        help="keyframes added per second (0: as fast as the writer can)")
    args = parser.parse_args()
    n = 120_000 if args.quick else 300_000
    x = clustered_vectors(n, seed=0)
    bucket = MemoryStore()
    with TemporaryDirectory(prefix="vigil-bench-growth-") as tmp:
        grown, results = grow(n, args.rate, x, Path(tmp), bucket)
        with_cache, with_s = restart(n, x, Path(tmp), bucket)
        without, without_s = restart(n, x, Path(tmp), None)
        queries = clustered_vectors(QUERIES, seed=1)[:100]
        same = sum([h.record for h in with_cache.search(q, 10)] == [h.record for h in grown.search(q, 10)]
                   for q in queries)
        results["restart"] = {
            "measured": "one bulk add of the grown shard's vectors into a new index, until built",
            "with_trained_index_s": round(with_s, 2), "without_s": round(without_s, 2),
            "trained_objects": len(bucket.objects),
            "trained_bytes": sum(len(v) for v in bucket.objects.values()),
            "same_top10_as_grown_index": f"{same}/{len(queries)}",
            "recall@10_with": _recall(with_cache, x, queries),
            "recall@10_without": _recall(without, x, queries),
        }
        for index in (grown, with_cache, without):
            index.close()
    _harness.write(args.out, "do searches stall while a shard grows and is retrained; "
                   "what does a restart cost", results, args.quick)


if __name__ == "__main__":
    main()
