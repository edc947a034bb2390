"""The composition root: settings in, wired objects out. Nothing is built at import time."""

from __future__ import annotations

import gc
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import ray

from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.errors import ModelUnavailableError
from indexing.index_versions import ActiveVersion
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex
from services.cluster.embedders import EmbedderPool, start_ray
from services.cluster.index_writers import IndexFollower, ShardWriters
from services.cluster.live_recorders import LiveConfig
from services.index.compaction import IndexCompaction
from services.index.model_switch import ModelStatus, ModelSwitcher, catch_up_from_log, startup_spec
from services.index.search import SearchEngine
from services.index.serving import Serving, ServingRef
from services.ingest.jobs import Job, JobRegistry
from services.ingest.pipeline import IngestPipeline
from services.ingest.runner import JobRunner, node_id
from services.live.manager import LiveManager
from services.node import heap
from services.node.metrics import Metrics
from services.node.periodic import Periodic
from services.security.audit import ANCHOR_FILE, KEY_FILE, AuditLog, load_key
from services.security.auth import Principal, TokenStore
from services.settings import RaySettings, Settings
from storage.cameras import CameraRegistry
from storage.export import Exporter
from storage.keys import SEGMENTS_PREFIX
from storage.recordings import Recordings
from storage.retention import Holds, RetentionSweeper, SweepReport, SweepTally
from storage.s3 import S3Endpoint, S3ObjectStore
from storage.seaweed import EmbeddedSeaweed
from storage.timeutil import to_ms
from storage.url_policy import Endpoint, UrlPolicy

logger = logging.getLogger(__name__)
GROUPS_CACHE_S = 5.0
RETENTION_CALLER = "system:retention"  # who the audit trail names for scheduled sweeps
REEMBED_BATCHES = 4  # embedding calls per log batch of a model switch's build


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
        self.own_endpoints: list[Endpoint] = []  # bound later (gRPC port 0): never fetched from

    def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if s.data_dir.stat().st_mode & 0o077:  # made by an earlier version or by hand
            logger.warning("%s was open to other users: now mode 0700 (tokens, keys, footage)", s.data_dir)
            s.data_dir.chmod(0o700)
        if s.storage.endpoint is None:
            self._seaweed = EmbeddedSeaweed(s.data_dir / "s3", bucket=s.storage.bucket)
            endpoint = self._seaweed.start()
        else:
            endpoint = s3_endpoint(s)
        self.store = S3ObjectStore(endpoint)
        self.store.ensure_bucket()
        self._endpoint = endpoint
        start_ray(s.ray, s.data_dir)
        shutil.rmtree(self._vector_cache, ignore_errors=True)  # float16 files of a killed run's index
        self._start_index()
        self.jobs = JobRegistry(self.store)
        self.cameras = CameraRegistry(self.store)
        self.holds = Holds(self.store)
        self.recordings = Recordings(self.store)
        self.exporter = Exporter(self.store, s.data_dir / "work", s.ingest.media_timeout_s)
        self.tokens = TokenStore(self.store, max_cached=s.auth.max_tracked)
        self.node_id = node_id(s.data_dir)
        audit_key = s.audit.key.get_secret_value() if s.audit.key else None
        self.audit = AuditLog(self.store, s.data_dir / "audit-journal", self.node_id,
                              key=load_key(s.data_dir / KEY_FILE, audit_key),
                              anchor=s.data_dir / ANCHOR_FILE, lock_days=s.audit.lock_days)
        if s.auth.enabled and (path := self.tokens.bootstrap_admin(s.data_dir)) is not None:
            logger.warning("no tokens in the bucket: created an admin token, saved to %s", path)
        self._groups_cache: tuple[float, dict[str, str]] = (0.0, {})
        self.retention = RetentionSweeper(self.store, self.cameras, self.holds, self,
                                          clock_ms=lambda: to_ms(datetime.now(UTC)),
                                          export_retention_days=s.storage.export_retention_days)
        self._sweeper = (Periodic(s.server.retention_interval_s, self.scheduled_retention,
                                  "retention").start() if s.server.retention_interval_s > 0 else None)
        self._following = Periodic(s.ray.follow_interval_s, self.serving.poll, "index-follow",
                                   quiet=True).start()
        # ingest reaches the serving version through `self.serving`, replaced whole by a model switch
        self.pipeline = IngestPipeline(self.store, self.serving, self.serving, self.serving.embed,
                                       s.ingest, s.data_dir / "work", s.ray.embed_batch, s.ray.embedders,
                                       dedup_cosine=lambda: self.serving.current.calibration.dedup_cosine)
        self.metrics = Metrics(vectors=lambda: len(self.index), backlog=self.jobs.backlog)
        if s.server.metrics_port is not None:
            self.metrics_port = self.metrics.serve(s.server.metrics_host, s.server.metrics_port)
            logger.info("metrics on http://%s:%d/metrics", s.server.metrics_host, self.metrics_port)
        self.runner = JobRunner(self.store, self.jobs, self.pipeline, self._index_lock,
                                self.upload_dir, self.node_id, self.metrics)
        self.runner.resume()
        self.live = self._new_live()
        self.live.resume(self.cameras.list())
        self._version_check = (Periodic(s.index.version_check_s, self.switcher.follow, "index-version",
                                        quiet=True).start() if s.index.version_check_s > 0 else None)
        gc.freeze()  # what start-up built stays: the cyclic GC need not scan it again
        heap.trim()  # the decoded snapshot records are gone: give their pages back

    def _start_index(self) -> None:
        """Serve the bucket's active index version (see `model_switch.startup_spec`)."""
        s = self.settings
        self.active_version = ActiveVersion(self.store)
        self.compaction = IndexCompaction(self.store, self._compacted_versions, s.index.compact_min_batches)
        self.serving = ServingRef(self.open_version(startup_spec(model_spec(s), self.active_version)))
        self.switcher = ModelSwitcher(self, self.active_version,
                                      REEMBED_BATCHES * s.ray.embed_batch * s.ray.embedders)
        active = self.active_version.get()
        if active is not None and active.previous and active.model_id == self.model_id:
            catch_up_from_log(self.store, active.previous, self.serving.current, s.ray.embed_batch)
        self._compactor = (Periodic(s.index.compact_interval_s, self.compaction.run_if_due,
                                    "index-compaction", quiet=True).start()
                           if s.index.compact_interval_s > 0 else None)

    def open_version(self, spec: ModelSpec) -> Serving:
        """`spec`'s index version loaded from the bucket, with its query embedder and embedder pool."""
        s = self.settings
        embedder = ClipEmbedder(spec, threads=1)  # one core per query; concurrent queries use the rest
        index = FrameIndex(embedder.dim, vector_cache_dir=self._vector_cache)
        log = IndexLog(self.store, spec.model_id, on_append=self.compaction.note_append)
        writers = ShardWriters(self._endpoint, spec.model_id, s.ray.index_feed_batches,
                               on_append=self.compaction.note_append)
        follower = IndexFollower(spec.model_id, index, lambda: log.replay(index))
        follower.mark()  # what other front ends write while the bucket is read: in the feeds
        loaded = log.replay(index)
        follower.poll()
        logger.info("index %s: %d keyframes loaded from the bucket", spec.model_id, loaded)
        pool = EmbedderPool(spec, self._pool_settings())
        calibration = s.calibrated(spec.calibration)
        return Serving(spec, embedder, index, log, writers,
                       SearchEngine(embedder, index, s.search, calibration.min_score),
                       pool, follower, calibration=calibration)

    def switch_model(self, spec: ModelSpec) -> ModelStatus:
        """Start building `spec`'s index version; every front end switches to it once built."""
        ClipEmbedder(spec).load()  # a model this node cannot load is refused now, not in the build
        return self.switcher.switch(spec)

    def _pool_settings(self) -> RaySettings:
        """The settings' pool, or while another version serves, as many embedders as CPUs are free."""
        r = self.settings.ray
        if not hasattr(self, "serving"):
            return r
        free = int(ray.available_resources().get("CPU", 0))
        if free < 1:
            raise ModelUnavailableError("no free CPU in the Ray cluster for the new model's embedders: "
                                        "add a Ray node, or lower ray.embedders and restart")
        return r.model_copy(update={"embedders": min(r.embedders, free)})

    @contextmanager
    def writers_paused(self) -> Iterator[None]:
        """Inside: no live recording, ingest job or retention sweep writes to the index. On exit
        live recordings start again, on the version served then."""
        self.live.close()
        try:
            with self._index_lock:
                yield
        finally:
            self.live = self._new_live()
            self.live.resume(self.cameras.list())

    def compact(self, serving: Serving) -> None:
        self.compaction.compact(serving.model_id, serving.index.dim)

    def retire(self, old: Serving) -> None:
        """Drop a version this node no longer serves: close its index (its vector files go) and
        stop its embedders (a local Ray cluster only: on a shared one, front ends still serving
        it use the same named actors)."""
        old.index.close()
        if not ray.is_initialized():
            return
        if self.settings.ray.address is not None:
            logger.warning("the embedders of %s stay on the shared Ray cluster", old.model_id)
            return
        for i in range(self.settings.ray.embedders):
            try:
                ray.kill(ray.get_actor(f"vigil-embedder-{old.model_id}-{i}"))
            except ValueError:
                continue

    def _compacted_versions(self) -> list[tuple[str, int]]:
        """The version served while it is the active one (a replaced version's log is where a
        starting node finds late writes, so it is left alone), and the version being built."""
        active = self.active_version.get()
        versions = [v for v in (self.serving.current, self.switcher.building) if v is not None]
        return [(v.model_id, v.index.dim) for v in versions
                if v is self.switcher.building or (active is not None and active.model_id == v.model_id)]

    def _new_live(self) -> LiveManager:
        s, serving = self.settings, self.serving.current
        return LiveManager(LiveConfig(self._endpoint, serving.model_id, s.ingest, s.ray.embed_batch,
                                      (s.data_dir / "work" / "live").resolve(), s.ray.index_feed_batches,
                                      dedup_cosine=serving.calibration.dedup_cosine),
                           serving.pool.embed, serving.index, self.url_policy)

    def url_policy(self) -> UrlPolicy:
        """What ingest URIs and camera streams may reach: the fetch.* allow-lists, never this
        node's own S3, gRPC and metrics ports (storage.url_policy)."""
        s, s3 = self.settings, urlsplit(f"//{self._endpoint.endpoint}")
        own = [Endpoint(s3.hostname or "", s3.port or (443 if self._endpoint.secure else 80)),
               *self.own_endpoints]
        if s.server.port:
            own.append(Endpoint(s.server.host, s.server.port))
        if getattr(self, "metrics_port", None):
            own.append(Endpoint(s.server.metrics_host, self.metrics_port))
        return UrlPolicy.from_settings(s.fetch.ingest_allow, s.fetch.camera_allow, own)

    @property
    def model_id(self) -> str:
        return self.serving.current.model_id

    @property
    def index(self) -> FrameIndex:
        return self.serving.current.index

    @property
    def index_log(self) -> IndexLog:
        return self.serving.current.log

    @property
    def query_embedder(self) -> ClipEmbedder:
        return self.serving.current.embedder

    @property
    def search(self) -> SearchEngine:
        return self.serving.current.search

    @property
    def pool(self) -> EmbedderPool:
        return self.serving.current.pool

    def stop(self) -> None:
        if hasattr(self, "switcher"):
            self.switcher.cancel()
        for task in (getattr(self, name, None)
                     for name in ("_version_check", "_sweeper", "_compactor", "_following")):
            if task is not None:
                task.stop()
        if hasattr(self, "live"):
            self.live.close()
        if hasattr(self, "runner"):
            self.runner.stop()
        if hasattr(self, "audit"):
            self.audit.close()
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

    def camera_changed(self) -> None:
        """A camera was registered or changed here: this node's next visibility check reads the
        registry (other front ends see it within `GROUPS_CACHE_S`)."""
        self._groups_cache = (float("-inf"), {})

    def visible_cameras(self, principal: Principal) -> frozenset[str] | None:
        """Cameras the caller may see; None means every camera (groups '*')."""
        if principal.all_cameras:
            return None
        return frozenset(c for c, g in self.camera_groups().items() if g in principal.groups)

    def stats(self, segments_cap: int) -> dict[str, object]:
        segments = 0
        for obj in self.store.list(SEGMENTS_PREFIX):
            segments += obj.key.endswith(".json")
            if segments >= segments_cap:
                break
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"cameras": len(self.cameras.list()), "segments": segments, "segments_cap": segments_cap,
                "vectors": len(self.index), "backlog_jobs": self.jobs.backlog(),
                "model_id": self.model_id, "ray_nodes": len(nodes),
                "ray_cpus": float(ray.cluster_resources().get("CPU", 0.0))}

    def scheduled_retention(self) -> SweepReport:
        """One periodic retention sweep, on the audit trail as RETENTION_CALLER with what it
        deleted, also when it fails part way."""
        tally = SweepTally()
        try:
            report = self.retention.sweep(tally)
        except Exception as exc:
            self.audit.append(RETENTION_CALLER, "retention", {**tally.report().audit_details(),
                                                              "failed": type(exc).__name__})
            raise
        self.audit.append(RETENTION_CALLER, "retention", report.audit_details())
        return report

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> int:
        """The index side of retention (`storage.retention.VectorDeleter`); persisted."""
        with self._index_lock:
            serving = self.serving.current
            serving.writes.delete_range(camera_id, start_ms, end_ms)  # other front ends follow
            return serving.index.delete_range(camera_id, start_ms, end_ms)

    @property
    def _vector_cache(self) -> Path:
        """Node-local float16 copies of the index's vectors, for exact re-ranking of large shards."""
        return self.settings.data_dir / "index-cache"

    @property
    def upload_dir(self) -> Path:
        path = self.settings.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def submit_ingest(self, camera_id: str, start_ms: int, upload: Path, label: str) -> Job:
        return self.runner.submit(camera_id, start_ms, upload, label)

