"""How fast, how exact and how big is keyframe search at city scale, with and without filters?

    python -m benchmarks.search [--quick] --out FILE.json

100k and 1M (quick: 100k) seeded vectors of dim 256, 250k per UTC day (so 1M
is four day shards, each IVF-SQ8). The vectors are clustered like CLIP
embeddings of CCTV keyframes: a camera's static scene, one of 256 shared
concepts (what is in front of it), a 32-dimensional pose/lighting variation
and a little isotropic noise (uniform random vectors are adversarial for IVF
and unlike real embeddings). Reported: build seconds, serialized FAISS bytes
per vector, recall@10 against exact search on the allowed subset, latency
p50/p95/p99 per query in-process, and a recall-latency sweep over nprobe,
also drawn as a PNG beside the JSON.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks import _harness
from indexing.shards import DAY_MS
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter

DIM = 256
CAMERAS = 100
DAY_VECTORS = 250_000
DAY0 = 20_400 * DAY_MS  # a UTC midnight in 2025
QUERIES = 200
RECALL_QUERIES = 100
NPROBES = (1, 2, 4, 8, 16, 32, 64)
FILTERS = {
    "10pct_cameras": SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, CAMERAS, 10))),
    "1_camera_1_hour": SearchFilter(camera_ids=frozenset({"cam-7"}), start_ms=DAY0 + 3_600_000,
                                    end_ms=DAY0 + 7_200_000),
}


def _vectors(n: int, seed: int) -> np.ndarray:
    world = np.random.default_rng(1234)  # the same cameras and concepts for data and queries
    scenes = world.standard_normal((CAMERAS, DIM), dtype=np.float32)
    concepts = world.standard_normal((256, DIM), dtype=np.float32)
    pose = world.standard_normal((DIM, 32), dtype=np.float32) / np.sqrt(32)
    rng = np.random.default_rng(seed)
    x = 0.8 * scenes[np.arange(n) % CAMERAS] + 0.6 * concepts[rng.integers(0, 256, n)]
    x += 0.5 * rng.standard_normal((n, 32), dtype=np.float32) @ pose.T
    x += 0.15 * rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _records(n: int) -> list[FrameRecord]:
    step = DAY_MS // DAY_VECTORS
    times = [DAY0 + (i // DAY_VECTORS) * DAY_MS + (i % DAY_VECTORS) * step for i in range(n)]
    return [FrameRecord(f"cam-{i % CAMERAS}", t, t + step, "s", 0, 0, "t") for i, t in enumerate(times)]


def _recall(index: FrameIndex, scores: np.ndarray, records: list[FrameRecord], queries: np.ndarray,
            where: SearchFilter, nprobe: int | None = None) -> float:
    """Mean |top-10 found ∩ exact top-10 of the allowed frames| / 10; `scores` is all × queries."""
    allowed = np.array([i for i, r in enumerate(records) if where.allows(r)])
    found = 0
    for j, q in enumerate(queries):
        exact = {records[i].time_ms for i in allowed[np.argsort(-scores[allowed, j])[:10]]}
        found += len(exact & {h.record.time_ms for h in index.search(q, 10, where, nprobe)})
    return found / (10 * len(queries))


def run(n: int) -> dict[str, object]:
    x, records = _vectors(n, seed=0), _records(n)
    t0 = time.perf_counter()
    index = FrameIndex(DIM)
    index.add(records, x)
    build_s = time.perf_counter() - t0
    queries = _vectors(QUERIES, seed=1)
    scores = x @ queries[:RECALL_QUERIES].T
    shards = index.shard_stats()
    it = iter(range(10**9))

    def search(where: SearchFilter, nprobe: int | None = None) -> dict[str, float]:
        return _harness.latencies_ms(lambda: index.search(queries[next(it) % QUERIES], 10, where, nprobe), 200)

    out: dict[str, object] = {
        "vectors": n, "dim": DIM, "shards": [asdict(s) for s in shards], "build_s": round(build_s, 2),
        "bytes_per_vector": sum(s.bytes for s in shards) / n,
        "recall@10": _recall(index, scores, records, queries[:RECALL_QUERIES], SearchFilter()),
        "latency_ms": search(SearchFilter()),
    }
    for name, where in FILTERS.items():
        out[f"recall@10_{name}"] = _recall(index, scores, records, queries[:RECALL_QUERIES], where)
        out[f"latency_ms_{name}"] = search(where)
    out["nprobe_sweep"] = [{"nprobe": p, "recall@10": _recall(index, scores, records, queries[:50],
                                                              SearchFilter(), p),
                            "p50_ms": search(SearchFilter(), p)["p50"]} for p in NPROBES]
    return out


def _plot(results: dict[str, dict[str, object]], path: Path) -> None:
    """Recall@10 against p50 latency, one line per size, labelled with nprobe (PIL: no matplotlib)."""
    w, h, pad = 720, 480, 60
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    sweeps = {size: r["nprobe_sweep"] for size, r in results.items()}
    top_ms = max(p["p50_ms"] for s in sweeps.values() for p in s) * 1.1  # type: ignore[attr-defined]
    low_recall = min(p["recall@10"] for s in sweeps.values() for p in s)  # type: ignore[attr-defined]

    def xy(ms: float, recall: float) -> tuple[float, float]:
        return (pad + (w - 2 * pad) * ms / top_ms,
                h - pad - (h - 2 * pad) * (recall - low_recall) / max(1 - low_recall, 1e-6))

    draw.line([(pad, pad), (pad, h - pad), (w - pad, h - pad)], fill="black")
    draw.text((w // 2 - 60, h - pad + 25), f"p50 latency, ms (0 to {top_ms:.2f})", fill="black")
    draw.text((5, pad - 20), f"recall@10 ({low_recall:.2f} to 1.00)", fill="black")
    for row, (colour, (size, sweep)) in enumerate(zip(("blue", "red", "green"), sweeps.items(), strict=False)):
        points = [xy(p["p50_ms"], p["recall@10"]) for p in sweep]  # type: ignore[attr-defined]
        draw.line(points, fill=colour, width=2)
        for p, (px, py) in zip(sweep, points, strict=True):  # type: ignore[call-overload]
            draw.text((px + 4, py - 12), str(p["nprobe"]), fill=colour)
        draw.text((w - pad - 140, h - pad - 40 + 16 * row), f"{size} vectors", fill=colour)
    img.save(path)


def main() -> None:
    args = _harness.parser(__doc__ or "").parse_args()
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    results = {str(n): run(n) for n in sizes}
    _plot(results, args.out.with_suffix(".png"))
    _harness.write(args.out, "keyframe search at city scale: build, bytes, recall and latency",
                   results, args.quick)


if __name__ == "__main__":
    main()
