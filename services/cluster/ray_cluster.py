"""The Ray adapter: the only module that imports `ray`.

It owns everything Ray does for Vigil: starting or joining the cluster
(`start_ray`), the actors (embedder pools, index writers, live recorders: the
plain-Python workers of this package made Ray actors, named in Vigil's
namespace), their placement, the calls to them, shutdown, and the cluster's
facts (nodes, CPUs). Ray's errors become `ActorUnavailableError` here.

`start_ray` starts a local cluster when no address is configured, on loopback only and
with token authentication (see `services.security.ray_auth`); with `ray.address` ('auto' or
host:port) Vigil joins an existing cluster with that cluster's token. Actors open the
object store themselves, from the picklable `StoreConfig` (`storage.stores.open_store`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import ray
from ray._private import ray_constants
from ray._private import services as ray_services
from ray._private.authentication.authentication_utils import is_token_auth_enabled
from ray._raylet import Config as RayConfig  # type: ignore[attr-defined]  # compiled, not in its stub
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.embedding import EmbedFn
from indexing.frame_columns import Box, FrameKey, FrameRecord
from indexing.shards import ShardKey
from indexing.vector_index import FrameIndex, SearchFilter
from services.cluster.embedders import (
    EmbedderWorker,
    batches,
    embedder_name,
    joined,
    placement,
    worker_threads,
)
from services.cluster.index_writers import (
    Feed,
    FeedPosition,
    FeedReply,
    IndexFollower,
    ShardCalls,
    ShardWriter,
    ShardWriters,
    writer_name,
    writer_prefix,
)
from services.cluster.interface import ActorUnavailableError
from services.cluster.live_recorders import Drained, LiveConfig, LiveRecorder, LiveStatus, recorder_name
from services.cluster.shard_servers import (
    Looked,
    ServerAnswer,
    ServerHandle,
    ServerStats,
    ShardServer,
    server_name,
    written_shard,
)
from services.security import ray_auth
from services.settings import RaySettings
from storage.stores import StoreConfig, open_store
from storage.url_policy import UrlPolicy

logger = logging.getLogger(__name__)
NAMESPACE = "vigil"
LOOPBACK = "127.0.0.1"
GCS_FIRST_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # what every Ray process asks first
GCS_PROBE_TIMEOUT_S = 10.0


def start_ray(settings: RaySettings, data_dir: Path | None = None) -> None:
    """Connect to (or start) the Ray cluster once per process.

    Local mode (no `settings.address`): a new cluster (never one found on the machine or in
    RAY_ADDRESS) whose every listener (GCS, raylet and object manager, workers, agents, the
    autoscaler monitor) is bound to 127.0.0.1, with Ray's token authentication on and a fresh
    token in `{data_dir}/ray-auth-token` (0600; `services.security.ray_auth`). Cluster mode: joins with
    the cluster's token (`ray_auth.cluster_token`), token authentication on unless
    RAY_AUTH_MODE=disabled is set (then it warns).
    """
    if ray.is_initialized():
        return
    if settings.address is None:
        if data_dir is None:
            raise ValueError("a local Ray cluster needs Vigil's data folder (for its auth token)")
        _start_local(settings, data_dir)
    else:
        _join(settings.address, data_dir)
    logger.info("ray cluster resources: %s", ray.cluster_resources())


def _start_local(settings: RaySettings, data_dir: Path) -> None:
    os.environ.pop(ray_auth.TOKEN_VAR, None)  # the token stays in its file, not in every environment
    os.environ[ray_auth.TOKEN_PATH_VAR] = str(ray_auth.write_local_token(data_dir))
    if os.environ.get(ray_auth.AUTH_MODE_VAR, "token") != "token":
        logger.warning("%s=%s ignored: a local Ray cluster always uses token authentication",
                       ray_auth.AUTH_MODE_VAR, os.environ[ray_auth.AUTH_MODE_VAR])
    _token_auth_on()
    # Ray turns a loopback node address into the host's external one unless it believes it
    # runs on a single-node platform: its processes (which read the variable) and this one
    # (whose constant was read when `ray` was imported) must believe so.
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(address="local", num_cpus=settings.num_cpus, _node_ip_address=LOOPBACK,
             include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
             configure_logging=False)
    if (ip := ray.util.get_node_ip_address()) != LOOPBACK or not is_token_auth_enabled():
        ray.shutdown()
        raise ray_auth.RayAuthError(f"the local Ray cluster came up on {ip} with token authentication "
                                    f"{'on' if is_token_auth_enabled() else 'off'}; Vigil needs "
                                    f"{LOOPBACK} and token authentication (is Ray newer than 2.60?)")


def _join(address: str, data_dir: Path | None) -> None:
    mode = os.environ.get(ray_auth.AUTH_MODE_VAR)
    if mode is not None and mode.lower() != "token":
        logger.warning("joining the Ray cluster at %s with %s=%s: anyone who reaches its ports can "
                       "run code in it (see `vigil doctor`)", address, ray_auth.AUTH_MODE_VAR, mode)
    else:
        source = ray_auth.cluster_token(os.environ, data_dir, Path.home())
        if source is None:
            raise ray_auth.RayAuthError(
                f"joining the Ray cluster at {address} needs its auth token: copy the token file of "
                f"the head node to {data_dir or 'the data folder'}/{ray_auth.TOKEN_FILE} (mode 600) "
                f"or set {ray_auth.TOKEN_PATH_VAR}")
        if source.variable == "" and data_dir is not None and source.path == data_dir / ray_auth.TOKEN_FILE:
            os.environ[ray_auth.TOKEN_PATH_VAR] = str(source.path)
        if source.path is not None and source.path.is_file() and not ray_auth.is_private(source.path):
            logger.warning("the Ray token file %s is open to other users: chmod 600 it", source.path)
        _token_auth_on()
        if _answers_without_token(address):
            raise ray_auth.RayAuthError(
                f"the Ray cluster at {address} runs without token authentication: anyone who reaches "
                f"its ports can run code in it. Start every node with {ray_auth.AUTH_MODE_VAR}=token "
                f"and one token file, or set {ray_auth.AUTH_MODE_VAR}=disabled to join it anyway")
    ray.init(address=address, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
             configure_logging=False)


def _answers_without_token(address: str) -> bool:
    """True when the cluster's GCS answers a call that carries no token (auth is off there).

    A Vigil driver in token mode cannot work in such a cluster (its raylets send no token to the
    driver's own server), so this turns an obscure actor failure into a clear refusal.
    """
    import grpc

    try:
        gcs = ray_services.canonicalize_bootstrap_address(address)
    except (ConnectionError, ValueError):
        return False  # ray.init reports it
    if gcs is None:
        return False
    with grpc.insecure_channel(gcs) as channel:
        try:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(GCS_FIRST_CALL)
            call(b"", timeout=GCS_PROBE_TIMEOUT_S)
        except grpc.RpcError:
            return False  # refused (UNAUTHENTICATED), TLS, or unreachable: ray.init goes on or reports
    return True


def _token_auth_on() -> None:
    """RAY_AUTH_MODE=token for this process and the Ray processes it starts.

    Ray read its configuration when it was imported; like Ray's own `ray.init` does when it
    turns token authentication on, re-read it so this process sends the token too.
    """
    os.environ[ray_auth.AUTH_MODE_VAR] = "token"
    RayConfig.initialize("")


def _get(refs: Any, timeout_s: float | None = None) -> Any:
    """`ray.get`, with Ray's errors (a dead actor, a timeout) as `ActorUnavailableError`."""
    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.RayError as exc:
        raise ActorUnavailableError(f"a cluster worker did not answer ({type(exc).__name__}); "
                                    "Ray restarts it") from exc


class EmbedderActor(EmbedderWorker):
    """An embedder worker loading its model in its own process, on a node Ray chose."""

    def __init__(self, spec: ModelSpec, threads: int, device: str = "cpu") -> None:
        super().__init__(ClipEmbedder(spec, threads=threads, device=device))

    def node_id(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


class IndexWriterActor(ShardWriter):
    """A shard writer opening its own store."""

    def __init__(self, store: StoreConfig, model_id: str, feed_size: int) -> None:
        super().__init__(open_store(store), model_id, feed_size)


class LiveRecorderActor(LiveRecorder):
    """A live recorder opening its own store, writing through the shard-writer actors."""

    def __init__(self, camera_id: str, url: str, config: LiveConfig, embed: EmbedFn, policy: UrlPolicy,
                 store: StoreConfig, feed_size: int) -> None:
        super().__init__(camera_id, url, config, embed, policy, open_store(store),
                         ShardWriters(_WriterCalls(store, config.model_id, feed_size)))


class ShardServerActor(ShardServer):
    """A shard server on one node, opening its own store and following its shards' writer actors."""

    def __init__(self, store: StoreConfig, model_id: str, dim: int) -> None:
        super().__init__(open_store(store), model_id, dim, feed_of=functools.partial(_writer_feed, model_id))

    def node_id(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


def _writer_feed(model_id: str, key: ShardKey) -> Feed | None:
    try:
        return _WriterFeed(ray.get_actor(writer_name(model_id, key)))
    except ValueError:  # no writer of that shard (yet)
        return None


# Restarted by Ray when their process dies; calls to a dead embedder or writer are retried. Typed
# `Any`, as are their handles: Ray's stubs type neither every actor option nor the handles' methods.
_EMBEDDER: Any = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=3)(EmbedderActor)
_WRITER: Any = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=3)(IndexWriterActor)
# A shard server restarted on its node holds nothing until the router assigns its shards again
# (it answers them as missing meanwhile); one whose node died is gone with it. Searches run
# beside an assignment's load.
_SHARD_SERVER: Any = ray.remote(num_cpus=0, max_restarts=-1,  # type: ignore[call-overload]
                                max_concurrency=8)(ShardServerActor)
_RECORDER: Any = ray.remote(num_cpus=0, max_restarts=-1,  # type: ignore[call-overload]
                            max_concurrency=4)(LiveRecorderActor)  # drain long-polls beside status, stop


class RayEmbedderPool:
    """Embedder actors spread over the nodes, fed round-robin with batches (thread-safe).

    Picklable: a live recorder actor gets the pool's `embed` and calls the same actors.
    """

    def __init__(self, spec: ModelSpec, settings: RaySettings, shared: bool) -> None:
        self._model_id, self._batch, self._shared = spec.model_id, settings.embed_batch, shared
        self._turns = itertools.count()  # round-robin across calls: ingest sends one batch per call
        threads = worker_threads(settings.embedders)
        where = placement(settings.embed_device, ray.cluster_resources().get("GPU", 0.0), settings.embedders)
        self._actors: list[Any] = [
            _EMBEDDER.options(name=embedder_name(spec.model_id, i), get_if_exists=True,
                              scheduling_strategy="SPREAD", num_gpus=where.gpus_per_worker
                              ).remote(spec, threads, where.device)
            for i in range(settings.embedders)]
        _get([a.ready.remote() for a in self._actors])

    def nodes(self) -> list[str]:
        return list(_get([a.node_id.remote() for a in self._actors]))

    def frames_embedded(self) -> list[int]:
        return list(_get([a.frames_embedded.remote() for a in self._actors]))

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        refs = [self._actors[next(self._turns) % len(self._actors)].embed.remote(b)
                for b in batches(frames, self._batch)]
        return joined(_get(refs))

    def close(self) -> None:
        """Kill the actors, on a local cluster only: on a shared one, front ends still serving this
        version use the same named actors."""
        if not ray.is_initialized():
            return
        if self._shared:
            logger.warning("the embedders of %s stay on the shared Ray cluster", self._model_id)
            return
        for actor in self._actors:
            ray.kill(actor)


class _WriterCalls:
    """A `Dispatch` to the version's shard-writer actors (detached: they outlive their creator)."""

    def __init__(self, store: StoreConfig, model_id: str, feed_size: int) -> None:
        self._store, self._model_id, self._feed_size = store, model_id, feed_size
        self._actors: dict[ShardKey, Any] = {}

    def __call__(self, calls: ShardCalls) -> None:
        _get([self._actor(key).apply.remote(call) for key, call in calls])

    def _actor(self, key: ShardKey) -> Any:
        if key not in self._actors:
            self._actors[key] = _WRITER.options(
                name=writer_name(self._model_id, key), get_if_exists=True, lifetime="detached"
            ).remote(self._store, self._model_id, self._feed_size)
        return self._actors[key]


class _WriterFeed:
    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def head(self) -> FeedPosition:
        position: FeedPosition = _get(self._actor.head.remote())
        return position

    def since(self, position: FeedPosition) -> FeedReply:
        reply: FeedReply = _get(self._actor.since.remote(position))
        return reply


def _feeds(prefix: str) -> dict[str, Feed]:
    """The feeds of the named writer actors whose names start with `prefix`."""
    names = ray.util.list_named_actors(all_namespaces=False)  # names in Vigil's namespace
    return {n: _WriterFeed(ray.get_actor(n)) for n in names if n.startswith(prefix)}


class _RecorderHandle:
    def __init__(self, actor: Any) -> None:
        self._actor = actor

    def status(self, timeout_s: float) -> LiveStatus:
        status: LiveStatus = _get(self._actor.status.remote(), timeout_s)
        return status

    def drain(self, wait_s: float) -> Drained:
        drained: Drained = _get(self._actor.drain.remote(wait_s))
        return drained

    def stop(self, timeout_s: float) -> None:
        _get(self._actor.stop.remote(), timeout_s)

    def kill(self) -> None:
        ray.kill(self._actor)


class _ServerHandle:
    """A router's side of one shard-server actor; a call that fails or outlasts its timeout raises
    `ActorUnavailableError`: `timeout_s` for a question (a node that vanished mid-query never hangs
    a search), `load_timeout_s` for what may wait for a shard's load (a hung server never holds up
    an ingest batch or a refresh for good)."""

    def __init__(self, actor: Any, timeout_s: float, load_timeout_s: float) -> None:
        self._actor, self._timeout_s, self._load_timeout_s = actor, timeout_s, load_timeout_s

    def assign(self, keys: Sequence[ShardKey]) -> list[ShardKey]:
        loaded: list[ShardKey] = _get(self._actor.assign.remote(list(keys)), self._load_timeout_s)
        return loaded

    def held(self) -> list[ShardKey]:
        keys: list[ShardKey] = _get(self._actor.held.remote(), self._timeout_s)
        return keys

    def search(self, query: np.ndarray, top_k: int, where: SearchFilter,
               keys: Sequence[ShardKey]) -> ServerAnswer:
        answer: ServerAnswer = _get(self._actor.search.remote(query, top_k, where, list(keys)),
                                    self._timeout_s)
        return answer

    def vector(self, key: ShardKey, camera_id: str, time_ms: int, box: Box | None) -> Looked:
        looked: Looked = _get(self._actor.vector.remote(key, camera_id, time_ms, box), self._timeout_s)
        return looked

    def sample(self, n: int, seed: int, regions: bool | None, keys: Sequence[ShardKey]) -> np.ndarray:
        vectors: np.ndarray = _get(self._actor.sample.remote(n, seed, regions, list(keys)), self._timeout_s)
        return vectors

    def indexed(self, key: ShardKey, frames: Sequence[FrameKey]) -> list[bool] | None:
        flags: list[bool] | None = _get(self._actor.indexed.remote(key, list(frames)), self._timeout_s)
        return flags

    def add(self, key: ShardKey, records: Sequence[FrameRecord], vectors: np.ndarray) -> int | None:
        added: int | None = _get(self._actor.add.remote(key, list(records), vectors), self._load_timeout_s)
        return added

    def delete_range(self, key: ShardKey, camera_id: str, start_ms: int, end_ms: int) -> int | None:
        removed: int | None = _get(self._actor.delete_range.remote(key, camera_id, start_ms, end_ms),
                                   self._load_timeout_s)
        return removed

    def records(self, key: ShardKey) -> list[FrameRecord] | None:
        records: list[FrameRecord] | None = _get(self._actor.records.remote(key), self._load_timeout_s)
        return records

    def stats(self) -> ServerStats:
        stats: ServerStats = _get(self._actor.stats.remote(), self._timeout_s)
        return stats

    def poll(self) -> int:
        added: int = _get(self._actor.poll.remote(), self._timeout_s)
        return added

    def kill(self) -> None:
        ray.kill(self._actor, no_restart=True)


class RayShardServers:
    """One shard-server actor of the version per live node (`ServerSet`), pinned to its node and
    named after it, so every front end reaches the same ones."""

    def __init__(self, store: StoreConfig, model_id: str, dim: int, timeout_s: float,
                 load_timeout_s: float) -> None:
        self._store, self._model_id, self._dim = store, model_id, dim
        self._timeout_s, self._load_timeout_s = timeout_s, load_timeout_s

    def members(self) -> dict[str, ServerHandle]:
        nodes = [str(n["NodeID"]) for n in ray.nodes() if n.get("Alive")]
        return {node: _ServerHandle(_SHARD_SERVER.options(
            name=server_name(self._model_id, node), get_if_exists=True, lifetime="detached",
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(self._store, self._model_id, self._dim), self._timeout_s, self._load_timeout_s)
            for node in nodes}

    def written(self) -> list[ShardKey]:
        return [k for name in ray.util.list_named_actors(all_namespaces=False)
                if (k := written_shard(self._model_id, name)) is not None]


class RayCluster:
    """`Cluster` on the Ray cluster this process is connected to (`start_ray`, or `RayCluster.start`)."""

    def __init__(self, settings: RaySettings, store: StoreConfig) -> None:
        self._settings, self._store = settings, store

    @classmethod
    def start(cls, settings: RaySettings, store: StoreConfig, data_dir: Path | None = None) -> RayCluster:
        """Start or join the cluster (`start_ray`); actors open `store` to reach the bucket."""
        start_ray(settings, data_dir)
        return cls(settings, store)

    def embedder_pool(self, spec: ModelSpec, settings: RaySettings) -> RayEmbedderPool:
        return RayEmbedderPool(spec, settings, shared=self._settings.address is not None)

    def index_writers(self, model_id: str, on_append: Callable[[], None] | None = None) -> ShardWriters:
        calls = _WriterCalls(self._store, model_id, self._settings.index_feed_batches)
        return ShardWriters(calls, on_append=on_append)

    def index_follower(self, model_id: str, index: FrameIndex, reload: Callable[[], int]) -> IndexFollower:
        return IndexFollower(functools.partial(_feeds, writer_prefix(model_id)), index, reload)

    def shard_servers(self, model_id: str, dim: int) -> RayShardServers:
        return RayShardServers(self._store, model_id, dim, self._settings.shard_call_timeout_s,
                               self._settings.shard_load_timeout_s)

    def live_recorder(self, camera_id: str, url: str, config: LiveConfig, embed: EmbedFn,
                      policy: UrlPolicy) -> _RecorderHandle:
        actor = _RECORDER.options(name=recorder_name(camera_id), get_if_exists=True).remote(
            camera_id, url, config, embed, policy, self._store, self._settings.index_feed_batches)
        return _RecorderHandle(actor)

    def free_cpus(self) -> int:
        return int(ray.available_resources().get("CPU", 0))

    def nodes(self) -> list[str]:
        return [str(n["NodeID"]) for n in ray.nodes() if n.get("Alive")]

    def cpus(self) -> float:
        return float(ray.cluster_resources().get("CPU", 0.0))

    def close(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
