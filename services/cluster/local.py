"""An in-process `Cluster`: the same workers as plain objects in this process, no Ray, no processes.

Unit tests run the node's logic on it (with `tests.memory_store.MemoryStore` as the bucket). It
keeps the Ray cluster's semantics: workers are named and found again by name, each shard writer
runs one call at a time, a pool's batches go round-robin over its workers, and each embedder
worker holds one of the cluster's CPUs until its pool is closed. The store is shared by every
worker (Ray actors each open their own from the same configuration).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from indexing.embedder import ClipEmbedder, Embedder, ModelSpec
from indexing.embedding import EmbedFn
from indexing.errors import ModelUnavailableError
from indexing.shards import ShardKey
from indexing.vector_index import FrameIndex
from services.cluster.embedders import EmbedderWorker, batches, embedder_name, joined, worker_threads
from services.cluster.index_writers import (
    Feed,
    IndexFollower,
    ShardCalls,
    ShardWriter,
    ShardWriters,
    writer_name,
    writer_prefix,
)
from services.cluster.live_recorders import Drained, LiveConfig, LiveRecorder, LiveStatus, recorder_name
from services.cluster.shard_servers import LocalShardServers, ShardServer, written_shard
from services.settings import RaySettings
from storage.object_store import ObjectStore
from storage.url_policy import UrlPolicy

NODE_ID = "local"
LoadFn = Callable[[ModelSpec, int], Embedder]  # (model, torch threads) → a loaded embedder


def load_clip(spec: ModelSpec, threads: int) -> Embedder:
    return ClipEmbedder(spec, threads=threads)


class LocalEmbedderPool:
    """Embedder workers in this process, fed round-robin with batches (thread-safe)."""

    def __init__(self, workers: list[EmbedderWorker], batch: int, release: Callable[[], None]) -> None:
        self._workers, self._batch, self._release = workers, batch, release
        self._turns = itertools.count()
        for w in workers:
            w.ready()

    def nodes(self) -> list[str]:
        return [NODE_ID] * len(self._workers)

    def frames_embedded(self) -> list[int]:
        return [w.frames_embedded() for w in self._workers]

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return joined([self._workers[next(self._turns) % len(self._workers)].embed(b)
                       for b in batches(frames, self._batch)])

    def close(self) -> None:
        self._release()


class _LocalRecorder:
    def __init__(self, recorder: LiveRecorder, forget: Callable[[], None]) -> None:
        self._recorder, self._forget = recorder, forget

    def status(self, timeout_s: float) -> LiveStatus:
        return self._recorder.status()

    def drain(self, wait_s: float) -> Drained:
        return self._recorder.drain(wait_s)

    def stop(self, timeout_s: float) -> None:
        self._recorder.stop()

    def kill(self) -> None:
        self._recorder.stop()  # its threads end with the ffmpeg process; the name is free again
        self._forget()


class LocalCluster:
    """`Cluster` in this process: one node with `settings.num_cpus` CPUs (default: the machine's)."""

    def __init__(self, store: ObjectStore, settings: RaySettings | None = None,
                 load: LoadFn = load_clip) -> None:
        self._store, self._settings, self._load = store, settings or RaySettings(), load
        self._cpus = self._settings.num_cpus or os.cpu_count() or 1
        self._embedders: dict[str, EmbedderWorker] = {}  # by name; each holds one CPU
        self._writers: dict[str, ShardWriter] = {}
        self._recorders: dict[str, _LocalRecorder] = {}
        self._lock = threading.Lock()

    def embedder_pool(self, spec: ModelSpec, settings: RaySettings) -> LocalEmbedderPool:
        names = [embedder_name(spec.model_id, i) for i in range(settings.embedders)]
        threads = worker_threads(settings.embedders)
        with self._lock:
            new = [n for n in names if n not in self._embedders]
            if len(new) > self._cpus - len(self._embedders):
                raise ModelUnavailableError(f"{len(new)} more embedders need as many free CPUs; "
                                            f"{self._cpus - len(self._embedders)} of {self._cpus} are free")
            self._embedders.update((n, EmbedderWorker(self._load(spec, threads))) for n in new)
            workers = [self._embedders[n] for n in names]
        return LocalEmbedderPool(workers, settings.embed_batch, functools.partial(self._drop, names))

    def index_writers(self, model_id: str, on_append: Callable[[], None] | None = None) -> ShardWriters:
        return ShardWriters(functools.partial(self._dispatch, model_id), on_append=on_append)

    def index_follower(self, model_id: str, index: FrameIndex, reload: Callable[[], int]) -> IndexFollower:
        return IndexFollower(functools.partial(self._feeds, writer_prefix(model_id)), index, reload)

    def shard_servers(self, model_id: str, dim: int) -> LocalShardServers:
        """One shard server in this process (the node's only one), following this cluster's writers."""
        def feed_of(key: ShardKey) -> Feed | None:
            with self._lock:
                return self._writers.get(writer_name(model_id, key))

        def written() -> list[ShardKey]:
            with self._lock:
                names = list(self._writers)
            return [k for n in names if (k := written_shard(model_id, n)) is not None]

        return LocalShardServers(lambda node: ShardServer(self._store, model_id, dim, feed_of=feed_of),
                                 [NODE_ID], written)

    def live_recorder(self, camera_id: str, url: str, config: LiveConfig, embed: EmbedFn,
                      policy: UrlPolicy) -> _LocalRecorder:
        name = recorder_name(camera_id)
        with self._lock:
            if name not in self._recorders:
                recorder = LiveRecorder(camera_id, url, config, embed, policy, self._store,
                                        self.index_writers(config.model_id))
                self._recorders[name] = _LocalRecorder(recorder, functools.partial(self._forget, name))
            return self._recorders[name]

    def restart_writers(self) -> None:
        """What Ray does when the writers' processes die: each starts again with an empty feed."""
        with self._lock:
            self._writers = {name: ShardWriter(self._store, w.model_id, self._settings.index_feed_batches)
                             for name, w in self._writers.items()}

    def free_cpus(self) -> int:
        with self._lock:
            return self._cpus - len(self._embedders)

    def nodes(self) -> list[str]:
        return [NODE_ID]

    def cpus(self) -> float:
        return float(self._cpus)

    def close(self) -> None:
        with self._lock:
            recorders = list(self._recorders.values())
        for recorder in recorders:
            recorder.kill()
        with self._lock:
            self._embedders.clear()

    def _dispatch(self, model_id: str, calls: ShardCalls) -> None:
        for key, call in calls:
            self._writer(model_id, key).apply(call)

    def _writer(self, model_id: str, key: ShardKey) -> ShardWriter:
        name = writer_name(model_id, key)
        with self._lock:
            if name not in self._writers:
                self._writers[name] = ShardWriter(self._store, model_id, self._settings.index_feed_batches)
            return self._writers[name]

    def _feeds(self, prefix: str) -> dict[str, Feed]:
        with self._lock:
            return {n: w for n, w in self._writers.items() if n.startswith(prefix)}

    def _drop(self, embedders: list[str]) -> None:
        with self._lock:
            for name in embedders:
                self._embedders.pop(name, None)

    def _forget(self, recorder: str) -> None:
        with self._lock:
            self._recorders.pop(recorder, None)
