"""How fast, how exact and how big is keyframe search at city scale, with and without filters,
in process and end to end through gRPC?

    python -m benchmarks.search [--quick] --out FILE.json

100k and 1M (quick: 100k) seeded vectors of dim 256, 250k per UTC day (so 1M
is four day shards). The index is built as a node with a vector cache
directory builds it (`FrameIndex(vector_cache_dir=…)` on local disk): shards
from 50k vectors hold IVF-PQ codes in RAM and re-rank against float16 vector
files. The vectors are clustered like CLIP embeddings of CCTV keyframes: a
camera's static scene, one of 256 shared concepts (what is in front of it),
a 32-dimensional pose/lighting variation and a little isotropic noise
(uniform random vectors are adversarial for IVF and unlike real embeddings).
Records carry real segment and thumbnail keys.

Reported per size: build seconds (a day of frames added at a time, as a node
loads snapshots); memory as three figures: `ram_bytes_per_vector` (the shards'
FAISS indexes, serialized size, with their list-by-id columns, plus their record
columns; both also reported apart), `disk_bytes_per_vector` (the float16 vector
files; the pages a search reads sit in the OS page cache, not the process heap)
and `process_heap_bytes_per_vector` (growth of the process's anonymous RSS from
the empty index to the built one, after the added records are dropped: all a
node keeps per frame; and the growth from adding the last day alone, per vector
of it: what each frame beyond the first days costs). The benchmark runs itself
under PYTHONMALLOC=malloc, as `vigil serve` does (`services.node.heap`); recall@10
against exact search on the allowed subset, with and without filters; latency
p50/p95/p99 in process (`FrameIndex.search`, k = 10 and k = 88, the candidates
a search for 10 clips asks for); and latency end to end through gRPC (see
`_grpc`); plus a recall-latency sweep over nprobe, drawn as a PNG beside the JSON.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image, ImageDraw

from benchmarks import _harness
from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.vector_index import FrameIndex, FrameRecord, SearchFilter
from services.api.client import VigilClient
from services.api.server import BackgroundServer
from services.application.audit import AuditTrail
from services.application.bundle import AppServices
from services.application.search import SearchService
from services.application.visibility import Visibility
from services.index.search import SearchEngine
from services.node import heap
from services.node.app import Vigil
from services.node.metrics import Metrics
from services.security.audit import AuditLog
from services.security.auth import Role, TokenStore
from services.settings import AuthSettings, Settings
from storage import keys
from storage.cameras import CameraRegistry
from storage.keys import ALL_GROUPS
from storage.s3 import S3ObjectStore
from storage.seaweed import EmbeddedSeaweed
from storage.timeutil import DAY_MS
from storage.url_policy import Endpoint

DIM = 256
CAMERAS = 100
DAY_VECTORS = 250_000
DAY0 = 20_400 * DAY_MS  # a UTC midnight in 2025
QUERIES = 200
RECALL_QUERIES = 100
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FILTERS = {
    "10pct_cameras": SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, CAMERAS, 10))),
    "1_camera_1_hour": SearchFilter(camera_ids=frozenset({"cam-7"}), start_ms=DAY0 + 3_600_000,
                                    end_ms=DAY0 + 7_200_000),
}
TEXTS = ("a person carrying a bicycle at night", "người vác xe đạp vào ban đêm", "xe máy chở hai người",
         "a red car", "con chó", "smoke rising", "thùng rác chắn lối đi", "a truck")
GRPC_RUNS = 200


def clustered_vectors(n: int, seed: int, cameras: int = CAMERAS) -> np.ndarray:
    """`n` unit vectors of the benchmark's scene model: a camera's scene, a concept, a pose, noise."""
    world = np.random.default_rng(1234)  # the same cameras and concepts for data and queries
    scenes = world.standard_normal((cameras, DIM), dtype=np.float32)
    concepts = world.standard_normal((256, DIM), dtype=np.float32)
    pose = world.standard_normal((DIM, 32), dtype=np.float32) / np.sqrt(32)
    rng = np.random.default_rng(seed)
    x = 0.8 * scenes[np.arange(n) % cameras] + 0.6 * concepts[rng.integers(0, 256, n)]
    x += 0.5 * rng.standard_normal((n, 32), dtype=np.float32) @ pose.T
    x += 0.15 * rng.standard_normal((n, DIM), dtype=np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _times(frames: np.ndarray) -> np.ndarray:
    """Keyframe i's time: 250k per UTC day from DAY0, spread evenly over the day."""
    days, within = np.divmod(frames, DAY_VECTORS)
    out: np.ndarray = DAY0 + days * DAY_MS + within * (DAY_MS // DAY_VECTORS)
    return out


def _records(lo: int, hi: int) -> list[FrameRecord]:
    """Keyframes lo..hi-1: keyframe i is camera i mod 100's, in a 10 s segment of its own
    (a camera's keyframes are 35 s apart)."""
    out = []
    for i, t in zip(range(lo, hi), _times(np.arange(lo, hi)).tolist(), strict=True):
        camera, start = f"cam-{i % CAMERAS}", t - t % 10_000
        segment = keys.segment_key(camera, start, start + 10_000)
        out.append(FrameRecord(camera, t, t + DAY_MS // DAY_VECTORS, segment,
                               start, start + 10_000, keys.thumbnail_key(camera, t)))
    return out


def _allowed(n: int, where: SearchFilter) -> np.ndarray:
    """The keyframes (of the first n) that `where` allows."""
    frames = np.arange(n)
    m = np.ones(n, dtype=bool)
    if where.camera_ids:
        m &= np.isin(frames % CAMERAS, [int(c.removeprefix("cam-")) for c in where.camera_ids])
    times = _times(frames)
    if where.start_ms is not None:
        m &= times >= where.start_ms
    if where.end_ms is not None:
        m &= times < where.end_ms
    return np.flatnonzero(m)


def _recall(index: FrameIndex, scores: np.ndarray, queries: np.ndarray, where: SearchFilter,
            nprobe: int | None = None) -> float:
    """Mean |top-10 found ∩ exact top-10 of the allowed frames| / 10; `scores` is all × queries."""
    allowed = _allowed(len(scores), where)
    found = 0
    for j, q in enumerate(queries):
        exact = set(_times(allowed[np.argsort(-scores[allowed, j])[:10]]).tolist())
        found += len(exact & {h.record.time_ms for h in index.search(q, 10, where, nprobe)})
    return found / (10 * len(queries))


# Out-of-distribution queries (issue #19): 1M keyframes over a week from 1,000 cameras; queries
# that are not drawn from the data: random unit directions, and text-like vectors (below).
OOD_CAMERAS = 1000
OOD_DAYS = 7
OOD_QUERIES = 100
FIVE_PCT_ONE_DAY = SearchFilter(camera_ids=frozenset(f"cam-{i}" for i in range(0, OOD_CAMERAS, 20)),
                                start_ms=DAY0 + 3 * DAY_MS, end_ms=DAY0 + 4 * DAY_MS)


def _week_times(frames: np.ndarray, n: int) -> np.ndarray:
    """Keyframe i of n: spread evenly over the week from DAY0 (camera i mod 1,000)."""
    return DAY0 + frames * (OOD_DAYS * DAY_MS // n)


def _week_records(lo: int, hi: int, n: int) -> list[FrameRecord]:
    out = []
    step = OOD_DAYS * DAY_MS // n
    for i, t in zip(range(lo, hi), _week_times(np.arange(lo, hi), n).tolist(), strict=True):
        camera, start = f"cam-{i % OOD_CAMERAS}", t - t % 10_000
        out.append(FrameRecord(camera, t, t + step, keys.segment_key(camera, start, start + 10_000),
                               start, start + 10_000, keys.thumbnail_key(camera, t)))
    return out


def modality_gap(embedder: ClipEmbedder) -> dict[str, float]:
    """The bundled model's text-to-keyframe geometry, measured on held-out world footage: keyframes
    of one held-out scenario (rendered, JPEG-decoded as ingest sees them) and the held-out queries,
    both embedded by the model. `text_to_relevant`: median over queries of the best cosine between
    the query's text and a keyframe that shows what it asks for; `text_to_text`: mean cosine between
    different queries' texts (their shared offset from the image cone: the modality gap)."""
    from indexing.world.evaluate import keyframes
    from indexing.world.queries import heldout_queries
    from indexing.world.scenario import heldout_scenarios

    frames = keyframes(heldout_scenarios(0, True)[0], 640, 360)
    queries = heldout_queries()
    images = embedder.embed_images([f.image for f in frames])
    texts = embedder.embed_texts([q.text for q in queries])
    scores = texts @ images.T
    relevant = [[any(q.relevant_event(e) for e in f.events) for f in frames] for q in queries]
    best = [float(s[np.array(r)].max()) for s, r in zip(scores, relevant, strict=True) if any(r)]
    pairs = texts @ texts.T
    return {"text_to_relevant": float(np.median(best)),
            "text_to_text": float(pairs[~np.eye(len(texts), dtype=bool)].mean()),
            "text_to_any_frame": float(scores.mean()), "keyframes": len(frames), "queries": len(best)}


def text_like(x: np.ndarray, n: int, seed: int, gap: dict[str, float]) -> np.ndarray:
    """Queries placed towards data vectors as the model's texts sit towards their keyframes:
    q = c·x_t + a·u + b·e, normalised, for a random keyframe x_t, one offset direction u shared by
    every query (orthogonal to the data's mean) and a query's own random direction e, with
    c = `text_to_relevant`, a² = `text_to_text` − c²·(the data's mean pairwise cosine), b² the rest."""
    rng = np.random.default_rng(seed)
    sample = x[rng.integers(0, len(x), 2_000)]
    data_cos = float((sample @ sample.T)[~np.eye(len(sample), dtype=bool)].mean())
    c = gap["text_to_relevant"]
    a = np.sqrt(max(0.0, gap["text_to_text"] - c * c * data_cos))
    b = np.sqrt(max(0.0, 1 - c * c - a * a))
    mean = sample.mean(axis=0) / np.linalg.norm(sample.mean(axis=0))
    u = rng.standard_normal((x.shape[1],), dtype=np.float32)
    u -= (u @ mean) * mean
    e = _random_directions(n, seed + 1, x.shape[1])
    q: np.ndarray = c * x[rng.integers(0, len(x), n)] + a * u / np.linalg.norm(u) + b * e
    out: np.ndarray = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    return out


def _random_directions(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    out: np.ndarray = q / np.linalg.norm(q, axis=1, keepdims=True)
    return out


def _exact_top10(x: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None) -> list[set[int]]:
    """Each query's exact top-10 keyframe numbers among `allowed` (None: all)."""
    rows = np.arange(len(x)) if allowed is None else allowed
    out = []
    for lo in range(0, len(queries), 25):
        scores = x[rows] @ queries[lo:lo + 25].T
        out += [set(rows[np.argsort(-scores[:, j])[:10]].tolist()) for j in range(scores.shape[1])]
    return out


def _measured(index: FrameIndex, queries: np.ndarray, where: SearchFilter,
              exact: list[set[int]]) -> dict[str, object]:
    """Recall@10 against the exact top-10 times, and in-process latency, of `queries` under `where`."""
    found = sum(len(e & {h.record.time_ms for h in index.search(q, 10, where)})
                for q, e in zip(queries, exact, strict=True))
    it = iter(range(10**9))
    return {"recall@10": found / (10 * len(queries)),
            "latency_ms": _harness.latencies_ms(lambda: index.search(queries[next(it) % len(queries)], 10,
                                                                     where), 200)}


def run_ood(n: int, services: _Services, cache_dir: Path, gap: dict[str, float]) -> dict[str, object]:
    """Recall@10 and latency for in-distribution, random and text-like queries, unfiltered and with
    5 % of the cameras × one day, over n keyframes from 1,000 cameras over a week."""
    x = clustered_vectors(n, seed=0, cameras=OOD_CAMERAS)
    sets = {"in_distribution": clustered_vectors(OOD_QUERIES, seed=1, cameras=OOD_CAMERAS),
            "random": _random_directions(OOD_QUERIES, 2), "text_like": text_like(x, OOD_QUERIES, 3, gap)}
    index = FrameIndex(DIM, vector_cache_dir=cache_dir)
    t0 = time.perf_counter()
    per_day = n // OOD_DAYS + 1
    for lo in range(0, n, per_day):
        index.add(_week_records(lo, min(n, lo + per_day), n), x[lo:lo + per_day])
    index.settle()
    frames = np.arange(n)
    in_filter = np.flatnonzero(np.isin(frames % OOD_CAMERAS, np.arange(0, OOD_CAMERAS, 20))
                               & (_week_times(frames, n) >= FIVE_PCT_ONE_DAY.start_ms)
                               & (_week_times(frames, n) < (FIVE_PCT_ONE_DAY.end_ms or 0)))
    out: dict[str, object] = {"vectors": n, "cameras": OOD_CAMERAS, "days": OOD_DAYS,
                              "build_s": round(time.perf_counter() - t0, 2),
                              "allowed_by_filter": int(in_filter.size),
                              "shards": [asdict(s) for s in index.shard_stats()], "modality_gap": gap}
    times = _week_times(frames, n)
    for name, queries in sets.items():
        for label, where, allowed in (("unfiltered", SearchFilter(), None),
                                      ("5pct_cameras_1_day", FIVE_PCT_ONE_DAY, in_filter)):
            exact = [{int(t) for t in times[list(e)]} for e in _exact_top10(x, queries, allowed)]
            out[f"{name}_{label}"] = _measured(index, queries, where, exact)
    del x
    out["grpc_latency_ms"] = _grpc(index, services, cache_dir.parent / f"audit-ood-{n}",
                                   FIVE_PCT_ONE_DAY)
    index.close()
    return out


@dataclass(frozen=True)
class _Version:
    """The served version a `SearchService` reads: the benchmark's engine around its prefilled index."""

    search: SearchEngine
    model_id: str


@dataclass(frozen=True)
class _Versions:
    current: _Version


@dataclass(frozen=True)
class _Node:
    """What `create_server` reads of a `services.node.app.Vigil` for searches, around the
    benchmark's prefilled index (a real node would take hours to ingest 1M frames): only the
    search service is real."""

    settings: Settings
    tokens: TokenStore
    audit: AuditLog
    services: AppServices
    own_endpoints: list[Endpoint] = field(default_factory=list)


def _search_only(search: SearchService, visibility: Visibility) -> AppServices:
    unused: Any = None  # no other RPC is called
    return AppServices(visibility, search, unused, unused, unused, unused, unused, unused, unused, unused)


@dataclass(frozen=True)
class _Services:
    """Shared by every size: the bundled model (the query text encoder) and a real S3 server."""

    embedder: ClipEmbedder
    store: S3ObjectStore


def _grpc(index: FrameIndex, services: _Services, journal_dir: Path,
          filtered: SearchFilter = FILTERS["10pct_cameras"]) -> dict[str, object]:
    """Searches by a real client in another process (as a remote client: no GIL shared with the
    server) over loopback gRPC to a real server in this one (`create_server`: auth interceptor with
    a real viewer token, the search servicer, an audit record per search (flushed to a local journal,
    shipped to SeaweedFS in the background), metrics),
    whose `SearchEngine` wraps `index`. Text queries for 10 clips (88 keyframe candidates,
    min_score -1 so hits are returned): texts repeated, served from the engine's text embedding
    cache; distinct texts, each encoded by the bundled model; repeated texts with `filtered`."""
    settings = Settings(auth=AuthSettings(rate_per_s=1e6, burst=10**6))  # one client, as fast as it can
    tokens = TokenStore(services.store)
    engine = SearchEngine(services.embedder, index, settings.search, ModelSpec().calibration.min_score)
    metrics = Metrics(vectors=lambda: len(index), backlog=lambda: 0, free_disk=lambda: 0)
    audit = AuditLog(services.store, journal_dir, "bench")
    visibility = Visibility(CameraRegistry(services.store))  # the benchmark's token sees all groups
    search = SearchService(visibility, _Versions(_Version(engine, ModelSpec().model_id)), AuditTrail(audit),
                           settings.server, lambda kind, s: metrics.search_latency.labels(kind).observe(s))
    node = _Node(settings, tokens, audit, _search_only(search, visibility))
    token = tokens.create("bench", Role.VIEWER, [ALL_GROUPS])
    try:
        with BackgroundServer(cast(Vigil, node)) as server, ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn")) as client:
            return client.submit(_client_latencies, server.address, token, filtered).result()
    finally:
        node.audit.close()


def _client_latencies(address: str, token: str, filtered: SearchFilter) -> dict[str, object]:
    it = iter(range(10**9))
    start, end = (None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
                  for ms in (filtered.start_ms, filtered.end_ms))
    with VigilClient(address, token) as client:

        def search(distinct: bool = False, where: SearchFilter = SearchFilter()) -> None:
            i = next(it)
            text = f"{TEXTS[i % len(TEXTS)]} {i}" if distinct else TEXTS[i % len(TEXTS)]
            client.search(text, camera_ids=tuple(sorted(where.camera_ids)), min_score=-1.0,
                          start=start if where.start_ms is not None else None,
                          end=end if where.end_ms is not None else None)

        for text in TEXTS:  # fill the server's text cache
            client.search(text, min_score=-1.0)
        name = "text_cached_10pct_cameras" if filtered == FILTERS["10pct_cameras"] else "text_cached_filtered"
        return {"text_cached": _harness.latencies_ms(search, GRPC_RUNS),
                "text_distinct": _harness.latencies_ms(lambda: search(distinct=True), GRPC_RUNS),
                name: _harness.latencies_ms(lambda: search(where=filtered), GRPC_RUNS),
                "text_distinct_filtered": _harness.latencies_ms(lambda: search(True, filtered), GRPC_RUNS)}


def run(n: int, services: _Services, cache_dir: Path) -> dict[str, object]:
    x = clustered_vectors(n, seed=0)
    heap0 = _harness.anon_rss_bytes()
    index = FrameIndex(DIM, vector_cache_dir=cache_dir)
    build_s, heaps = 0.0, [0]
    for lo in range(0, n, DAY_VECTORS):  # a day at a time, as a node loads its shards' snapshots
        records = _records(lo, min(n, lo + DAY_VECTORS))
        t0 = time.perf_counter()
        index.add(records, x[lo:lo + len(records)])
        build_s += time.perf_counter() - t0
        del records
        heaps.append(_harness.anon_rss_bytes() - heap0)
    queries = clustered_vectors(QUERIES, seed=1)
    scores = x @ queries[:RECALL_QUERIES].T
    shards = index.shard_stats()
    it = iter(range(10**9))

    def search(where: SearchFilter, nprobe: int | None = None, k: int = 10) -> dict[str, float]:
        return _harness.latencies_ms(lambda: index.search(queries[next(it) % QUERIES], k, where, nprobe), 200)

    out: dict[str, object] = {
        "vectors": n, "dim": DIM, "shards": [asdict(s) for s in shards], "build_s": round(build_s, 2),
        "ram_bytes_per_vector": sum(s.bytes + s.record_bytes for s in shards) / n,
        "vector_ram_bytes_per_vector": sum(s.bytes for s in shards) / n,
        "record_ram_bytes_per_vector": sum(s.record_bytes for s in shards) / n,
        "disk_bytes_per_vector": sum(s.disk_bytes for s in shards) / n,
        "process_heap_bytes_per_vector": heaps[-1] / n,
        "process_heap_bytes_per_vector_last_day":
            (heaps[-1] - heaps[-2]) / (n - (len(heaps) - 2) * DAY_VECTORS),
        "recall@10": _recall(index, scores, queries[:RECALL_QUERIES], SearchFilter()),
        "latency_ms": search(SearchFilter()),
        "latency_ms_k88": search(SearchFilter(), k=88),
    }
    for name, where in FILTERS.items():
        out[f"recall@10_{name}"] = _recall(index, scores, queries[:RECALL_QUERIES], where)
        out[f"latency_ms_{name}"] = search(where)
    out["grpc_latency_ms"] = _grpc(index, services, cache_dir.parent / f"audit-{n}")
    out["nprobe_sweep"] = [{"nprobe": p, "recall@10": _recall(index, scores, queries[:50],
                                                              SearchFilter(), p),
                            "p50_ms": search(SearchFilter(), p)["p50"]} for p in NPROBES]
    index.close()
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
    colours = ("blue", "red", "green")
    for row, (colour, (size, sweep)) in enumerate(zip(colours, sweeps.items(), strict=False)):
        points = [xy(p["p50_ms"], p["recall@10"]) for p in sweep]  # type: ignore[attr-defined]
        draw.line(points, fill=colour, width=2)
        for p, (px, py) in zip(sweep, points, strict=True):  # type: ignore[call-overload]
            draw.text((px + 4, py - 12), str(p["nprobe"]), fill=colour)
        draw.text((w - pad - 140, h - pad - 40 + 16 * row), f"{size} vectors", fill=colour)
    img.save(path)


def main() -> None:
    heap.use_system_malloc("benchmarks.search", sys.argv[1:])  # measured as `vigil serve` runs
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--encoder-threads", type=int, default=1,
                        help="torch threads of the query text encoder (1, as services.node.app builds "
                             "its query embedder; 0: torch's default, one per CPU)")
    parser.add_argument("--ood-only", action="store_true",
                        help="only the out-of-distribution queries over 1,000 cameras × a week")
    args = parser.parse_args()
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    embedder = ClipEmbedder(ModelSpec(), threads=args.encoder_threads or None)
    embedder.embed_texts(["warm up"])
    with tempfile.TemporaryDirectory(prefix="vigil-bench-search-") as tmp, \
            EmbeddedSeaweed(Path(tmp) / "s3", bucket="bench") as endpoint:
        services = _Services(embedder, S3ObjectStore(endpoint))
        services.store.ensure_bucket()
        results: dict[str, object] = {}
        if not args.ood_only:
            results = {str(n): run(n, services, Path(tmp) / "vectors") for n in sizes}
        gap = modality_gap(embedder)
        ood = {str(n): run_ood(n, services, Path(tmp) / "vectors-ood", gap) for n in sizes[-1:]}
    if results:
        _plot(cast(dict[str, dict[str, object]], results), args.out.with_suffix(".png"))
    results["out_of_distribution"] = ood
    results["grpc_setup"] = {"measured": " ".join((_grpc.__doc__ or "").split()),
                             "query_encoder_threads": args.encoder_threads or "torch default"}
    _harness.write(args.out, "keyframe search at city scale: build, bytes, recall and latency",
                   results, args.quick)


if __name__ == "__main__":
    main()
