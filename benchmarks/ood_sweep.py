"""How many lists and re-ranked candidates does one day shard need for queries unlike its data?

    python -m benchmarks.ood_sweep [--quick] [--nlist N] --out FILE.json

One UTC day of the out-of-distribution dataset of `benchmarks.search` (1M
keyframes from 1,000 cameras over a week: 143k keyframes, IVF-PQ32 with the
policy's lists (`ShardPolicy.nlist`: 2,048 here) and a vector file; quick: 50k),
with in-distribution, random-direction and text-like queries
(`benchmarks.search.text_like`, with the bundled model's modality gap measured
by `benchmarks.search.modality_gap`). At the policy's defaults (`default_*`:
`ShardPolicy.probes` lists, `rerank` candidates and those within the PQ-error
margin) and for each `SWEEP` setting: recall@10 against exact search and
in-process latency, unfiltered and filtered to 5 % of the cameras; and the
diagnosis: how many IVF lists a camera's keyframes fall into, and how far down
the coarse ranking the list of a query's worst true top-10 hit lies.
`--nlist`: that many IVF lists instead of the policy's rule (trained on
`ShardPolicy.train_per_list` vectors per list, up to the whole shard).
`build_s` is the bulk add with its one IVF-PQ build (training and encoding,
one thread): the cost of the lists.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

import benchmarks.search as bench
from benchmarks import _harness
from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.shards import ShardPolicy
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from storage import keys
from storage.timeutil import DAY_MS

# (nprobe, re-ranked candidates at least, with the PQ-error margin `ShardPolicy.rerank_margin`)
SWEEP = ((16, 200, True), (64, 200, True), (128, 200, False), (128, 1000, False), (256, 200, True))
QUERIES = 100


def main() -> None:
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--nlist", type=int, default=0, help="IVF lists (0: the policy's rule)")
    args = parser.parse_args()
    n = 50_000 if args.quick else 143_000
    gap = bench.modality_gap(ClipEmbedder(ModelSpec(), threads=1))
    x = bench.clustered_vectors(n, seed=0, cameras=bench.OOD_CAMERAS)
    sets = {"in_distribution": bench.clustered_vectors(QUERIES, seed=1, cameras=bench.OOD_CAMERAS),
            "random": bench._random_directions(QUERIES, 2),
            "text_like": bench.text_like(x, QUERIES, 3, gap)}
    step = DAY_MS // n
    records = [FrameRecord(f"cam-{i % bench.OOD_CAMERAS}", bench.DAY0 + i * step, bench.DAY0 + (i + 1) * step,
                           keys.segment_key(f"cam-{i % bench.OOD_CAMERAS}", 0, 10_000), 0, 10_000,
                           keys.thumbnail_key(f"cam-{i % bench.OOD_CAMERAS}", bench.DAY0 + i * step))
               for i in range(n)]
    camera = np.arange(n) % bench.OOD_CAMERAS
    five_pct = SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, bench.OOD_CAMERAS, 20)))
    allowed = np.flatnonzero(camera % 20 == 0)
    times = bench.DAY0 + np.arange(n) * step
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ood-") as tmp:
        index = FrameIndex(bench.DIM, vector_cache_dir=Path(tmp),
                           policy=_Lists(lists=args.nlist) if args.nlist else ShardPolicy())
        t0 = time.perf_counter()
        index.add(records, x)
        index.settle()
        out: dict[str, object] = {"vectors": n, "cameras": bench.OOD_CAMERAS, "modality_gap": gap,
                                  "nlist": args.nlist or "policy",
                                  "build_s": round(time.perf_counter() - t0, 2),
                                  "shard": dataclasses.asdict(index.shard_stats()[0])}
        shard = next(iter(index._shards.values())).vectors  # the one shard: its lists, for the diagnosis
        lists = shard._list_of[:n]
        out["lists_per_camera"] = np.percentile([len(set(lists[camera == c].tolist())) for c in range(100)],
                                                [0, 50, 100]).tolist()
        exact = {name: {label: [{int(t) for t in times[list(e)]} for e in bench._exact_top10(x, q, rows)]
                        for label, rows in (("unfiltered", None), ("5pct_cameras", allowed))}
                 for name, q in sets.items()}
        out["worst_true_list_rank"] = {name: _worst_list_rank(shard, x, q[:30], lists)
                                       for name, q in sets.items()}
        default = shard._policy
        out["default_nprobe"], out["default_rerank"] = default.probes(shard.nlist), default.rerank
        for name, q in sets.items():
            for label, where in (("unfiltered", SearchFilter()), ("5pct_cameras", five_pct)):
                out[f"default_{name}_{label}"] = bench._measured(index, q, where, exact[name][label])
        for nprobe, rerank, margin in SWEEP:
            shard._policy = dataclasses.replace(default, nprobe=nprobe, probe_share=0.0, rerank=rerank,
                                                rerank_margin=default.rerank_margin if margin else 0.0)
            setting = f"nprobe{nprobe}_rerank{rerank}{'' if margin else '_nomargin'}"
            for name, q in sets.items():
                for label, where in (("unfiltered", SearchFilter()), ("5pct_cameras", five_pct)):
                    out[f"{setting}_{name}_{label}"] = bench._measured(index, q, where, exact[name][label])
        shard._policy = default
        index.close()
    _harness.write(args.out, "one day shard: recall and latency against nprobe and re-rank candidates "
                   "for queries unlike the data", out, args.quick)


@dataclasses.dataclass(frozen=True)
class _Lists(ShardPolicy):
    """The default policy with a fixed number of IVF lists."""

    lists: int = 0

    def nlist(self, n: int, cameras: int = 0) -> int:
        return self.lists


def _worst_list_rank(shard: object, x: np.ndarray, queries: np.ndarray,
                     lists: np.ndarray) -> dict[str, float]:
    """Median and p90 over queries of the coarse rank of the list holding their worst true top-10 hit."""
    ivf = shard._index  # type: ignore[attr-defined]
    ranks = []
    for q in queries:
        true = np.argsort(-(x @ q))[:10]
        _, order = ivf.quantizer.search(q[None], ivf.nlist)
        rank = np.empty(ivf.nlist, dtype=np.int64)
        rank[order[0]] = np.arange(ivf.nlist)
        ranks.append(int(rank[lists[true]].max()))
    return {"median": float(np.median(ranks)), "p90": float(np.percentile(ranks, 90)),
            "nlist": int(ivf.nlist)}


if __name__ == "__main__":
    main()
