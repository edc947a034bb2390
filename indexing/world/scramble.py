"""Scrambled backgrounds: random bands, posts, boxes and blobs under a random palette.

Training on them half the time teaches the model that actors, not the place,
carry the meaning, so it transfers to layouts it never saw (domain randomisation).
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from indexing.world.layouts import relight
from indexing.world.truth import Lighting

RGB = tuple[int, int, int]


def _colour(rng: random.Random, dull: bool = False) -> RGB:
    if dull:
        g = rng.randint(60, 190)
        return (g + rng.randint(-15, 15), g + rng.randint(-15, 15), g + rng.randint(-15, 15))
    return (rng.randint(20, 240), rng.randint(20, 240), rng.randint(20, 240))


def scrambled_background(lighting: Lighting, width: int, height: int, seed: int) -> np.ndarray:
    """A structure-free street-like backdrop (ground in the lower half), lit for `lighting`."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(image)
    ground = rng.uniform(0.45, 0.62)
    y = 0.0
    while y < ground:
        band = rng.uniform(0.04, 0.2)
        draw.rectangle((0, y * height, width, (y + band) * height), fill=_colour(rng))
        y += band
    draw.rectangle((0, ground * height, width, height), fill=_colour(rng, dull=rng.random() < 0.8))
    for _ in range(rng.randint(0, 12)):
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(0.0, ground) * height
        draw.rectangle((x0, y0, x0 + rng.uniform(0.02, 0.25) * width,
                        y0 + rng.uniform(0.02, 0.2) * height), fill=_colour(rng))
    for _ in range(rng.randint(0, 8)):
        x0 = rng.uniform(0.0, 1.0) * width
        draw.rectangle((x0, rng.uniform(0.0, 0.3) * height, x0 + rng.uniform(0.004, 0.05) * width,
                        ground * height), fill=_colour(rng, dull=True))
    for _ in range(rng.randint(0, 3)):
        cx, cy = rng.uniform(0, 1) * width, rng.uniform(0, ground) * height
        r = rng.uniform(0.05, 0.15) * height
        draw.ellipse((cx - 1.6 * r, cy - r, cx + 1.6 * r, cy + r), fill=_colour(rng))
    for _ in range(rng.randint(0, 8)):
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(ground, 1.0) * height
        draw.line((x0, y0, x0 + rng.uniform(-0.1, 0.2) * width, y0 + rng.uniform(-0.05, 0.05) * height),
                  fill=_colour(rng, dull=True), width=max(1, round(rng.uniform(0.003, 0.012) * height)))
    return relight(np.asarray(image, dtype=np.float32), lighting, rng).astype(np.uint8)
