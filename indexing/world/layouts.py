"""Static backgrounds of each camera layout, painted in normalised coordinates."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from indexing.world.truth import Layout, Lighting

RGB = tuple[int, int, int]
FACADES: tuple[RGB, ...] = ((232, 214, 160), (200, 220, 210), (236, 190, 170), (210, 210, 225),
                            (245, 235, 215), (180, 200, 160), (230, 170, 120))


@dataclass(frozen=True)
class Stage:
    """Ground geometry: feet of actors lie between `near` and `far`; size shrinks toward `horizon`."""

    horizon: float
    far: float
    near: float

    def scale_at(self, y: float) -> float:
        """An adult's height (fraction of frame height) whose feet are at y."""
        return 0.66 * (y - self.horizon) / (1.0 - self.horizon)


STAGES: dict[Layout, Stage] = {
    Layout.STREET: Stage(0.3, 0.66, 0.97), Layout.ALLEY: Stage(0.28, 0.7, 0.98),
    Layout.INTERSECTION: Stage(0.32, 0.66, 0.97), Layout.MARKET: Stage(0.3, 0.68, 0.97),
    Layout.RIVERSIDE: Stage(0.3, 0.66, 0.97), Layout.PARKING: Stage(0.3, 0.66, 0.97),
}


class _Canvas:
    def __init__(self, width: int, height: int, sky: RGB) -> None:
        self.w, self.h = width, height
        self.image = Image.new("RGB", (width, height), sky)
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, x0: float, y0: float, x1: float, y1: float, rgb: RGB) -> None:
        self.draw.rectangle((x0 * self.w, y0 * self.h, x1 * self.w, y1 * self.h), fill=rgb)

    def poly(self, pts: list[tuple[float, float]], rgb: RGB) -> None:
        self.draw.polygon([(x * self.w, y * self.h) for x, y in pts], fill=rgb)

    def line(self, pts: list[tuple[float, float]], rgb: RGB, width: float) -> None:
        self.draw.line([(x * self.w, y * self.h) for x, y in pts], fill=rgb,
                       width=max(1, round(width * self.h)))


def _houses(c: _Canvas, rng: random.Random, top: float, bottom: float) -> None:
    """A row of narrow tube houses with windows, balconies and shop signs."""
    x = rng.uniform(-0.1, 0.0)
    while x < 1.0:
        w = rng.uniform(0.12, 0.22)
        roof = top + rng.uniform(0.0, 0.12)
        c.rect(x, roof, x + w, bottom, rng.choice(FACADES))
        for fy in np.arange(roof + 0.05, bottom - 0.15, 0.13):
            c.rect(x + w * 0.25, fy, x + w * 0.75, fy + 0.07, (70, 80, 90))
            c.rect(x + w * 0.1, fy + 0.08, x + w * 0.9, fy + 0.095, (90, 90, 90))
        sign = (rng.randint(40, 230), rng.randint(40, 230), rng.randint(40, 230))
        c.rect(x + 0.01, bottom - 0.15, x + w - 0.01, bottom - 0.11, sign)
        c.rect(x + w * 0.15, bottom - 0.1, x + w * 0.85, bottom, (55, 50, 48))
        x += w + rng.uniform(0.0, 0.01)


def _street(c: _Canvas, rng: random.Random, crossing: bool) -> None:
    _houses(c, rng, 0.02, 0.5)
    c.rect(0, 0.5, 1, 0.58, (170, 165, 155))
    c.rect(0, 0.58, 1, 1, (88, 88, 92))
    for x in np.arange(rng.uniform(0, 0.2), 1, 0.25):
        c.rect(x, 0.78, x + 0.12, 0.79, (220, 220, 210))
    if crossing:
        c.poly([(0.38, 0.5), (0.62, 0.5), (0.75, 0.58), (0.25, 0.58)], (88, 88, 92))
        for x in np.arange(0.05, 0.95, 0.07):
            c.rect(x, 0.6, x + 0.035, 0.66, (225, 225, 220))
        c.rect(0.88, 0.12, 0.895, 0.6, (50, 50, 50))
        c.rect(0.87, 0.12, 0.915, 0.25, (30, 30, 30))
        c.rect(0.88, 0.14, 0.905, 0.17, (200, 40, 30))


def _alley(c: _Canvas, rng: random.Random) -> None:
    wall_l, wall_r = rng.choice(FACADES), rng.choice(FACADES)
    c.poly([(0, 0), (0.3, 0.12), (0.3, 0.58), (0, 0.72)], wall_l)
    c.poly([(1, 0), (0.7, 0.12), (0.7, 0.58), (1, 0.72)], wall_r)
    c.rect(0.3, 0.12, 0.7, 0.58, rng.choice(FACADES))
    c.rect(0.44, 0.3, 0.56, 0.58, (60, 52, 45))
    c.poly([(0, 0.72), (0.3, 0.58), (0.7, 0.58), (1, 0.72), (1, 1), (0, 1)], (150, 145, 138))
    c.poly([(0.05, 0.2), (0.16, 0.26), (0.16, 0.55), (0.05, 0.58)], (80, 60, 45))
    c.poly([(0.95, 0.2), (0.84, 0.26), (0.84, 0.55), (0.95, 0.58)], (70, 75, 85))
    for k in range(3):
        y = 0.04 + 0.03 * k + rng.uniform(0, 0.02)
        c.line([(0, y), (0.5, y + 0.06), (1, y + 0.01)], (30, 30, 30), 0.004)
    c.rect(0.2, 0.6, 0.24, 0.66, (60, 120, 60))


def _market(c: _Canvas, rng: random.Random) -> None:
    _houses(c, rng, 0.0, 0.42)
    c.rect(0, 0.42, 1, 1, (160, 150, 140))
    x = 0.0
    while x < 1.0:
        w = rng.uniform(0.18, 0.28)
        a, b = (rng.randint(60, 230), rng.randint(60, 230), rng.randint(60, 230)), (235, 235, 230)
        for i, sx in enumerate(np.linspace(x, x + w, 7)[:-1]):
            c.poly([(sx, 0.3), (sx + w / 6, 0.3), (sx + w / 6 + 0.01, 0.4), (sx + 0.01, 0.4)],
                   a if i % 2 else b)
        c.rect(x + 0.01, 0.48, x + w - 0.01, 0.58, (120, 85, 55))
        for fx in np.arange(x + 0.02, x + w - 0.03, 0.035):
            c.rect(fx, 0.455, fx + 0.028, 0.48, rng.choice([(90, 160, 40), (230, 150, 30),
                                                              (200, 190, 60), (150, 60, 110)]))
        x += w + 0.02


def _riverside(c: _Canvas, rng: random.Random) -> None:
    c.rect(0, 0.22, 1, 0.3, (90, 120, 90))
    c.rect(0, 0.3, 1, 0.52, (70, 100, 115))
    for _ in range(14):
        x, y = rng.uniform(0, 1), rng.uniform(0.32, 0.5)
        c.rect(x, y, x + rng.uniform(0.03, 0.1), y + 0.004, (120, 150, 160))
    c.rect(0, 0.52, 1, 1, (175, 160, 140))
    c.rect(0, 0.5, 1, 0.515, (60, 60, 60))
    for x in np.arange(0.0, 1.0, 0.06):
        c.rect(x, 0.44, x + 0.008, 0.52, (60, 60, 60))
    for x in (rng.uniform(0.05, 0.3), rng.uniform(0.6, 0.9)):
        c.rect(x, 0.06, x + 0.02, 0.5, (90, 65, 40))
        c.draw.ellipse(((x - 0.08) * c.w, 0.0, (x + 0.1) * c.w, 0.2 * c.h), fill=(45, 110, 50))


def _parking(c: _Canvas, rng: random.Random) -> None:
    c.rect(0, 0, 1, 0.12, (120, 120, 125))
    c.rect(0, 0.12, 1, 0.5, (185, 185, 178))
    for x in np.arange(rng.uniform(0.05, 0.15), 1, 0.3):
        c.rect(x, 0.12, x + 0.05, 0.55, (205, 205, 200))
    c.rect(0, 0.5, 1, 1, (95, 95, 98))
    for x in np.arange(0.0, 1.1, 0.16):
        c.line([(x, 0.52), (x - 0.08, 0.64)], (230, 230, 225), 0.006)
    c.rect(0, 0.64, 1, 0.65, (230, 230, 225))
    c.rect(0.7, 0.2, 0.85, 0.28, (30, 90, 170))


def paint_background(layout: Layout, lighting: Lighting, width: int, height: int,
                     seed: int) -> np.ndarray:
    """The empty scene as an H×W×3 uint8 array, lit for `lighting`."""
    rng = random.Random(seed)
    c = _Canvas(width, height, (150, 190, 225))
    if layout in (Layout.STREET, Layout.INTERSECTION):
        _street(c, rng, crossing=layout is Layout.INTERSECTION)
    else:
        {Layout.ALLEY: _alley, Layout.MARKET: _market, Layout.RIVERSIDE: _riverside,
         Layout.PARKING: _parking}[layout](c, rng)
    return relight(np.asarray(c.image, dtype=np.float32), lighting, rng).astype(np.uint8)


def relight(img: np.ndarray, lighting: Lighting, rng: random.Random) -> np.ndarray:
    """Night: dark with warm lamp pools; rain: grey, flat and wet."""
    if lighting is Lighting.DAY:
        return img
    if lighting is Lighting.RAIN:
        grey = img.mean(axis=2, keepdims=True)
        rained: np.ndarray = np.clip(0.7 * (0.6 * img + 0.4 * grey) + 20, 0, 255)
        return rained
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.zeros((h, w), np.float32)
    for _ in range(rng.randint(1, 3)):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.5) * h
        glow += np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * (0.25 * h) ** 2)))
    light = 0.22 + 0.5 * np.clip(glow, 0, 1)[..., None]
    tint = np.array([1.0, 0.9, 0.75], np.float32)
    night: np.ndarray = np.clip(img * light * tint + np.array([4, 5, 12], np.float32), 0, 255)
    return night
