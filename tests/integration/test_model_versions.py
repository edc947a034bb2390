"""Model versions on a real S3 server with two real models (seeded random weights → the bundled
vigil-tiny): the new version is built in the background from the stored thumbnails while the old
one serves, catches up with what was ingested and deleted meanwhile, and the switch is one record
that a restarted node follows. Embedders run in-process here; `test_model_switch_cli` runs the
same switch through Ray, gRPC and the CLI."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image

from indexing.calibration import Calibration
from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.index_snapshots import Compactor
from indexing.index_versions import ActiveVersion, IndexVersion
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, FrameRecord
from services.index.model_switch import ModelSwitcher, SwitchState, catch_up_from_log, startup_spec
from services.index.search import SearchEngine, SearchQuery
from services.index.serving import Serving, ServingRef
from services.settings import SearchSettings
from storage import keys
from storage.s3 import S3ObjectStore

T0 = 1_790_000_000_000
FRAMES = SearchQuery(top_k=100, frames=True, min_score=-1.0)


class _Pool:
    """An in-process stand-in for `EmbedderPool`; a closed gate holds the build mid-way."""

    def __init__(self, embedder: ClipEmbedder, gate: threading.Event | None,
                 entered: threading.Event) -> None:
        self._embedder, self._gate, self._entered = embedder, gate, entered

    def embed(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        if self._gate is not None:
            self._entered.set()
            assert self._gate.wait(120)
        return self._embedder.embed_images(frames)


class Host:
    """The index side of a node (`SwitchHost`), on a real bucket, without Ray."""

    def __init__(self, store: S3ObjectStore, configured: ModelSpec) -> None:
        self.store = store
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a build reached the new model's embedder
        self.lock = threading.Lock()  # the node's index lock: ingest and retention hold it
        self.retired: list[str] = []
        self.active = ActiveVersion(store)
        self.serving = ServingRef(self.open_version(startup_spec(configured, self.active)))

    def open_version(self, spec: ModelSpec) -> Serving:
        embedder = ClipEmbedder(spec)
        index = FrameIndex(embedder.dim)
        log = IndexLog(self.store, spec.model_id)
        log.replay(index)
        pool = _Pool(embedder, self.gate if hasattr(self, "serving") else None, self.entered)
        calibration = spec.calibration
        return Serving(spec, embedder, index, log, log,
                       SearchEngine(embedder, index, SearchSettings(), calibration.min_score),
                       cast(Any, pool), calibration=calibration)

    @contextmanager
    def writers_paused(self) -> Iterator[None]:
        with self.lock:
            yield

    def compact(self, serving: Serving) -> None:
        Compactor(self.store, serving.model_id, serving.index.dim).compact()

    def retire(self, old: Serving) -> None:
        self.retired.append(old.model_id)

    def ingest(self, camera: str, times: Sequence[int], log: IndexLog | None = None) -> None:
        """What the ingest pipeline does: thumbnails first, then embed, log (acknowledged), add."""
        with self.lock:
            records = [_thumbnail(self.store, camera, t) for t in times]
            images = [np.asarray(Image.open(io.BytesIO(self.store.get_bytes(r.thumbnail_key))))
                      for r in records]
            if log is None:
                vectors = self.serving.embed(images)
                self.serving.append(f"{camera}-{times[0]}", records, vectors)
                self.serving.add(records, vectors)
            else:  # a lagging front end, still writing into an older version
                log.append(f"{camera}-{times[0]}", records, ClipEmbedder(_spec_of(log)).embed_images(images))

    def frames(self) -> dict[tuple[str, int], float]:
        """Every frame's score for a fixed text query, on the serving version."""
        hits = self.serving.current.search.by_text("a bicycle at night", FRAMES).hits
        return {(h.camera_id, h.start_ms): round(h.best.score, 4) for h in hits}


_SPECS: dict[str, ModelSpec] = {}


def _spec_of(log: IndexLog) -> ModelSpec:
    return _SPECS[log.model_id]


def _thumbnail(store: S3ObjectStore, camera: str, t: int) -> FrameRecord:
    rng = np.random.default_rng([sum(camera.encode()), t])
    image = Image.fromarray(rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)).resize((320, 240))
    buf = io.BytesIO()
    image.save(buf, "JPEG")
    key = keys.thumbnail_key(camera, t)
    store.put_bytes(key, buf.getvalue(), "image/jpeg")
    return FrameRecord(camera, t, t + 2000, f"segments/{camera}/x.mp4", t, t + 2000, key)


@pytest.fixture()
def store(s3_endpoint: object) -> S3ObjectStore:
    bucket = f"vigil-versions-{uuid.uuid4().hex[:8]}"
    store = S3ObjectStore(replace(s3_endpoint, bucket=bucket))  # type: ignore[type-var]
    store.ensure_bucket()
    return store


@pytest.fixture()
def specs(random_model_dir: Path) -> tuple[ModelSpec, ModelSpec]:
    old, new = ModelSpec(path=random_model_dir), ModelSpec()  # random weights → bundled vigil-tiny
    _SPECS.update({old.model_id: old, new.model_id: new})
    return old, new


def _times(n: int, start: int = T0) -> list[int]:
    return [start + 2000 * i for i in range(n)]


def test_the_new_version_is_built_while_the_old_one_serves_then_switched_atomically(
        store: S3ObjectStore, specs: tuple[ModelSpec, ModelSpec]) -> None:
    old, new = specs
    host = Host(store, old)
    host.ingest("cam-a", _times(8))
    host.ingest("cam-b", _times(8))
    before = host.frames()
    switcher = ModelSwitcher(host, host.active, batch=4)

    host.gate.clear()  # the new model's embedder holds the build
    switcher.switch(new)
    assert host.entered.wait(120)
    status = switcher.status()
    assert (status.progress.state, status.serving_model_id) == (SwitchState.BUILDING, old.model_id)
    assert status.active is not None and status.active.model_id == old.model_id
    assert host.frames() == before  # searches keep working, on the old version
    host.ingest("cam-c", _times(4))  # ingested during the build: caught up
    with host.lock:
        host.serving.current.log.delete_range(host.serving.current.index, "cam-b", T0, T0 + 6000)
    host.gate.set()
    done = switcher.wait(300)
    assert done.state == SwitchState.IDLE, done.error

    assert host.serving.current.model_id == new.model_id and host.retired == [old.model_id]
    assert old.calibration == Calibration()  # random weights: no threshold, no dedup
    assert host.serving.current.calibration == new.calibration == Calibration(0.11, 0.999)  # switched
    assert host.active.get().calibration == new.calibration  # type: ignore[union-attr]
    assert host.active.get() == replace(IndexVersion.of(new, old.model_id),
                                        switched_ms=host.active.get().switched_ms)  # type: ignore[union-attr]
    after = host.frames()
    expected = {k for k in before if not (k[0] == "cam-b" and k[1] < T0 + 6000)} | {
        ("cam-c", t) for t in _times(4)}
    assert set(after) == expected  # every keyframe still found, deletions kept
    assert all(after[k] != before[k] for k in set(before) & set(after))  # scored by the new model

    restarted = Host(store, old)  # settings still name the old model: the active version wins
    assert restarted.serving.current.model_id == new.model_id
    assert restarted.frames() == after
    assert list(store.list(keys.index_snapshot_prefix(new.model_id)))  # compacted before the switch
    assert list(store.list(keys.index_prefix(old.model_id)))  # the old version stays in the bucket


def test_a_lagging_front_ends_late_writes_are_carried_over_at_start(
        store: S3ObjectStore, specs: tuple[ModelSpec, ModelSpec]) -> None:
    old, new = specs
    host = Host(store, old)
    host.ingest("cam-a", _times(6))
    switcher = ModelSwitcher(host, host.active, batch=4)
    switcher.switch(new)
    assert switcher.wait(300).state == SwitchState.IDLE
    # a front end that had not seen the switch logs into the old version, then is killed
    host.ingest("cam-late", _times(3), log=IndexLog(store, old.model_id))
    restarted = Host(store, new)
    assert not any(k[0] == "cam-late" for k in restarted.frames())
    catch_up_from_log(store, old.model_id, restarted.serving.current, batch=4)  # what a start runs
    assert {k for k in restarted.frames() if k[0] == "cam-late"} == {("cam-late", t) for t in _times(3)}
    again = Host(store, new)
    assert again.frames() == restarted.frames()  # carried over for good


def test_a_node_that_cannot_load_the_active_model_refuses_to_start(
        store: S3ObjectStore, specs: tuple[ModelSpec, ModelSpec], tmp_path: Path) -> None:
    from indexing.errors import ModelUnavailableError

    old, _ = specs
    gone = IndexVersion("elsewhere-0123456789ab", "vigil-tiny", None, str(tmp_path / "gone"))
    ActiveVersion(store).put(gone)
    with pytest.raises(ModelUnavailableError, match="cannot load"):
        startup_spec(old, ActiveVersion(store))


def test_another_front_end_follows_the_switch_and_carries_over_its_own_writes(
        store: S3ObjectStore, specs: tuple[ModelSpec, ModelSpec]) -> None:
    old, new = specs
    first, second = Host(store, old), Host(store, old)  # two front ends on one bucket
    first.ingest("cam-a", _times(6))
    second.ingest("cam-b", _times(6))  # only in the second one's memory (and the old version's log)
    switcher = ModelSwitcher(first, first.active, batch=4)
    switcher.switch(new)
    assert switcher.wait(300).state == SwitchState.IDLE
    assert {k[0] for k in first.frames()} == {"cam-a"}

    follower = ModelSwitcher(second, second.active, batch=4)
    assert follower.follow() == f"following {new.model_id}"
    assert follower.wait(300).state == SwitchState.IDLE
    assert second.serving.current.model_id == new.model_id
    assert {k[0] for k in second.frames()} == {"cam-a", "cam-b"}
    assert follower.follow() == "up to date"
    assert {k[0] for k in Host(store, new).frames()} == {"cam-a", "cam-b"}  # in the bucket for good


def test_a_build_cancelled_by_a_stopping_node_leaves_the_old_version_active(
        store: S3ObjectStore, specs: tuple[ModelSpec, ModelSpec]) -> None:
    old, new = specs
    host = Host(store, old)
    host.ingest("cam-a", _times(12))
    switcher = ModelSwitcher(host, host.active, batch=4)
    host.gate.clear()
    switcher.switch(new)
    assert host.entered.wait(120)
    switcher.cancel(timeout_s=0)  # the node stops mid-build
    host.gate.set()
    failed = switcher.wait(300)
    assert failed.state == SwitchState.FAILED and "cancelled" in failed.error
    assert host.serving.current.model_id == old.model_id == host.active.get().model_id  # type: ignore[union-attr]
    assert host.retired == [new.model_id]  # its embedders stopped; what it logged stays for a retry
