"""ModelSwitcher on the in-process cluster and a bucket in memory: the new model's version is built
from the stored thumbnails while the old one serves (status shows the progress), then flipped in
one step; a second front end follows. Two colour "models" stand in for real ones."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from indexing.calibration import Calibration
from indexing.embedder import Embedder, ModelSpec
from indexing.frame_columns import FrameRecord
from indexing.index_snapshots import Compactor
from indexing.index_versions import ActiveVersion
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex
from services.cluster.local import LocalCluster
from services.index.model_switch import ModelSwitcher, SwitchRefusedError, SwitchState
from services.index.search import SearchEngine, SearchQuery
from services.index.serving import Serving, ServingRef
from services.settings import RaySettings, SearchSettings
from storage import keys
from storage.object_store import ObjectStore
from tests.colour_embedder import DIM, load_colours
from tests.memory_store import MemoryStore

T0 = 1_790_000_000_000
OLD, NEW = ModelSpec(name="colours"), ModelSpec(name="colours-swapped")
FRAMES = SearchQuery(top_k=100, frames=True)


class Host:
    """The index side of a node (`SwitchHost`) on the in-process cluster; `gate` holds a build."""

    def __init__(self, store: MemoryStore, configured: ModelSpec = OLD) -> None:
        from services.index.model_switch import startup_spec

        self.store: ObjectStore = store
        self.cluster = LocalCluster(store, RaySettings(num_cpus=4), load=self._load)
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.lock = threading.Lock()  # the node's index lock: ingest and retention hold it
        self.retired: list[str] = []
        self.active = ActiveVersion(store)
        self.serving = ServingRef(self.open_version(startup_spec(configured, self.active)))

    def open_version(self, spec: ModelSpec) -> Serving:
        embedder, index, log = load_colours(spec, 1), FrameIndex(DIM), IndexLog(self.store, spec.model_id)
        log.replay(index)
        pool = self.cluster.embedder_pool(spec, RaySettings(embedders=1, embed_batch=4))
        return Serving(spec, embedder, index, log, self.cluster.index_writers(spec.model_id),
                       SearchEngine(embedder, index, SearchSettings(), None), pool, calibration=Calibration())

    def _load(self, spec: ModelSpec, threads: int) -> Embedder:
        """The pool's embedders: the new model's wait at the gate."""
        return _Gated(load_colours(spec, threads), self) if spec == NEW else load_colours(spec, threads)

    @contextmanager
    def writers_paused(self) -> Iterator[None]:
        with self.lock:
            yield

    def compact(self, serving: Serving) -> None:
        Compactor(self.store, serving.model_id, serving.index.dim).compact()

    def retire(self, old: Serving) -> None:
        old.index.close()
        old.pool.close()
        self.retired.append(old.model_id)

    def ingest(self, camera: str, times: Sequence[int]) -> None:
        """What the ingest pipeline does: thumbnails first, then embed, log (acknowledged), add."""
        with self.lock:
            records = [_thumbnail(self.store, camera, t) for t in times]
            images = [np.asarray(Image.open(io.BytesIO(self.store.get_bytes(r.thumbnail_key))))
                      for r in records]
            vectors = self.serving.embed(images)
            self.serving.append(f"{camera}-{times[0]}", records, vectors)
            self.serving.add(records, vectors)

    def scores(self, text: str) -> dict[tuple[str, int], float]:
        hits = self.serving.current.search.by_text(text, FRAMES).hits
        return {(h.camera_id, h.start_ms): round(h.score, 4) for h in hits}


class _Gated:
    def __init__(self, embedder: Embedder, host: Host) -> None:
        self._embedder, self._host = embedder, host
        self.dim, self.embed_texts = embedder.dim, embedder.embed_texts

    def embed_images(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        self._host.entered.set()
        assert self._host.gate.wait(30)
        return self._embedder.embed_images(images)


def _thumbnail(store: ObjectStore, camera: str, t: int) -> FrameRecord:
    """A reddish or bluish thumbnail, depending on the time."""
    colour = (200, 40, 60) if (t // 2000) % 2 else (60, 40, 200)
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    key = keys.thumbnail_key(camera, t)
    store.put_bytes(key, buf.getvalue(), "image/jpeg")
    return FrameRecord(camera, t, t + 2000, f"segments/{camera}/x.mp4", t, t + 2000, key)


def _times(n: int) -> list[int]:
    return [T0 + 2000 * i for i in range(n)]


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


def test_the_new_version_is_built_while_the_old_one_serves_then_flipped(store: MemoryStore) -> None:
    host = Host(store)
    host.ingest("cam-a", _times(10))
    before = host.scores("red")
    switcher = ModelSwitcher(host, host.active, batch=4)

    host.gate.clear()  # the new model's embedder holds the build
    started = switcher.switch(NEW)
    assert started.progress.state == SwitchState.BUILDING and started.progress.target_model_id == NEW.model_id
    assert host.entered.wait(30)
    status = switcher.status()
    assert status.serving_model_id == OLD.model_id and status.active.model_id == OLD.model_id  # type: ignore[union-attr]
    assert status.progress.frames_total == 10 and status.progress.frames_indexed == 0
    assert host.scores("red") == before  # searches keep working, on the old version
    with pytest.raises(SwitchRefusedError, match="in progress"):
        switcher.switch(NEW)
    host.ingest("cam-b", _times(2))  # ingested during the build: caught up before the flip
    host.gate.set()
    done = switcher.wait(60)

    assert done.state == SwitchState.IDLE and done.error == ""
    assert (done.frames_total, done.frames_indexed) == (12, 12)
    assert host.serving.current.model_id == NEW.model_id == host.active.get().model_id  # type: ignore[union-attr]
    assert host.retired == [OLD.model_id]
    after = host.scores("red")
    assert set(after) == set(before) | {("cam-b", t) for t in _times(2)}
    reddish, bluish = ("cam-a", T0 + 2000), ("cam-a", T0)
    assert before[reddish] > before[bluish] and after[reddish] < after[bluish]  # the new model's scores
    with pytest.raises(SwitchRefusedError, match="already active"):
        switcher.switch(NEW)


def test_another_front_end_follows_the_switch_and_a_restart_serves_the_new_version(
        store: MemoryStore) -> None:
    first, second = Host(store), Host(store)
    first.ingest("cam-a", _times(6))
    switcher = ModelSwitcher(first, first.active, batch=4)
    switcher.switch(NEW)
    assert switcher.wait(60).state == SwitchState.IDLE

    follower = ModelSwitcher(second, second.active, batch=4)
    assert follower.follow() == f"following {NEW.model_id}"
    assert follower.wait(60).state == SwitchState.IDLE
    assert second.serving.current.model_id == NEW.model_id and follower.follow() == "up to date"
    restarted = Host(store, configured=OLD)  # settings still name the old model: the active one wins
    assert restarted.serving.current.model_id == NEW.model_id
    assert restarted.scores("blue") == first.scores("blue")


def test_a_cancelled_build_leaves_the_old_version_serving_and_active(store: MemoryStore) -> None:
    host = Host(store)
    host.ingest("cam-a", _times(8))
    switcher = ModelSwitcher(host, host.active, batch=4)
    host.gate.clear()
    switcher.switch(NEW)
    assert host.entered.wait(30)
    switcher.cancel(timeout_s=0)  # the node stops mid-build
    host.gate.set()
    failed = switcher.wait(60)
    assert failed.state == SwitchState.FAILED and "cancelled" in failed.error
    assert host.serving.current.model_id == OLD.model_id == host.active.get().model_id  # type: ignore[union-attr]
    assert host.retired == [NEW.model_id] and host.cluster.free_cpus() == 3  # its embedder released
