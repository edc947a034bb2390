"""The shape of an image-embedding call, as ingest and re-embedding take it, without loading a
model (`indexing.embedder` imports torch; this module does not).

`EmbedFn(images)`: RGB images (H×W×3 uint8 arrays) → one L2-normalised float32 row per image,
in order — an `Embedder.embed_images`, or a call to the cluster's embedder pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EmbedFn = Callable[[Sequence[np.ndarray]], np.ndarray]
