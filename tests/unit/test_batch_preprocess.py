"""The embedder preprocesses keyframes as batches on the model's device instead of with PIL one
by one; what a user notices is only that the vectors are the ones PIL's preprocessing gives. For
the bundled model (squashed to 96 px) and an open_clip ViT-B-32 (shortest side to 224, centre
crop), keyframes and region crops of other sizes mixed in one call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from indexing.clip_model import batch_preprocess
from indexing.embedder import BUNDLED_MODEL, ClipEmbedder, ModelSpec
from indexing.regions import RegionProposer, with_crops


def _frames(n: int) -> list[np.ndarray]:
    """Keyframe-like images: smooth shapes over a gradient, not pixel noise."""
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(n):
        y, x = np.mgrid[0:224, 0:398]
        image = np.stack([x * 255 // 398, y * 255 // 224, np.full_like(x, 90)], axis=-1).astype(np.uint8)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, 350)), int(rng.integers(0, 190))
            h, w = int(rng.integers(15, 60)), int(rng.integers(10, 50))
            image[y0:y0 + h, x0:x0 + w] = rng.integers(0, 255, 3)
        frames.append(image)
    return frames


@pytest.mark.parametrize("model", [BUNDLED_MODEL, "ViT-B-32"])
def test_batched_preprocessing_gives_the_vectors_pil_gives(model: str) -> None:
    torch.manual_seed(0)  # the ViT-B-32's random weights
    embedder = ClipEmbedder(ModelSpec(name=model))
    bundle = embedder.load()
    frames = _frames(3)
    proposer = RegionProposer(max_regions=3, method="grid")
    images = with_crops(frames, [proposer.propose("cam-a", f) for f in frames])
    assert len({im.shape for im in images}) > 1  # sizes differ: batched by size, order kept
    per_image = torch.stack([bundle.preprocess(Image.fromarray(im)) for im in images])  # PIL
    with torch.inference_mode():
        pil = torch.nn.functional.normalize(bundle.model.encode_image(per_image), dim=-1).numpy()
    assert batch_preprocess(bundle, images, torch.device("cpu")) is not None
    mine = embedder.embed_images(images)[:, :bundle.embed_dim]  # CLIP's part (an appearance tower follows)
    mine /= np.linalg.norm(mine, axis=1, keepdims=True)
    cosines = (mine * pil).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    # each vector is its own image's: nearest to the PIL vector of the same image
    assert (np.argmax(mine @ pil.T, axis=1) == np.arange(len(images))).all()
