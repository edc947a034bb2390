"""IngestPipeline on the in-process cluster and a bucket in memory: a small generated video
becomes stored segments with manifests, a thumbnail per keyframe and vectors acknowledged in the
index log before they are searchable; ingesting it again stores nothing new."""

from __future__ import annotations

import io
import subprocess
import threading
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
from storage.media_tools import ffmpeg_exe
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

    def __init__(self, tmp_path: Path, **ingest: object) -> None:
        self.store = MemoryStore()
        self.cluster = LocalCluster(self.store, RaySettings(num_cpus=2), load=load_colours)
        self.index = FrameIndex(DIM)
        self.pool = self.cluster.embedder_pool(SPEC, RaySettings(embedders=2, embed_batch=2))
        settings = IngestSettings.model_validate(
            {"segment_seconds": 4.0, "thumbnail_width": 64, "regions": "off", **ingest})
        self.pipeline = IngestPipeline(self.store, self.index, self.cluster.index_writers(SPEC.model_id),
                                       self.pool.embed, settings, tmp_path / "work", batch=2, in_flight=2,
                                       same_scene=lambda: None)

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


MOVING = tuple(f"color=c=gray:size=320x180:rate=10[bg];color=c=red:size=16x36:rate=10[s];"
               f"[bg][s]overlay=x='{x}+t*28':y=70" for x in (20, 132))  # a small subject crossing


def test_each_keyframe_is_indexed_whole_and_as_regions_with_their_boxes(tmp_path: Path) -> None:
    node = Node(tmp_path, regions="motion+grid", regions_per_keyframe=3)
    video = make_video(tmp_path / "crossing.mp4", MOVING)
    done = node.ingest(video)
    assert (done.keyframes, done.vectors) == (4, 4 * (1 + 3))  # no dedup in this test
    records = list(node.index.records())
    assert sorted(r.time_ms - START_MS for r in records if r.box is None) == [0, 2000, 4000, 6000]
    at_6s = [r.box for r in records if r.time_ms == START_MS + 6000 and r.box is not None]
    assert len(at_6s) == 3
    subject = (188 / 320, 70 / 180, 204 / 320, 106 / 180)  # where the subject is at 6 s
    assert at_6s[0].x0 <= subject[0] and at_6s[0].y0 <= subject[1]  # the motion box comes first
    assert at_6s[0].x1 >= subject[2] and at_6s[0].y1 >= subject[3] and at_6s[0].area < 0.25
    assert sum(node.pool.frames_embedded()) == 16  # crops travel in the frames' embedding calls

    from_bucket = FrameIndex(DIM)
    assert IndexLog(node.store, SPEC.model_id).replay(from_bucket) == 16
    assert sorted(map(repr, from_bucket.records())) == sorted(map(repr, records))
    assert node.ingest(video).vectors == 0  # the keyframes are indexed: nothing is embedded again


def test_keyframes_are_indexed_while_the_rest_of_the_file_is_still_being_stored(
        video: Path, tmp_path: Path) -> None:
    """A batch waits for the segments holding its keyframes, not for the whole file: the first
    scene is searchable before the last segment's upload is let through."""
    node = Node(tmp_path)
    indexed_before_last: list[int] = []
    released = threading.Event()

    def hold_the_last_segment(op: str, key: str) -> None:
        if op == "put" and key.endswith(".mp4") and _segment_start(key) >= START_MS + 4000:
            # bounded: the first batch is indexed meanwhile, or the test fails below
            for _ in range(300):
                if len(node.index) or released.is_set():
                    break
                released.wait(0.1)
            indexed_before_last.append(len(node.index))

    node.store.before_write = hold_the_last_segment
    done = node.ingest(video)
    assert (done.segments, done.keyframes, done.vectors) == (2, 4, 4)
    assert indexed_before_last and indexed_before_last[0] >= 2  # the red scene's two keyframes


def test_segments_are_stored_side_by_side_and_committed_in_order(video: Path, tmp_path: Path) -> None:
    """A slow PUT of the first segment does not hold back the second's, yet no keyframe is
    searchable before the segment holding it is stored, and the file's segments all arrive."""
    node = Node(tmp_path)
    second_put, seen = threading.Event(), []

    def slow_first_segment(op: str, key: str) -> None:
        if op != "put" or not key.endswith(".mp4"):
            return
        if _segment_start(key) == START_MS:
            second_put.wait(30)  # bounded: a serial store never gets there, and the test fails below
            seen.append((second_put.is_set(), len(node.index)))
        else:
            second_put.set()

    node.store.before_write = slow_first_segment
    done = node.ingest(video)
    assert seen == [(True, 0)]  # the second segment went up meanwhile; nothing was indexed yet
    assert (done.segments, done.keyframes, done.vectors) == (2, 4, 4)
    segments = list(Recordings(node.store).segments(CAMERA, START_MS, START_MS + 60_000))
    assert [m.start_ms - START_MS for m in segments] == [0, 4000]


def _segment_start(key: str) -> int:
    return int(key.rsplit("/", 1)[-1].split("-")[0])


def test_a_live_segment_reports_its_whole_keyframes_and_when_it_passed_each_stage(tmp_path: Path) -> None:
    from services.ingest.segmenting import iter_segments

    node = Node(tmp_path, regions="motion+grid", regions_per_keyframe=3)
    video = make_video(tmp_path / "crossing.mp4", MOVING[:1])  # one 4 s scene: two keyframes
    [segment] = list(iter_segments(video, probe(video), tmp_path / "cut", 4.0, 60.0))
    done = node.pipeline.run_segment(IngestRequest(CAMERA, START_MS, segment.path, probe(segment.path)))
    assert (done.frames, done.progress.vectors) == (2, 2 * (1 + 3))  # keyframes, and with their regions
    t = done.times
    assert 0 < t.stored_ms <= t.decoded_ms <= t.embedded_ms <= t.indexed_ms


def test_an_all_intra_file_is_indexed_one_keyframe_a_second_with_spans_that_cover_it(tmp_path: Path) -> None:
    """MJPEG has a keyframe per frame (10 a second here): the index gets one per
    `frame_interval_s`, each standing for the time until the next, so no second goes unsearched."""
    video = tmp_path / "intra.avi"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x96:rate=10", "-t", "4", "-c:v", "mjpeg", str(video)],
                   check=True, timeout=60)
    node = Node(tmp_path, dedup_cosine="off")
    done = node.ingest(video)
    assert (done.keyframes, done.vectors) == (4, 4)
    records = sorted(node.index.records(), key=lambda r: r.time_ms)
    assert [(r.time_ms - START_MS, r.end_ms - START_MS) for r in records] == [
        (0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)]
    assert len([k for k in node.store.objects if k.startswith("thumbnails/")]) == 4

    every = Node(tmp_path / "every", dedup_cosine="off", frame_interval_s=0)
    assert every.ingest(video).keyframes == 40


def test_a_file_whose_first_video_stream_is_a_cover_picture_is_ingested_from_its_footage(
        video: Path, tmp_path: Path) -> None:
    """An MKV lists its PNG cover as a video stream, first: the footage is the other stream."""
    cover, covered = tmp_path / "cover.png", tmp_path / "covered.mkv"
    Image.new("RGB", (64, 64), "yellow").save(cover)
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-i", str(cover),
                    "-map", "1", "-map", "0", "-c", "copy", str(covered)], check=True, timeout=60)
    info = probe(covered)
    assert (info.stream, info.codec, info.width) == (1, "h264", 160)
    node = Node(tmp_path)
    done = node.ingest(covered)
    assert (done.segments, done.keyframes, done.vectors) == (2, 4, 4)
    for m in Recordings(node.store).segments(CAMERA, START_MS, START_MS + 60_000):
        stored = tmp_path / "stored.mp4"
        stored.write_bytes(node.store.get_bytes(m.segment_key))
        assert (probe(stored).codec, probe(stored).width) == ("h264", 160)  # the footage, not the cover
    red, _ = ColourEmbedder().embed_texts(["red", "blue"])
    assert {h.record.time_ms - START_MS for h in node.index.search(red, 2)} == {0, 2000}


def test_a_long_gop_file_is_indexed_between_its_keyframes_and_every_second_is_covered(tmp_path: Path) -> None:
    """A 10 s GOP (keyframes at 0 and 10 s of 12): frames at about 3.3 and 6.7 s are decoded and
    indexed too; each frame stands until the next one planned (a gap under one frame at most)."""
    video = tmp_path / "long-gop.mp4"
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x96:rate=10", "-t", "12", "-c:v", "libx264", "-g", "100",
                    "-sc_threshold", "0", str(video)],
                   check=True, timeout=60)
    node = Node(tmp_path, dedup_cosine="off")
    assert node.ingest(video).keyframes == 4
    records = sorted(node.index.records(), key=lambda r: r.time_ms)
    assert [(r.time_ms - START_MS, r.end_ms - START_MS) for r in records] == [
        (0, 3333), (3400, 6667), (6700, 10000), (10000, 12000)]
