"""Switching the model: build the new model's index version in the background, then switch atomically.

The build opens the new version (whatever the bucket already holds for that
model: a resumed build, or a version served before), re-embeds every keyframe
the serving version holds and the new one lacks from its stored thumbnail,
and repeats that for keyframes ingested meanwhile until few are left. Searches
and ingest keep using the serving version throughout. Then, with the node's
writers paused (live recordings ended, no ingest job or retention sweep
running), it catches up the last keyframes, copies the serving version's
tombstones, writes the bucket's active-version record (the switch for every
front end) and replaces the node's `Serving` in one assignment. The old
version's objects stay in the bucket.

Another front end that sees the record name a version it does not serve
runs the same build without writing the record (`follow`), so keyframes it
indexed into the old version are carried over by it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

import grpc

from indexing.embedder import ModelSpec
from indexing.errors import ModelUnavailableError
from indexing.index_versions import ActiveVersion, IndexVersion
from indexing.indexed import IndexedFrames
from indexing.reembed import Reembedded, Reembedder
from indexing.stored_index import IndexLog, apply_tombstones
from indexing.vector_index import FrameRecord
from services.errors import VigilError
from services.index.serving import Serving, ServingRef
from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)
MAX_PASSES = 5  # catch-up passes before pausing writers for the rest


class SwitchRefusedError(VigilError):
    """A switch cannot start (or finish) now; the message says why."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class SwitchState(StrEnum):
    IDLE = "idle"
    BUILDING = "building"  # re-embedding into the new version; the old one serves
    SWITCHING = "switching"  # writers paused for the last keyframes and the switch
    FAILED = "failed"


@dataclass(frozen=True)
class BuildProgress:
    state: SwitchState = SwitchState.IDLE
    target_model_id: str = ""
    frames_total: int = 0  # keyframes of the serving version
    frames_indexed: int = 0  # keyframes in the new version so far
    frames_skipped: int = 0  # thumbnails gone (footage expired meanwhile)
    error: str = ""


@dataclass(frozen=True)
class ModelStatus:
    active: IndexVersion | None  # the bucket's record
    serving_model_id: str  # this node's
    progress: BuildProgress


class SwitchHost(Protocol):
    """What a switch needs from the node."""

    store: ObjectStore
    serving: ServingRef

    def open_version(self, spec: ModelSpec) -> Serving: ...

    def writers_paused(self) -> AbstractContextManager[None]: ...

    def compact(self, serving: Serving) -> None: ...

    def retire(self, old: Serving) -> None: ...


class ModelSwitcher:
    def __init__(self, host: SwitchHost, active: ActiveVersion, batch: int) -> None:
        self._host, self._active, self._batch = host, active, batch
        self._progress = BuildProgress()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.building: Serving | None = None  # the version being built, compacted like the served one
        self._cancelled = threading.Event()

    def status(self) -> ModelStatus:
        return ModelStatus(self._active.get(), self._host.serving.current.model_id, self._progress)

    def switch(self, spec: ModelSpec) -> ModelStatus:
        """Start building `spec`'s version; every front end switches to it once built."""
        if spec.model_id == self._host.serving.current.model_id:
            raise SwitchRefusedError(f"model {spec.model_id} is already active")
        self._start(spec, publish=True)
        return self.status()

    def follow(self) -> str:
        """Switch to the bucket's active version if this node serves another (run periodically)."""
        version = self._active.get()
        if version is None or version.model_id == self._host.serving.current.model_id:
            return "up to date"
        if self.busy():
            return "a switch is in progress"
        spec = version.spec()
        if spec.model_id != version.model_id:
            logger.error("the active index version %s needs model %s, which this node loads as %s: "
                         "install the same weights at that path", version.model_id, spec, spec.model_id)
            return "cannot load the active model"
        logger.warning("another front end switched the index to %s: following", version.model_id)
        self._start(spec, publish=False)
        return f"following {version.model_id}"

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cancel(self, timeout_s: float = 60.0) -> None:
        """Stop a build at its next batch (the node is stopping); what it logged stays for a retry."""
        self._cancelled.set()
        self.wait(timeout_s)

    def wait(self, timeout_s: float | None = None) -> BuildProgress:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self._progress

    def _start(self, spec: ModelSpec, publish: bool) -> None:
        with self._lock:
            if self.busy():
                raise SwitchRefusedError(f"a switch to {self._progress.target_model_id} is in progress")
            self._progress = BuildProgress(SwitchState.BUILDING, spec.model_id)
            self._thread = threading.Thread(target=self._run, args=(spec, publish),
                                            name="model-switch", daemon=True)
            self._thread.start()

    def _run(self, spec: ModelSpec, publish: bool) -> None:
        new = None
        try:
            new = self.building = self._host.open_version(spec)
            self._build(new, publish)
            self._progress = replace(self._progress, state=SwitchState.IDLE)
        except Exception as exc:
            logger.exception("switching the index to %s failed", spec.model_id)
            self._progress = replace(self._progress, state=SwitchState.FAILED, error=str(exc)[:500])
            if new is not None and new is not self._host.serving.current:
                self._host.retire(new)
        finally:
            self.building = None

    def _build(self, new: Serving, publish: bool) -> None:
        old = self._host.serving.current
        reembed = Reembedder(self._host.store, new.pool.embed, new.log, new.index, self._batch)
        for _ in range(MAX_PASSES):
            if self._carry_over(old.index, new.index, reembed) <= self._batch:
                break
        self._host.compact(new)  # a node starting on the new version loads snapshot runs
        self._progress = replace(self._progress, state=SwitchState.SWITCHING)
        with self._host.writers_paused():
            self._carry_over(old.index, new.index, reembed)
            carry_tombstones(old.log, new.log, new.index)
            if publish:
                self._active.put(IndexVersion.of(new.spec, old.model_id, int(time.time() * 1000)))
            elif (active := self._active.get()) is None or active.model_id != new.model_id:
                raise SwitchRefusedError("the active version changed again while following; retrying")
            self._host.serving.replace(new)
        logger.warning("index switched from %s to %s (%d keyframes)", old.model_id, new.model_id,
                       len(new.index))
        self._host.retire(old)

    def _carry_over(self, old: IndexedFrames, new: IndexedFrames, reembed: Reembedder) -> int:
        """Re-embed what `old` holds and `new` lacks, a shard at a time (a partitioned index's
        shards are read from its servers one by one); returns how many frames were missing."""
        self._progress = replace(self._progress, frames_total=len(old), frames_indexed=len(new))
        missing = 0
        for key in old.shard_keys():
            records = list(old.records([key]))
            lacking = [r for r, there in zip(records, new.indexed([r.key for r in records]), strict=True)
                       if not there]
            missing += len(lacking)
            reembed.run(lacking, self._count(new))
        return missing

    def _count(self, index: IndexedFrames) -> Callable[[Reembedded], None]:
        skipped = self._progress.frames_skipped

        def update(done: Reembedded) -> None:
            if self._cancelled.is_set():
                raise SwitchRefusedError("the switch was cancelled: the node is stopping")
            self._progress = replace(self._progress, frames_indexed=len(index),
                                     frames_skipped=skipped + done.skipped)
        return update


def startup_spec(configured: ModelSpec, active: ActiveVersion) -> ModelSpec:
    """The model a starting node serves: the bucket's active version, whatever the settings name.

    A new bucket's first node records the configured model as active. A node
    configured with another model serves the active one and says so; one that
    cannot load the active model (not installed at that path) refuses to
    start rather than serve a stale version.
    """
    version = active.get()
    if version is None:
        active.put(IndexVersion.of(configured))
        return configured
    if version.model_id == configured.model_id:
        return configured
    spec = version.spec()
    if spec.model_id != version.model_id:
        raise ModelUnavailableError(
            f"the bucket's active index version is {version.model_id} (model {version.name}, "
            f"path {version.path}), which this node cannot load (it finds {spec.model_id}): "
            "install that model at the same path here")
    logger.warning("settings name model %s, but the bucket's active index version is %s: serving %s "
                   "(use `vigil model switch` to change the model)", configured.model_id,
                   version.model_id, version.model_id)
    return spec


def carry_tombstones(old: IndexLog, new: IndexLog, index: IndexedFrames) -> int:
    """Copy into `new` the deletions of `old` it lacks (persisted, and applied to `index`)."""
    have = new.tombstones()
    missing = [t for t in old.tombstones() if not have.covers(t)]
    new.add_tombstones(missing)
    return apply_tombstones(index, missing)


def catch_up_from_log(store: ObjectStore, previous: str, serving: Serving, batch: int) -> Reembedded:
    """Carry over keyframes a front end logged into the previous version after the switch.

    Only the previous version's log is read (it is no longer compacted once
    replaced), so this costs little when there is nothing to carry.
    """
    old = IndexLog(store, previous)
    removed = carry_tombstones(old, serving.log, serving.index)
    deleted = serving.log.tombstones()
    logged = [r for b in old.log_batches() for r in b.records if not deleted.deletes(r.camera_id, r.time_ms)]
    there = serving.index.indexed([r.key for r in logged])
    late: Sequence[FrameRecord] = [r for r, indexed in zip(logged, there, strict=True) if not indexed]
    if not late and not removed:
        return Reembedded(0, 0)
    logger.warning("carrying %d keyframes and %d deletions logged into %s after the switch",
                   len(late), removed, previous)
    return Reembedder(store, serving.pool.embed, serving.log, serving.index, batch).run(late)
