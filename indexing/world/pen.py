"""Resolution-independent drawing: actor-local coordinates mapped to pixels, lighting-aware colours."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from PIL import ImageDraw

from indexing.world.truth import Colour, Lighting

RGB = tuple[int, int, int]

PALETTE: dict[Colour, RGB] = {
    Colour.RED: (205, 30, 30),
    Colour.BLUE: (30, 75, 205),
    Colour.GREEN: (35, 150, 55),
    Colour.YELLOW: (240, 205, 30),
    Colour.WHITE: (238, 238, 238),
    Colour.BLACK: (22, 22, 26),
    Colour.GREY: (135, 137, 142),
    Colour.BROWN: (125, 78, 38),
}


def shade(rgb: RGB, lighting: Lighting) -> RGB:
    """The colour a surface of paint `rgb` shows to the camera under `lighting`."""
    r, g, b = rgb
    if lighting is Lighting.NIGHT:  # street lamps: darker, slightly warm, colours kept
        return (int(r * 0.55 + 10), int(g * 0.5 + 8), int(b * 0.5 + 10))
    if lighting is Lighting.RAIN:  # overcast: flatter and greyer
        grey = (r + g + b) / 3
        return tuple(int(0.75 * (0.8 * c + 0.2 * grey) + 12) for c in (r, g, b))  # type: ignore[return-value]
    return rgb


@dataclass(frozen=True)
class Pen:
    """Draws in actor-local units: u forward (mirrored by `facing`), v up from the ground.

    One unit is `unit` pixels (an adult's height), so the same actor drawn at
    720p and at 256×144 covers the same fraction of the frame.
    """

    draw: ImageDraw.ImageDraw
    ox: float  # anchor (feet) in pixels
    oy: float
    unit: float
    facing: int
    lighting: Lighting
    du: float = 0.0  # sub-drawing offset and rotation, in local units
    dv: float = 0.0
    angle: float = 0.0

    def sub(self, du: float, dv: float, angle: float = 0.0) -> Pen:
        """A pen whose origin is (du, dv) of this one, rotated by `angle` radians."""
        u, v = self._local(du, dv)
        return replace(self, du=u, dv=v, angle=self.angle + angle)

    def _local(self, u: float, v: float) -> tuple[float, float]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.du + u * c - v * s, self.dv + u * s + v * c

    def pt(self, u: float, v: float) -> tuple[float, float]:
        lu, lv = self._local(u, v)
        return self.ox + lu * self.unit * self.facing, self.oy - lv * self.unit

    def colour(self, rgb: RGB) -> RGB:
        return shade(rgb, self.lighting)

    def poly(self, points: list[tuple[float, float]], rgb: RGB, lit: bool = False) -> None:
        self.draw.polygon([self.pt(u, v) for u, v in points], fill=rgb if lit else self.colour(rgb))

    def line(self, points: list[tuple[float, float]], rgb: RGB, width: float) -> None:
        px = max(1, round(width * self.unit))
        self.draw.line([self.pt(u, v) for u, v in points], fill=self.colour(rgb), width=px,
                       joint="curve")

    def disc(self, u: float, v: float, r: float, rgb: RGB, lit: bool = False) -> None:
        x, y = self.pt(u, v)
        rp = max(0.5, r * self.unit)
        self.draw.ellipse((x - rp, y - rp, x + rp, y + rp), fill=rgb if lit else self.colour(rgb))

    def ring(self, u: float, v: float, r: float, rgb: RGB, width: float) -> None:
        x, y = self.pt(u, v)
        rp = max(1.0, r * self.unit)
        self.draw.ellipse((x - rp, y - rp, x + rp, y + rp), outline=self.colour(rgb),
                          width=max(1, round(width * self.unit)))
