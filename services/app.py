"""The composition root: settings in, wired objects out. Nothing is built at import time."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import ray

from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.index_log import IndexLog
from indexing.vector_index import FrameIndex
from services.audit import AuditLog
from services.auth import Principal, TokenStore
from services.embedding_pool import EmbedderPool, start_ray
from services.index_compaction import IndexCompaction
from services.ingest import IngestPipeline
from services.job_runner import JobRunner, node_id
from services.jobs import Job, JobRegistry
from services.live import LiveManager
from services.live_recorder import LiveConfig
from services.metrics import Metrics
from services.periodic import Periodic
from services.search import SearchEngine
from services.settings import Settings
from storage.cameras import CameraRegistry
from storage.export import Exporter
from storage.recordings import Recordings
from storage.retention import Holds, RetentionSweeper
from storage.s3 import S3Endpoint, S3ObjectStore
from storage.seaweed import EmbeddedSeaweed
from storage.timeutil import to_ms

logger = logging.getLogger(__name__)
GROUPS_CACHE_S = 5.0


def model_spec(settings: Settings) -> ModelSpec:
    m = settings.model
    return ModelSpec(name=m.name, pretrained=m.pretrained, path=m.path)


def s3_endpoint(settings: Settings) -> S3Endpoint:
    s = settings.storage
    if s.endpoint is None:
        raise ValueError("no S3 endpoint configured")
    return S3Endpoint(endpoint=s.endpoint, bucket=s.bucket, secure=s.secure, region=s.region,
                      access_key=s.access_key.get_secret_value() if s.access_key else "",
                      secret_key=s.secret_key.get_secret_value() if s.secret_key else "")


class Vigil:
    """One node: storage, model, index, Ray embedders and the ingest/search operations."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._seaweed: EmbeddedSeaweed | None = None
        self._index_lock = threading.Lock()

    def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if s.storage.endpoint is None:
            self._seaweed = EmbeddedSeaweed(s.data_dir / "s3", bucket=s.storage.bucket)
            endpoint = self._seaweed.start()
        else:
            endpoint = s3_endpoint(s)
        self.store = S3ObjectStore(endpoint)
        self.store.ensure_bucket()
        spec = model_spec(s)
        self.model_id = spec.model_id
        self.query_embedder = ClipEmbedder(spec)
        self.index = FrameIndex(self.query_embedder.dim)
        self.compaction = IndexCompaction(self.store, lambda: [(self.model_id, self.index.dim)],
                                          s.index.compact_min_batches)
        self.index_log = IndexLog(self.store, self.model_id, on_append=self.compaction.note_append)
        loaded = self.index_log.replay(self.index)
        logger.info("index %s: %d keyframes loaded from the bucket", self.model_id, loaded)
        self._compactor = (Periodic(s.index.compact_interval_s, self.compaction.run_if_due,
                                    "index-compaction").start() if s.index.compact_interval_s > 0 else None)
        self.search = SearchEngine(self.query_embedder, self.index, s.search)
        self.jobs = JobRegistry(self.store)
        self.cameras = CameraRegistry(self.store)
        self.holds = Holds(self.store)
        self.recordings = Recordings(self.store)
        self.exporter = Exporter(self.store, s.data_dir / "work", s.ingest.media_timeout_s)
        self.tokens = TokenStore(self.store)
        self.audit = AuditLog(self.store)
        if s.auth.enabled and (path := self.tokens.bootstrap_admin(s.data_dir)) is not None:
            logger.warning("no tokens in the bucket: created an admin token, saved to %s", path)
        self._groups_cache: tuple[float, dict[str, str]] = (0.0, {})
        self.retention = RetentionSweeper(self.store, self.cameras, self.holds, self,
                                          clock_ms=lambda: to_ms(datetime.now(UTC)))
        self._sweeper = (Periodic(s.server.retention_interval_s, self.retention.sweep, "retention").start()
                         if s.server.retention_interval_s > 0 else None)
        start_ray(s.ray)
        self.pool = EmbedderPool(spec, s.ray)
        self.pipeline = IngestPipeline(self.store, self.index, self.index_log, self.pool.embed,
                                       s.ingest, s.data_dir / "work", s.ray.embed_batch)
        self.metrics = Metrics(vectors=lambda: len(self.index), backlog=self.jobs.backlog)
        if s.server.metrics_port is not None:
            self.metrics_port = self.metrics.serve(s.server.metrics_host, s.server.metrics_port)
            logger.info("metrics on http://%s:%d/metrics", s.server.metrics_host, self.metrics_port)
        self.runner = JobRunner(self.store, self.jobs, self.pipeline, self._index_lock,
                                self.upload_dir, node_id(s.data_dir), self.metrics)
        self.runner.resume()
        self.live = LiveManager(LiveConfig(endpoint, self.model_id, s.ingest, s.ray.embed_batch,
                                           (s.data_dir / "work" / "live").resolve()),
                                self.pool.embed, self.index)
        self.live.resume(self.cameras.list())

    def stop(self) -> None:
        for task in (getattr(self, "_sweeper", None), getattr(self, "_compactor", None)):
            if task is not None:
                task.stop()
        if hasattr(self, "live"):
            self.live.close()
        if hasattr(self, "runner"):
            self.runner.stop()
        if ray.is_initialized():
            ray.shutdown()
        if self._seaweed is not None:
            self._seaweed.stop()

    def __enter__(self) -> Vigil:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def camera_groups(self) -> dict[str, str]:
        """camera id → group, from the registry, cached for a few seconds."""
        loaded_at, groups = self._groups_cache
        if time.monotonic() - loaded_at > GROUPS_CACHE_S:
            groups = {c.camera_id: c.group for c in self.cameras.list()}
            self._groups_cache = (time.monotonic(), groups)
        return groups

    def visible_cameras(self, principal: Principal) -> frozenset[str] | None:
        """Cameras the caller may see; None means every camera (groups '*')."""
        if principal.all_cameras:
            return None
        return frozenset(c for c, g in self.camera_groups().items() if g in principal.groups)

    def stats(self, segments_cap: int) -> dict[str, object]:
        segments = 0
        for obj in self.store.list("segments/"):
            segments += obj.key.endswith(".json")
            if segments >= segments_cap:
                break
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"cameras": len(self.cameras.list()), "segments": segments, "segments_cap": segments_cap,
                "vectors": len(self.index), "backlog_jobs": self.jobs.backlog(),
                "model_id": self.model_id, "ray_nodes": len(nodes),
                "ray_cpus": float(ray.cluster_resources().get("CPU", 0.0))}

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """The index side of retention (`storage.retention.VectorDeleter`); persisted."""
        with self._index_lock:
            return self.index_log.delete_range(self.index, camera_id, start_ms, end_ms)

    @property
    def upload_dir(self) -> Path:
        path = self.settings.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def submit_ingest(self, camera_id: str, start_ms: int, upload: Path, label: str) -> Job:
        return self.runner.submit(camera_id, start_ms, upload, label)

