"""Prometheus metrics: one registry per node (no globals), served on 127.0.0.1 by default.

Counters and histograms are updated where the work happens; gauges that
describe state (vectors, backlog) are read at scrape time. The counts name every
camera, so a scrape needs credentials: `GET /metrics` with `Authorization: Bearer
TOKEN`, which `serve`'s `authorize` accepts or refuses (401, with its reason).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from services.ingest.jobs import JobProgress
from services.node.ports import in_use, metrics_listener

Authorize = Callable[[str | None], str | None]  # Authorization header -> None (allowed) or why not
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self, vectors: Callable[[], int], backlog: Callable[[], int],
                 free_disk: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.segments = Counter("vigil_segments_stored", "Segments stored", ["camera"], registry=r)
        self.keyframes = Counter("vigil_keyframes_decoded", "Keyframes decoded", ["camera"], registry=r)
        self.vectors_added = Counter("vigil_vectors_added", "Vectors added to the index", ["camera"],
                                     registry=r)
        self.ingest_errors = Counter("vigil_ingest_errors", "Ingest jobs that failed", ["camera"],
                                     registry=r)
        self.ingest_lag = Gauge("vigil_ingest_lag_seconds",
                                "Wall-clock now minus the end of the newest footage ingested",
                                ["camera"], registry=r)
        self.queue_depth = Gauge("vigil_queue_depth", "Keyframe batches waiting for embedding",
                                 ["camera"], registry=r)
        self.search_latency = Histogram("vigil_search_latency_seconds", "Search latency in the server",
                                        ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        Gauge("vigil_vectors", "Vectors in the index", registry=r).set_function(vectors)
        Gauge("vigil_ingest_backlog_jobs", "Ingest jobs pending or running", registry=r
              ).set_function(backlog)
        Gauge("vigil_data_dir_free_bytes", "Free bytes on the data folder's disk (uploads, staging, work "
              "files, the audit journal; the embedded S3 server's data)", registry=r).set_function(free_disk)

    def job_done(self, camera: str, progress: JobProgress, footage_end_s: float, now_s: float) -> None:
        self.segments.labels(camera).inc(progress.segments - progress.segments_skipped)
        self.keyframes.labels(camera).inc(progress.keyframes)
        self.vectors_added.labels(camera).inc(progress.vectors)
        self.ingest_lag.labels(camera).set(max(0.0, now_s - footage_end_s))

    def job_failed(self, camera: str) -> None:
        self.ingest_errors.labels(camera).inc()

    def serve(self, host: str, port: int, authorize: Authorize) -> int:
        """Expose /metrics over HTTP to callers `authorize` accepts; returns the bound port."""
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    return self._answer(404, b"only /metrics is served\n")
                refusal = authorize(self.headers.get("Authorization"))
                if refusal is not None:
                    return self._answer(401, refusal.encode() + b"\n", {"WWW-Authenticate": "Bearer"})
                self._answer(200, generate_latest(registry), {"Content-Type": CONTENT_TYPE_LATEST})

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "text/plain; charset=utf-8"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None  # each scrape is audited by `authorize`, not logged here

        try:
            server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise in_use(metrics_listener(host, port), exc) from None
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return int(server.server_port)

