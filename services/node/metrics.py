"""Prometheus metrics: one registry per node (no globals), served on 127.0.0.1 by default.

Counters and histograms are updated where the work happens; gauges that
describe state (vectors, backlog) are read at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from services.ingest.jobs import JobProgress
from services.node.ports import in_use, metrics_listener

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

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics over HTTP; returns the bound port."""
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise in_use(metrics_listener(host, port), exc) from None
        return int(server.server_port)
