"""How fast and how exact is keyframe search, with and without filters?

    python -m benchmarks.search [--quick] --out FILE.json

Seeded unit vectors of the bundled model's dimension; recall@10 against exact
search (numpy) on the allowed subset; latency p50/p95/p99 per query in-process.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import _harness
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter

DIM = 256
CAMERAS = 100
QUERIES = 200


def _dataset(n: int, seed: int) -> tuple[list[FrameRecord], np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((64, DIM)).astype(np.float32)
    x = centers[rng.integers(0, 64, n)] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    records = [FrameRecord(f"cam-{i % CAMERAS}", i * 10_000, i * 10_000 + 10_000, "s", 0, 0, "t")
               for i in range(n)]
    return records, x


def _recall(index: FrameIndex, x: np.ndarray, queries: np.ndarray, where: SearchFilter) -> float:
    records = list(index.records())
    allowed = np.array([i for i, r in enumerate(records) if where.allows(r)])
    found = 0
    for q in queries:
        exact = set(allowed[np.argsort(-(x[allowed] @ q))[:10]].tolist())
        got = {h.record.time_ms // 10_000 for h in index.search(q, 10, where)}
        found += len(exact & got)
    return found / (10 * len(queries))


def run(n: int) -> dict[str, object]:
    records, x = _dataset(n, seed=0)
    t0 = time.perf_counter()
    index = FrameIndex(DIM)
    index.add(records, x)
    build_s = time.perf_counter() - t0
    queries = _dataset(QUERIES, seed=1)[1]
    where = SearchFilter(camera_ids=frozenset({f"cam-{i}" for i in range(10)}))
    it = iter(range(10**9))
    return {
        "vectors": n, "dim": DIM, "index": "flat", "build_s": build_s,
        "recall@10": _recall(index, x, queries[:50], SearchFilter()),
        "recall@10_filtered_10pct_cameras": _recall(index, x, queries[:50], where),
        "latency_ms": _harness.latencies_ms(lambda: index.search(queries[next(it) % QUERIES], 10), 100),
        "latency_ms_filtered": _harness.latencies_ms(
            lambda: index.search(queries[next(it) % QUERIES], 10, where), 50),
    }


def main() -> None:
    args = _harness.parser(__doc__ or "").parse_args()
    sizes = [20_000] if args.quick else [100_000, 1_000_000]
    _harness.write(args.out, "keyframe search latency and recall",
                   {str(n): run(n) for n in sizes}, args.quick)


if __name__ == "__main__":
    main()
