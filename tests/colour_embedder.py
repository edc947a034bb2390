"""An `Embedder` without a model, for unit tests where the model is not the point.

An image's vector is its mean colour (red, green, blue) plus a small constant; a text's vector
is the colours it names. So "red" finds the reddest footage, and scores are exact numbers a test
can reason about. `swapped=True` is another "model": it reads an image's channels in reverse order
(and texts as before), so after a model switch "red" finds the bluest footage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from indexing.embedder import Embedder, ModelSpec

DIM = 8
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
BIAS = 0.05  # on its own axis: a black frame still has a direction


class ColourEmbedder:
    def __init__(self, swapped: bool = False) -> None:
        self.swapped = swapped
        self.images_embedded = 0

    @property
    def dim(self) -> int:
        return DIM

    def embed_images(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        self.images_embedded += len(images)
        means = [np.asarray(im, dtype=np.float32)[..., :3].reshape(-1, 3).mean(axis=0) / 255 for im in images]
        rows = [_row(m[::-1] if self.swapped else m) for m in means]
        return _unit(np.array(rows, dtype=np.float32).reshape(len(rows), DIM))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [_row(np.sum([COLOURS[w] for w in t.split() if w in COLOURS] or [(0.0, 0.0, 0.0)], axis=0))
                for t in texts]
        return _unit(np.array(rows, dtype=np.float32).reshape(len(rows), DIM))



def load_colours(spec: ModelSpec, threads: int) -> Embedder:
    """`LocalCluster`'s loader: a spec named '…-swapped' is the other model."""
    return ColourEmbedder(swapped=spec.name.endswith("-swapped"))


def _row(rgb: np.ndarray) -> np.ndarray:
    row = np.zeros(DIM, dtype=np.float32)
    row[:3] = rgb
    row[3] = BIAS
    return row


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit
