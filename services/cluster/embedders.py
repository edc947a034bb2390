"""Embedder actors on Ray: one model load per actor, frames sent in batches.

`start_ray` starts a local cluster when no address is configured, on loopback only and
with token authentication (see `services.security.ray_auth`); with `ray.address` ('auto' or
host:port) Vigil joins an existing cluster with that cluster's token.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray
from ray._private import ray_constants
from ray._private import services as ray_services
from ray._private.authentication.authentication_utils import is_token_auth_enabled
from ray._raylet import Config as RayConfig

from indexing.embedder import ClipEmbedder, ModelSpec
from services.security import ray_auth
from services.settings import RaySettings

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
            channel.unary_unary(GCS_FIRST_CALL)(b"", timeout=GCS_PROBE_TIMEOUT_S)
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


@ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=3)
class EmbedderActor:
    """Holds one loaded model; embeds batches of RGB frames."""

    def __init__(self, spec: ModelSpec, threads: int) -> None:
        self._embedder = ClipEmbedder(spec, threads=threads)
        self._frames = 0

    def ready(self) -> int:
        return self._embedder.dim

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        vectors = self._embedder.embed_images(frames)
        self._frames += len(frames)
        return vectors

    def frames_embedded(self) -> int:
        return self._frames

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def pid(self) -> int:
        return os.getpid()


class EmbedderPool:
    """A fixed set of embedder actors, fed round-robin with batches (thread-safe)."""

    def __init__(self, spec: ModelSpec, settings: RaySettings) -> None:
        threads = max(1, (os.cpu_count() or 1) // settings.embedders)
        self._batch = settings.embed_batch
        self._turns = itertools.count()  # round-robin across calls: ingest sends one batch per call
        self._actors = [EmbedderActor.options(name=f"vigil-embedder-{spec.model_id}-{i}",
                                              get_if_exists=True, scheduling_strategy="SPREAD"
                                              ).remote(spec, threads)
                        for i in range(settings.embedders)]
        ray.get([a.ready.remote() for a in self._actors])

    def nodes(self) -> list[str]:
        """The Ray node each embedder actor runs on."""
        return ray.get([a.node_id.remote() for a in self._actors])

    def frames_embedded(self) -> list[int]:
        """Frames each embedder actor has embedded since it started (is the work spread?)."""
        return ray.get([a.frames_embedded.remote() for a in self._actors])

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Embed frames in batches spread over the actors; order is preserved."""
        batches = [list(frames[i:i + self._batch]) for i in range(0, len(frames), self._batch)]
        refs = [self._actors[next(self._turns) % len(self._actors)].embed.remote(b) for b in batches]
        parts = ray.get(refs)
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
