"""Embedder workers and how a pool feeds them, in plain Python.

A pool is a fixed set of workers, each holding one loaded model; frames are
sent in batches of `ray.embed_batch`, round-robin across calls (ingest sends
one batch per call, so the calls take turns too), and come back in order.
The cluster decides where workers run: Ray actors spread over the nodes
(`services.cluster.ray_cluster`), or objects in this process
(`services.cluster.local`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from indexing.embedder import Embedder

EMBEDDER_PREFIX = "vigil-embedder"


class EmbedderWorker:
    """Holds one loaded model; embeds batches of RGB frames and counts them."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._frames = 0

    def ready(self) -> int:
        """Load the model (a worker answers once it can embed); returns its vector size."""
        return self._embedder.dim

    def embed(self, frames: list[np.ndarray]) -> np.ndarray:
        vectors = self._embedder.embed_images(frames)
        self._frames += len(frames)
        return vectors

    def frames_embedded(self) -> int:
        return self._frames

    def pid(self) -> int:
        return os.getpid()


def embedder_name(model_id: str, i: int) -> str:
    return f"{EMBEDDER_PREFIX}-{model_id}-{i}"


def worker_threads(embedders: int) -> int:
    """Torch threads per worker: the machine's cores shared by the pool's workers."""
    return max(1, (os.cpu_count() or 1) // embedders)


def batches(frames: Sequence[np.ndarray], size: int) -> list[list[np.ndarray]]:
    return [list(frames[i:i + size]) for i in range(0, len(frames), size)]


def joined(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The batches' vectors, in order, as one array."""
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
