"""Does the API hold up under many concurrent clients?

    python -m benchmarks.load [--quick] --out FILE.json

Starts a node on the embedded S3 server, ingests a few cameras of synthetic
footage, then runs N concurrent clients (each with its own viewer token) that
search by text in English and Vietnamese for T seconds, while one ingest
client uploads more footage. Reports throughput, p50/p95/p99 latency and the
error count by status code. Goal: 0 errors with 50 clients for 60 s.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from benchmarks import _harness
from services.api.client import VigilClient

QUERIES = ("a person carrying a bicycle at night", "người vác xe đạp vào ban đêm", "xe máy chở hai người",
           "a red car", "con chó", "smoke rising", "thùng rác chắn lối đi", "a truck")
START = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)


def _searcher(address: str, token: str, stop: threading.Event, seed: int,
              latencies: list[float], errors: Counter[str]) -> None:
    rng = random.Random(seed)
    with VigilClient(address, token) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                client.search(rng.choice(QUERIES), top_k=10)
                latencies.append((time.perf_counter() - t0) * 1000)
            except grpc.RpcError as exc:
                errors[exc.code().name] += 1


def _ingester(address: str, token: str, videos: list[Path], stop: threading.Event,
              done: list[str], errors: Counter[str]) -> None:
    with VigilClient(address, token) as client:
        for i, video in enumerate(videos):
            if stop.is_set():
                return
            try:
                job = client.ingest_file(video, f"cam-load-{i}", START + timedelta(minutes=i))
                done.append(client.wait_for_job(job).state)
            except grpc.RpcError as exc:
                errors[f"ingest:{exc.code().name}"] += 1


def run(clients: int, seconds: float, tmp: Path) -> dict[str, Any]:
    from services.api.server import BackgroundServer
    from services.node.app import Vigil
    from services.security.auth import ALL_GROUPS, Role
    from services.settings import load_settings
    from tests.media import make_video

    videos = [make_video(tmp / f"v{i}.mp4") for i in range(4)]
    with Vigil(load_settings(data_dir=tmp / "data")) as node, BackgroundServer(node) as server:
        admin = node.tokens.create("load-admin", Role.ADMIN, [ALL_GROUPS])
        with VigilClient(server.address, admin) as c:  # some footage to search before the load
            c.wait_for_job(c.ingest_file(videos[0], "cam-seed", START - timedelta(hours=1)))
        tokens = [node.tokens.create(f"load-viewer-{i}", Role.VIEWER, [ALL_GROUPS]) for i in range(clients)]
        stop, latencies, errors, ingested = threading.Event(), [], Counter(), []
        threads = [threading.Thread(target=_searcher, args=(server.address, t, stop, i, latencies, errors))
                   for i, t in enumerate(tokens)]
        threads.append(threading.Thread(target=_ingester,
                                        args=(server.address, admin, videos[1:], stop, ingested, errors)))
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join(120)
    a = np.array(latencies) if latencies else np.zeros(1)
    return {"clients": clients, "seconds": seconds, "searches": len(latencies),
            "searches_per_s": len(latencies) / seconds,
            "latency_ms": {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                           "p99": float(np.percentile(a, 99))},
            "errors": sum(errors.values()), "errors_by_code": dict(errors),
            "ingest_jobs_during_load": ingested}


def main() -> None:
    args = _harness.parser(__doc__ or "").parse_args()
    clients, seconds = (10, 10.0) if args.quick else (50, 60.0)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-load-") as tmp:
        result = run(clients, seconds, Path(tmp))
    _harness.write(args.out, "concurrent search + ingest load on one node", result, args.quick)


if __name__ == "__main__":
    main()
