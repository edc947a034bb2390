"""The composition root: settings in, wired objects out. Nothing is built at import time.

`Vigil(settings)` builds the whole node: the store (embedded SeaweedFS or a configured S3), the
cluster, the served index version, registries, the audit trail, the ingest runner, live
recordings, the periodic tasks and the application services (`services.application`) every
transport calls. Each part is built up front and registers how it stops; `close()` stops them in
reverse order, and a constructor that fails part way stops what it had built.
"""

from __future__ import annotations

import gc
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.errors import ModelUnavailableError
from indexing.index_versions import ActiveVersion
from indexing.indexed import IndexedFrames
from indexing.stored_index import IndexLog
from indexing.trained_cache import TrainedCache
from indexing.vector_index import FrameIndex
from services.application.admin import AdminService, NodeStats
from services.application.audit import AuditTrail
from services.application.bundle import AppServices
from services.application.cameras import CameraService
from services.application.holds import HoldService
from services.application.ingest import IngestService
from services.application.playback import EvidenceService, PlaybackService
from services.application.search import SearchService
from services.application.tokens import TokenService
from services.application.visibility import Visibility
from services.application.watchlists import AlertBell, WatchlistService
from services.application.webhooks import WebhookDelivery
from services.cluster.interface import Cluster, EmbedderPool
from services.cluster.live_recorders import LiveConfig
from services.cluster.ray_cluster import RayCluster
from services.cluster.shard_servers import stored_shards
from services.index.compaction import IndexCompaction
from services.index.model_switch import ModelStatus, ModelSwitcher, catch_up_from_log, startup_spec
from services.index.routed_frames import RoutedFrames
from services.index.router import ShardRouter, partitioned
from services.index.search import SearchEngine
from services.index.serving import Follower, Serving, ServingRef
from services.ingest.jobs import JobRegistry
from services.ingest.pipeline import IngestPipeline
from services.ingest.runner import JobRunner, node_id
from services.live.manager import LiveManager
from services.node import heap
from services.node.metrics import Metrics
from services.node.periodic import Periodic
from services.security.audit import ANCHOR_FILE, KEY_FILE, AuditLog, load_key
from services.security.auth import TokenStore
from services.security.scrapes import ScrapePolicy
from services.settings import RaySettings, Settings
from storage.cameras import CameraRegistry
from storage.export import Exporter
from storage.keys import SEGMENTS_PREFIX
from storage.object_store import ObjectStore
from storage.recordings import Recordings
from storage.retention import Holds, RetentionSweeper, SweepReport, SweepTally
from storage.s3 import S3Endpoint
from storage.seaweed import EmbeddedSeaweed
from storage.stores import open_store
from storage.timeutil import to_ms
from storage.url_policy import Endpoint, UrlPolicy
from storage.watchlists import WatchStore

logger = logging.getLogger(__name__)
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


def _private_data_dir(data_dir: Path) -> None:
    """The data folder (tokens, keys, footage), made or tightened to mode 0700."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_mode & 0o077:  # made by an earlier version or by hand
        logger.warning("%s was open to other users: now mode 0700 (tokens, keys, footage)", data_dir)
        data_dir.chmod(0o700)


class Vigil:
    """One node: storage, model, index, cluster, the ingest and live writers, and the application
    services over them (`services`), all built by the constructor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.own_endpoints: list[Endpoint] = []  # bound later (gRPC port 0): never fetched from
        self._index_lock = threading.Lock()
        self._closing = ExitStack()
        try:
            self._build(settings)
        except BaseException:
            self._closing.close()
            raise

    def _build(self, s: Settings) -> None:
        """Every part, in dependency order; each registers how it stops as soon as it exists."""
        _private_data_dir(s.data_dir)
        self._endpoint = endpoint = self._start_store(s)
        self.store: ObjectStore = open_store(endpoint)
        self.store.ensure_bucket()
        self.cluster: Cluster = RayCluster.start(s.ray, endpoint, s.data_dir)
        self._closing.callback(self.cluster.close)
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
        self._closing.callback(self.audit.close)
        if s.auth.enabled and (path := self.tokens.bootstrap_admin(s.data_dir)) is not None:
            logger.warning("no tokens in the bucket: created an admin token, saved to %s", path)
        self.retention = RetentionSweeper(self.store, self.cameras, self.holds, self,
                                          clock_ms=lambda: to_ms(datetime.now(UTC)),
                                          export_retention_days=s.storage.export_retention_days)
        if s.server.retention_interval_s > 0:
            self._periodic(s.server.retention_interval_s, self.scheduled_retention, "retention", quiet=False)
        self._periodic(s.ray.follow_interval_s, self.serving.poll, "index-follow")
        # ingest reaches the serving version through `self.serving`, replaced whole by a model switch
        self.pipeline = IngestPipeline(self.store, self.serving, self.serving, self.serving.embed,
                                       s.ingest, s.data_dir / "work", s.ray.embed_batch, s.ray.embedders,
                                       same_scene=lambda: self.serving.current.same_scene)
        self.metrics = Metrics(vectors=lambda: len(self.index), backlog=self.jobs.backlog,
                               free_disk=lambda: shutil.disk_usage(s.data_dir).free)
        self.metrics_port = (self.metrics.serve(s.server.metrics_host, s.server.metrics_port,
                                                ScrapePolicy(self.tokens, self.audit, s.auth.enabled))
                             if s.server.metrics_port is not None else None)
        if self.metrics_port is not None:
            logger.info("metrics on http://%s:%d/metrics", s.server.metrics_host, self.metrics_port)
        self.runner = JobRunner(self.store, self.jobs, self.pipeline, self._index_lock,
                                self.upload_dir, self.node_id, self.metrics, s.ingest.media_timeout_s)
        self._closing.callback(self.runner.stop)
        self.runner.resume()
        self.alert_bell = AlertBell()  # rung by live batches: alert streams read the bucket at once
        self.live = self._new_live()
        self._closing.callback(lambda: self.live.close())  # the recordings of the version served then
        self.live.resume(self.cameras.list())
        if s.index.version_check_s > 0:
            self._periodic(s.index.version_check_s, self.switcher.follow, "index-version")
        self._closing.callback(self.switcher.cancel)  # first: a build ending restarts live recordings
        self.services = self._application(s)
        self._start_watch(s)
        gc.freeze()  # what start-up built stays: the cyclic GC need not scan it again
        heap.trim()  # the decoded snapshot records are gone: give their pages back

    def _start_store(self, s: Settings) -> S3Endpoint:
        """The configured S3 endpoint, or an embedded SeaweedFS in the data folder."""
        if s.storage.endpoint is not None:
            return s3_endpoint(s)
        seaweed = EmbeddedSeaweed(s.data_dir / "s3", bucket=s.storage.bucket)
        endpoint = seaweed.start()
        self._closing.callback(seaweed.stop)
        return endpoint

    def _periodic(self, interval_s: float, task: Callable[[], object], name: str, quiet: bool = True) -> None:
        self._closing.callback(Periodic(interval_s, task, name, quiet=quiet).start().stop)

    def _application(self, s: Settings) -> AppServices:
        """The application services every transport calls."""
        visibility, trail = Visibility(self.cameras), AuditTrail(self.audit)
        ttl = s.storage.presign_ttl_s
        return AppServices(
            visibility=visibility,
            search=SearchService(visibility, self.serving, trail, s.server, self._observe_search),
            playback=PlaybackService(visibility, self.recordings, self.store, trail, s.server, ttl),
            evidence=EvidenceService(visibility, self.exporter, self.store, trail, s.server, ttl),
            cameras=CameraService(visibility, self.cameras, lambda: self.live, trail),
            ingest=IngestService(visibility, self.runner, self.jobs, self.upload_dir, s.ingest,
                                 self.url_policy),
            holds=HoldService(visibility, self.holds, trail),
            tokens=TokenService(self.tokens, trail, s.auth.token_ttl_days),
            admin=AdminService(self.retention, self.audit, trail, self.switch_model, self.switcher.status,
                               self.stats),
            watchlists=WatchlistService(visibility, WatchStore(self.store), self.serving, trail, s.watch,
                                        self.url_policy, self._presign_thumbnail, bell=self.alert_bell))

    def _presign_thumbnail(self, key: str) -> str:
        return self.store.presigned_get_url(key, timedelta(seconds=self.settings.storage.presign_ttl_s))

    def _start_watch(self, s: Settings) -> None:
        """Watchlists: entries recalibrated on recent footage, and alerts sent to webhooks (the
        matching itself runs in the shard writers: indexing.watch)."""
        if s.watch.recalibrate_s > 0:
            self._periodic(s.watch.recalibrate_s, self.services.watchlists.recalibrate, "watch-recalibrate")
        if s.watch.webhooks:
            delivery = WebhookDelivery(WatchStore(self.store), s.watch, self.url_policy, self.audit)
            self._periodic(s.watch.poll_s, delivery.run_once, "watch-webhooks")

    def _observe_search(self, kind: str, seconds: float) -> None:
        self.metrics.search_latency.labels(kind).observe(seconds)

    def _start_index(self) -> None:
        """Serve the bucket's active index version (see `model_switch.startup_spec`)."""
        s = self.settings
        self.active_version = ActiveVersion(self.store)
        self.compaction = IndexCompaction(self.store, self._compacted_versions, s.index.compact_min_batches)
        self.serving = ServingRef(self._open(startup_spec(model_spec(s), self.active_version), s.ray))
        self.switcher = ModelSwitcher(self, self.active_version,
                                      REEMBED_BATCHES * s.ray.embed_batch * s.ray.embedders)
        active = self.active_version.get()
        if active is not None and active.previous and active.model_id == self.model_id:
            catch_up_from_log(self.store, active.previous, self.serving.current, s.ray.embed_batch)
        if s.index.compact_interval_s > 0:
            self._periodic(s.index.compact_interval_s, self.compaction.run_if_due, "index-compaction")

    def open_version(self, spec: ModelSpec) -> Serving:
        """`spec`'s index version loaded from the bucket, with its query embedder and embedder pool,
        while another version serves (a model switch)."""
        return self._open(spec, self._pool_settings())

    def _open(self, spec: ModelSpec, pool_settings: RaySettings) -> Serving:
        s = self.settings
        embedder = ClipEmbedder(spec, threads=1)  # one core per query; concurrent queries use the rest
        log = IndexLog(self.store, spec.model_id, on_append=self.compaction.note_append)
        writers = self.cluster.index_writers(spec.model_id, on_append=self.compaction.note_append)
        index: IndexedFrames
        searched: FrameIndex | ShardRouter
        follower: Follower
        if s.ray.shard_servers:  # the nodes' shard servers hold every frame, this front end none (#19)
            router = partitioned(self.cluster.shard_servers(spec.model_id, embedder.dim),
                                 stored_shards(self.store, spec.model_id), s.ray.shard_replicas,
                                 embedder.dim)
            index, searched, follower = RoutedFrames(router, embedder.dim), router, router
        else:  # every shard here, trained indexes kept in the bucket so a restart does not retrain
            local = FrameIndex(embedder.dim, vector_cache_dir=self._vector_cache,
                               trained=TrainedCache(self.store, spec.model_id))
            follower = self.cluster.index_follower(spec.model_id, local, lambda: log.replay(local))
            follower.mark()  # what other front ends write while the bucket is read: in the feeds
            loaded = log.replay(local)
            follower.poll()
            logger.info("index %s: %d keyframes loaded from the bucket", spec.model_id, loaded)
            index, searched = local, local
        pool = self.cluster.embedder_pool(spec, pool_settings)
        calibration = s.calibrated(spec.calibration)
        return Serving(spec, embedder, index, log, writers,
                       SearchEngine(embedder, searched, s.search, calibration.min_score),
                       pool, follower, calibration=calibration)

    def switch_model(self, spec: ModelSpec) -> ModelStatus:
        """Start building `spec`'s index version; every front end switches to it once built."""
        ClipEmbedder(spec).load()  # a model this node cannot load is refused now, not in the build
        return self.switcher.switch(spec)

    def _pool_settings(self) -> RaySettings:
        """While another version serves: the settings' pool, or as many embedders as CPUs are free."""
        r = self.settings.ray
        free = self.cluster.free_cpus()
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
        old.pool.close()

    def _compacted_versions(self) -> list[tuple[str, int]]:
        """The version served while it is the active one (a replaced version's log is where a
        starting node finds late writes, so it is left alone), and the version being built."""
        active = self.active_version.get()
        versions = [v for v in (self.serving.current, self.switcher.building) if v is not None]
        return [(v.model_id, v.index.dim) for v in versions
                if v is self.switcher.building or (active is not None and active.model_id == v.model_id)]

    def _new_live(self) -> LiveManager:
        s, serving = self.settings, self.serving.current
        return LiveManager(self.cluster, LiveConfig(serving.model_id, s.ingest, s.ray.embed_batch,
                                                    (s.data_dir / "work" / "live").resolve(),
                                                    same_scene=serving.same_scene),
                           serving.pool.embed, self.serving, self.url_policy, self.alert_bell.ring)

    def url_policy(self) -> UrlPolicy:
        """What ingest URIs and camera streams may reach: the fetch.* allow-lists, never this
        node's own S3, gRPC and metrics ports (storage.url_policy)."""
        s, s3 = self.settings, urlsplit(f"//{self._endpoint.endpoint}")
        own = [Endpoint(s3.hostname or "", s3.port or (443 if self._endpoint.secure else 80)),
               *self.own_endpoints]
        if s.server.port:
            own.append(Endpoint(s.server.host, s.server.port))
        if self.metrics_port is not None:
            own.append(Endpoint(s.server.metrics_host, self.metrics_port))
        return UrlPolicy.from_settings(s.fetch.ingest_allow, s.fetch.camera_allow, own, s.fetch.webhook_allow)

    @property
    def model_id(self) -> str:
        return self.serving.current.model_id

    @property
    def index(self) -> IndexedFrames:
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

    def close(self) -> None:
        """Stop every part, in the reverse order of building (a running model switch first)."""
        self._closing.close()

    def __enter__(self) -> Vigil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self, segments_cap: int) -> NodeStats:
        segments = 0
        for obj in self.store.list(SEGMENTS_PREFIX):
            segments += obj.key.endswith(".json")
            if segments >= segments_cap:
                break
        return NodeStats(cameras=len(self.cameras.list()), segments=segments, segments_cap=segments_cap,
                         vectors=len(self.index), backlog_jobs=self.jobs.backlog(),
                         model_id=self.model_id, ray_nodes=len(self.cluster.nodes()),
                         ray_cpus=self.cluster.cpus())

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
