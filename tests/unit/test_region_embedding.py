"""Regions are embedded by any open_clip model, and a model switch re-embeds them from crops."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image

from indexing.embedder import ClipEmbedder, ModelSpec
from indexing.frame_columns import Box, FrameRecord
from indexing.keyframes import iter_keyframes
from indexing.reembed import Reembedder
from indexing.regions import RegionProposer, with_crops
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex
from storage import keys
from storage.object_store import ObjectStore
from tests.colour_embedder import ColourEmbedder
from tests.media import make_video
from tests.memory_store import MemoryStore

T0 = 1_790_000_000_000


def test_a_random_weight_vit_b_32_embeds_frames_and_their_crops_in_one_call() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(224, 398, 3), dtype=np.uint8) for _ in range(2)]
    proposer = RegionProposer(max_regions=4, method="grid")
    boxes = [proposer.propose("cam-a", f) for f in frames]
    images = with_crops(frames, boxes)
    assert len(images) == 2 + 8
    assert all(abs(h - w) <= 1 for h, w, _ in (i.shape for i in images[2:]))  # square crops
    vectors = ClipEmbedder(ModelSpec(name="ViT-B-32")).embed_images(images)  # open_clip, no weights
    assert vectors.shape == (10, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert not np.allclose(vectors[2], vectors[3])  # each crop is its own image


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_a_switch_re_embeds_each_region_from_the_crop_of_its_keyframe_thumbnail() -> None:
    store = MemoryStore()
    frame = np.zeros((90, 160, 3), dtype=np.uint8)
    frame[:, :80] = (255, 0, 0)  # red on the left, blue on the right
    frame[:, 80:] = (0, 0, 255)
    store.put_bytes(keys.thumbnail_key("cam-a", T0), _jpeg(frame))
    whole = FrameRecord("cam-a", T0, T0 + 2000, "seg", T0, T0 + 10_000, keys.thumbnail_key("cam-a", T0))
    left, right = Box.snapped(0.0, 0.0, 0.45, 1.0), Box.snapped(0.55, 0.0, 1.0, 1.0)
    gone = FrameRecord("cam-a", T0 + 2000, T0 + 4000, "seg", T0, T0 + 10_000,
                       keys.thumbnail_key("cam-a", T0 + 2000), left)  # its thumbnail expired
    records = [whole, replace(whole, box=left), replace(whole, box=right), gone]
    colours = ColourEmbedder()
    index = FrameIndex(colours.dim)
    bucket = cast(ObjectStore, store)
    done = Reembedder(bucket, colours.embed_images, IndexLog(bucket, "m2"), index, batch=8).run(records)
    assert (done.added, done.skipped) == (3, 1)
    red, blue = colours.embed_texts(["red", "blue"])
    assert index.search(red, 1)[0].record.box == left
    assert index.search(blue, 1)[0].record.box == right
    assert all(index.holds(r) for r in records[:3]) and not index.holds(gone)


def test_keyframes_carry_a_larger_frame_for_crops_only_when_asked(tmp_path: Path) -> None:
    video = make_video(tmp_path / "wide.mp4", ("testsrc2=size=640x360:rate=10",))
    plain = list(iter_keyframes(video, 0.0, 64))
    detailed = list(iter_keyframes(video, 0.0, 64, detail_short_side=300))
    assert [k.rgb.shape for k in plain] == [k.rgb.shape for k in detailed] == [(224, 398, 3)] * 2
    assert all(k.detail is None for k in plain)
    assert [k.detail.shape for k in detailed if k.detail is not None] == [(300, 533, 3)] * 2
    big = next(iter_keyframes(video, 0.0, 64, detail_short_side=1000)).detail
    assert big is not None and big.shape == (360, 640, 3)  # never upscaled
