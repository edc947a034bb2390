"""What the node asks of its cluster: a small typed interface, two implementations.

`services.cluster.ray_cluster.RayCluster` runs the workers as Ray actors (the
only module that imports `ray`); `services.cluster.local.LocalCluster` runs the
same plain-Python workers as objects in this process, for unit tests. Both keep
the same semantics: named workers created once and found again by name, index
writers one per shard that run their calls one at a time, a pool's batches
round-robin over its workers, each embedder worker holding one CPU while it lives.

Errors of the cluster machinery (an actor that died and is restarting, a call
that timed out) reach callers as `ActorUnavailableError`, never as the
engine's own exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import grpc
import numpy as np

from indexing.embedder import ModelSpec
from indexing.embedding import EmbedFn
from indexing.vector_index import FrameIndex
from services.cluster.index_writers import IndexFollower, ShardWriters
from services.cluster.live_recorders import Drained, LiveConfig, LiveStatus
from services.errors import VigilError
from services.settings import RaySettings
from storage.url_policy import UrlPolicy

if TYPE_CHECKING:  # shard_servers raises this module's ActorUnavailableError
    from services.cluster.shard_servers import ServerSet


class ActorUnavailableError(VigilError):
    """A worker did not answer: it died (and is being restarted) or the call timed out."""

    code = grpc.StatusCode.UNAVAILABLE


class EmbedderPool(Protocol):
    """Embedder workers of one model, fed round-robin with batches (thread-safe)."""

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Embed frames in batches spread over the workers; order is preserved."""
        ...

    def nodes(self) -> list[str]:
        """The node each worker runs on."""
        ...

    def frames_embedded(self) -> list[int]:
        """Frames each worker has embedded since it started (is the work spread?)."""
        ...

    def close(self) -> None:
        """Stop the workers (on a cluster this node started; a shared one keeps them)."""
        ...


class RecorderHandle(Protocol):
    """The node's side of one live recorder."""

    def status(self, timeout_s: float) -> LiveStatus: ...

    def drain(self, wait_s: float) -> Drained:
        """Indexed batches, waiting up to `wait_s` for the first."""
        ...

    def stop(self, timeout_s: float) -> None:
        """Ask the recording to end; its last segment is still stored and drained."""
        ...

    def kill(self) -> None:
        """End the recorder now (no ffmpeg outlives it)."""
        ...


class Cluster(Protocol):
    """Where the node's workers run, and what it knows about the machines."""

    def embedder_pool(self, spec: ModelSpec, settings: RaySettings) -> EmbedderPool:
        """`settings.embedders` workers of `spec` (found again by name if they exist), all loaded."""
        ...

    def index_writers(self, model_id: str, on_append: Callable[[], None] | None = None) -> ShardWriters:
        """The driver side of the version's shard writers (each created on its first call)."""
        ...

    def index_follower(self, model_id: str, index: FrameIndex, reload: Callable[[], int]) -> IndexFollower:
        """A follower of the version's writer feeds into `index`; `reload` re-reads the bucket."""
        ...

    def shard_servers(self, model_id: str, dim: int) -> ServerSet:
        """The version's shard servers, one per live node (`services.cluster.shard_servers`)."""
        ...

    def live_recorder(self, camera_id: str, url: str, config: LiveConfig, embed: EmbedFn,
                      policy: UrlPolicy) -> RecorderHandle:
        """The camera's recorder, started (or the one already running under its name)."""
        ...

    def free_cpus(self) -> int:
        """CPUs no worker holds now."""
        ...

    def nodes(self) -> list[str]:
        """Ids of the live nodes."""
        ...

    def cpus(self) -> float:
        """CPUs of the live nodes together."""
        ...

    def close(self) -> None:
        """Leave the cluster (stopping it if this process started it); idempotent."""
        ...
