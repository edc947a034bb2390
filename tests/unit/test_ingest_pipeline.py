"""IngestPipeline on the in-process cluster and a bucket in memory: a small generated video
becomes stored segments with manifests, a thumbnail per keyframe and vectors acknowledged in the
index log before they are searchable; ingesting it again stores nothing new."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from indexing.embedder import ModelSpec
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex
from services.cluster.local import LocalCluster
from services.ingest.jobs import JobProgress
from services.ingest.pipeline import IngestPipeline, IngestRequest
from services.settings import IngestSettings, RaySettings
from storage import keys
from storage.media import probe
from storage.recordings import Recordings
from tests.colour_embedder import DIM, ColourEmbedder, load_colours
from tests.media import SCENE_S, make_video
from tests.memory_store import MemoryStore

CAMERA = "cam-ingest"
START_MS = 1_790_000_000_000
SCENES = ("color=c=red:size=160x96:rate=10", "color=c=blue:size=160x96:rate=10")  # 4 s each, GOP 2 s
SPEC = ModelSpec(name="colours")


class Node:
    """What the node gives the pipeline: a bucket, an index, shard writers and an embedder pool."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = MemoryStore()
        self.cluster = LocalCluster(self.store, RaySettings(num_cpus=2), load=load_colours)
        self.index = FrameIndex(DIM)
        self.pool = self.cluster.embedder_pool(SPEC, RaySettings(embedders=2, embed_batch=2))
        settings = IngestSettings(segment_seconds=4.0, thumbnail_width=64)
        self.pipeline = IngestPipeline(self.store, self.index, self.cluster.index_writers(SPEC.model_id),
                                       self.pool.embed, settings, tmp_path / "work", batch=2, in_flight=2,
                                       dedup_cosine=lambda: None)

    def ingest(self, video: Path) -> JobProgress:
        return self.pipeline.run(IngestRequest(CAMERA, START_MS, video, probe(video)), lambda _: None)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "red-then-blue.mp4", SCENES)


def test_a_video_becomes_segments_thumbnails_and_acknowledged_vectors(video: Path, tmp_path: Path) -> None:
    node = Node(tmp_path)
    done = node.ingest(video)
    assert (done.segments, done.segments_skipped, done.keyframes, done.vectors) == (2, 0, 4, 4)

    segments = list(Recordings(node.store).segments(CAMERA, START_MS, START_MS + 60_000))
    assert [(m.start_ms - START_MS, m.end_ms - START_MS) for m in segments] == [(0, 4000), (4000, 8000)]
    assert all(node.store.exists(m.segment_key) for m in segments)

    records = sorted(node.index.records(), key=lambda r: r.time_ms)
    assert [r.time_ms - START_MS for r in records] == [0, 2000, 4000, 6000]
    for r in records:
        assert r.segment_key == segments[(r.time_ms - START_MS) // (SCENE_S * 1000)].segment_key
        assert r.thumbnail_key == keys.thumbnail_key(CAMERA, r.time_ms)
        with Image.open(io.BytesIO(node.store.get_bytes(r.thumbnail_key))) as thumbnail:
            assert (thumbnail.format, thumbnail.width) == ("JPEG", 64)
    assert node.pool.frames_embedded() == [2, 2]  # two batches, one per embedder

    from_bucket = FrameIndex(DIM)
    assert IndexLog(node.store, SPEC.model_id).replay(from_bucket) == 4  # acknowledged before indexed
    red, blue = ColourEmbedder().embed_texts(["red", "blue"])
    assert {h.record.time_ms - START_MS for h in from_bucket.search(red, 2)} == {0, 2000}
    assert {h.record.time_ms - START_MS for h in from_bucket.search(blue, 2)} == {4000, 6000}


def test_ingesting_the_same_video_again_stores_nothing_new(video: Path, tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.ingest(video)
    before = dict(node.store.objects)
    again = node.ingest(video)
    assert (again.segments, again.segments_skipped, again.keyframes, again.vectors) == (2, 2, 4, 0)
    assert node.store.objects == before
    assert len(node.index) == 4 and node.pool.frames_embedded() == [2, 2]  # nothing embedded again
