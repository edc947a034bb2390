"""What the camera does to a clean render: sensor noise, rain streaks, blur and compression."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from indexing.world.truth import Lighting

NOISE_SIGMA: dict[Lighting, float] = {Lighting.DAY: 4.0, Lighting.RAIN: 6.0, Lighting.NIGHT: 9.0}


def grain_layer(lighting: Lighting, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """An additive int16 layer: Gaussian sensor noise plus falling rain streaks when raining."""
    sigma = NOISE_SIGMA[lighting] * rng.uniform(0.6, 1.4)
    layer = rng.normal(0.0, sigma, size=(height, width, 1)).astype(np.int16)
    layer = layer + rng.normal(0.0, sigma * 0.3, size=(height, width, 3)).astype(np.int16)
    if lighting is Lighting.RAIN:
        layer += _rain(width, height, int(rng.integers(1 << 30)))[..., None]
    return layer


def _rain(width: int, height: int, seed: int) -> np.ndarray:
    rnd = random.Random(seed)
    streaks = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(streaks)
    length, slant = 0.06 * height, 0.015 * height
    for _ in range(220):
        x, y = rnd.uniform(0, width), rnd.uniform(-length, height)
        draw.line((x, y, x + slant, y + length), fill=rnd.randint(25, 55),
                  width=max(1, round(height / 360)))
    return np.asarray(streaks, dtype=np.int16)


def apply_grain(frame: np.ndarray, layer: np.ndarray) -> np.ndarray:
    out = frame.astype(np.int16)
    out += layer
    return np.clip(out, 0, 255).astype(np.uint8)


def compress(image: Image.Image, rng: random.Random) -> Image.Image:
    """Optical blur and a lossy JPEG round trip standing in for H.264 at low bitrate."""
    radius = rng.uniform(0.0, 0.9)
    if radius > 0.3:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=rng.randint(20, 80))
    buf.seek(0)
    return Image.open(buf).convert("RGB")
