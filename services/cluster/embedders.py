"""Embedder workers and how a pool feeds them, in plain Python.

A pool is a fixed set of workers, each holding one loaded model; frames are
sent in batches of `ray.embed_batch`, round-robin across calls (ingest sends
one batch per call, so the calls take turns too), and come back in order.
The cluster decides where workers run: Ray actors spread over the nodes
(`services.cluster.ray_cluster`), or objects in this process
(`services.cluster.local`); `placement` decides on which device (`ray.embed_device`:
a GPU when the Ray cluster has one, unless set to 'cpu').
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from indexing.embedder import Embedder
from indexing.errors import ModelUnavailableError

EMBEDDER_PREFIX = "vigil-embedder"
Device = Literal["cpu", "cuda"]
DeviceChoice = Literal["auto", "cpu", "cuda"]


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


@dataclass(frozen=True)
class Placement:
    """Where a pool's workers run the model: the torch device and each actor's share of a GPU."""

    device: Device
    gpus_per_worker: float  # Ray's `num_gpus` for each embedder actor; 0 on CPU


def placement(choice: DeviceChoice, gpus: float, embedders: int) -> Placement:
    """The device for `ray.embed_device` = `choice` on a cluster with `gpus` GPUs in all.

    'auto' is cuda when there is a GPU. On cuda each of the `embedders` actors asks for a whole
    GPU when there are enough, else an equal share (Ray packs the shares onto the GPUs).
    """
    if choice == "cpu" or (choice == "auto" and gpus <= 0):
        return Placement("cpu", 0.0)
    if gpus <= 0:
        raise ModelUnavailableError(
            "ray.embed_device is 'cuda' but the Ray cluster has no GPU: add a GPU node, or set "
            "ray.embed_device (VIGIL_RAY__EMBED_DEVICE) to 'auto' or 'cpu'")
    share = min(1.0, gpus / embedders)
    return Placement("cuda", math.floor(share * 10_000) / 10_000)  # Ray takes 4 decimals


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
