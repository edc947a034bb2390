"""Embedder actors on Ray: one model load per actor, frames sent in batches.

`ray.init()` starts a local cluster when no address is configured; with
`ray.address` ('auto' or host:port) Vigil joins an existing cluster.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence

import numpy as np
import ray

from indexing.embedder import ClipEmbedder, ModelSpec
from services.settings import RaySettings

logger = logging.getLogger(__name__)
NAMESPACE = "vigil"


def start_ray(settings: RaySettings) -> None:
    """Connect to (or start) the Ray cluster once per process."""
    if ray.is_initialized():
        return
    local = settings.address is None
    ray.init(address=settings.address, num_cpus=settings.num_cpus if local else None,
             _node_ip_address="127.0.0.1" if local else None,  # a local cluster stays on loopback
             include_dashboard=False, namespace=NAMESPACE, log_to_driver=False,
             configure_logging=False)
    logger.info("ray cluster resources: %s", ray.cluster_resources())


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
