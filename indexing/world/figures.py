"""Side-view drawings of people and bicycles in actor-local units (see `pen.Pen`).

Ground truth names a person's shirt colour and gender and a bicycle's frame colour; everything
else a person wears (`Wear`) and a bicycle carries (`Kit`) comes from the actor's style, so two
people in red shirts are rarely the same picture, as in a real street.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from indexing.world.pen import RGB, Pen

SKIN: RGB = (214, 170, 134)
HAIR: RGB = (25, 20, 18)
STRAW: RGB = (222, 200, 140)
TYRE: RGB = (28, 28, 30)
PANTS: tuple[RGB, ...] = ((42, 46, 72), (58, 58, 62), (30, 30, 34))
LIGHT_PANTS: tuple[RGB, ...] = ((196, 180, 140), (110, 140, 180), (225, 225, 220), (120, 100, 70))
HAIRS: tuple[RGB, ...] = (HAIR, HAIR, (70, 45, 30), (150, 150, 150), (120, 60, 35))
SHOES: tuple[RGB, ...] = (TYRE, (235, 235, 235), (110, 70, 40), (200, 40, 40))
BAGS: tuple[RGB, ...] = (TYRE, (110, 70, 40), (70, 90, 60), (60, 60, 120), (220, 120, 40), (235, 235, 235))
BASKETS: tuple[RGB, ...] = ((176, 140, 90), TYRE, (200, 200, 205))
SADDLES: tuple[RGB, ...] = (TYRE, (110, 70, 40), (235, 235, 235))


@dataclass(frozen=True)
class Wear:
    """A person's trousers, hair, shoes, sleeves and bag, and the conical hat (nón lá). The
    defaults (dark hair, no shoes drawn, long sleeves, no bag) are a motorbike's riders."""

    pants: RGB
    hat: bool
    hair: RGB = HAIR
    long_hair: bool = False
    shoes: RGB | None = None
    short_sleeves: bool = False
    shorts: bool = False
    bag: Literal["backpack", "shoulder"] | None = None
    bag_rgb: RGB = TYRE


def wear(rng: random.Random, pants: RGB, hat: bool, woman: bool) -> Wear:
    """A person's look around the `pants` and `hat` the actor's style drew first (their draws
    predate the details), from `rng` (seeded by the style too)."""
    light, hair = rng.random() < 0.3, rng.choice(HAIRS)
    return Wear(pants=rng.choice(LIGHT_PANTS) if light else pants, hat=hat, hair=hair,
                long_hair=woman and rng.random() < 0.6, shoes=rng.choice(SHOES),
                short_sleeves=rng.random() < 0.45, shorts=rng.random() < 0.15,
                bag=rng.choice((None, None, "backpack", "shoulder")), bag_rgb=rng.choice(BAGS))


@dataclass(frozen=True)
class Kit:
    """What a bicycle carries beside its frame: a front basket, a rear rack, a saddle."""

    basket: RGB | None
    rack: bool
    crate: RGB | None
    saddle: RGB


def kit(rng: random.Random) -> Kit:
    """A bicycle's kit, drawn from `rng` (seeded by the actor's style)."""
    basket = rng.choice(BASKETS) if rng.random() < 0.4 else None
    rack = rng.random() < 0.45
    crate = rng.choice(BAGS) if rack and rng.random() < 0.5 else None
    return Kit(basket=basket, rack=rack, crate=crate, saddle=rng.choice(SADDLES))


def person(pen: Pen, shirt: RGB, wear: Wear, phase: float, stride: float,
           arm_to: tuple[float, float] | None = None) -> None:
    """A standing or walking adult, feet at the origin, 1 unit tall (envelope ±0.25 × 0..1.06)."""
    swing = math.sin(phase) * stride
    hip = (0.0, 0.48)
    _backpack(pen, 0.0, 0.56, wear)
    for sign in (1, -1):
        _leg(pen, [hip, (sign * swing, 0.03)], wear)
    shoulder = (0.0, 0.8)
    pen.poly([(-0.1, 0.47), (0.1, 0.47), (0.12, 0.83), (-0.12, 0.83)], shirt)
    if arm_to is None:
        _arm(pen, [shoulder, (-swing * 0.8, 0.52)], shirt, wear)
        _arm(pen, [shoulder, (swing * 0.8, 0.52)], shirt, wear)
    else:
        _arm(pen, [shoulder, arm_to], shirt, wear)
    _shoulder_bag(pen, wear)
    _head(pen, 0.0, 0.9, wear)


def runner(pen: Pen, shirt: RGB, wear: Wear, phase: float) -> None:
    """A running adult: torso leant forward, elbows and knees bent, the back foot kicked up.

    A walker's legs pass each other (and then look like someone standing); a runner's never
    do, so the pose reads as running at every phase of the stride.
    """
    lean, hip, reach = 0.14, (0.0, 0.47), 0.75 + 0.25 * abs(math.sin(phase))
    _backpack(pen, 0.07, 0.55, wear)
    _leg(pen, [hip, (-0.1 * reach, 0.24), (-0.24 * reach, 0.2)], wear)  # trailing leg
    _leg(pen, [hip, (0.14 * reach, 0.29), (0.2 * reach, 0.04)], wear)  # leading leg
    shoulder = (lean, 0.79)
    pen.poly([(-0.1, 0.46), (0.1, 0.46), (0.12 + lean, 0.82), (-0.12 + lean, 0.82)], shirt)
    swing = 0.11 * math.cos(phase)
    for elbow in ((lean - swing, 0.62), (lean + swing, 0.62)):  # forearms up, swinging
        _arm(pen, [shoulder, elbow, (elbow[0] + 0.1, elbow[1] + 0.08)], shirt, wear)
    _shoulder_bag(pen, wear)
    _head(pen, lean + 0.02, 0.89, wear)


def _leg(pen: Pen, points: list[tuple[float, float]], wear: Wear) -> None:
    """Hip to foot: trousers (or shorts and a bare shin), then the shoe."""
    if wear.shorts:
        knee = _along(points[0], points[1], 0.55)
        pen.line([points[0], knee], wear.pants, 0.085)
        pen.line([knee, *points[1:]], SKIN, 0.06)
    else:
        pen.line(points, wear.pants, 0.085)
    if wear.shoes is not None:
        fu, fv = points[-1]
        pen.line([(fu - 0.03, fv), (fu + 0.06, fv)], wear.shoes, 0.04)


def _arm(pen: Pen, points: list[tuple[float, float]], shirt: RGB, wear: Wear) -> None:
    """Shoulder to hand in the shirt's sleeve; a short sleeve leaves the forearm bare."""
    if wear.short_sleeves:
        cuff = _along(points[0], points[1], 0.45)
        pen.line([cuff, *points[1:]], SKIN, 0.05)
        pen.line([points[0], cuff], shirt, 0.06)
    else:
        pen.line(points, shirt, 0.06)


def _along(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t


def _backpack(pen: Pen, u: float, v: float, wear: Wear) -> None:
    """A backpack on the back of a torso whose back-bottom corner is near (u - 0.1, v)."""
    if wear.bag == "backpack":
        pen.poly([(u - 0.22, v), (u - 0.06, v), (u - 0.04, v + 0.25), (u - 0.19, v + 0.25)], wear.bag_rgb)


def _shoulder_bag(pen: Pen, wear: Wear) -> None:
    """A bag on a strap across the chest, hanging at the hip."""
    if wear.bag == "shoulder":
        pen.line([(0.07, 0.82), (-0.09, 0.55)], wear.bag_rgb, 0.025)
        pen.poly([(-0.19, 0.43), (-0.04, 0.43), (-0.04, 0.56), (-0.19, 0.56)], wear.bag_rgb)


def _head(pen: Pen, u: float, v: float, wear: Wear) -> None:
    if wear.long_hair:
        pen.poly([(u - 0.075, v + 0.03), (u - 0.01, v + 0.03), (u - 0.03, v - 0.13),
                  (u - 0.11, v - 0.13)], wear.hair)
    pen.disc(u, v, 0.075, SKIN)
    if wear.hat:  # nón lá, the conical hat
        pen.poly([(u - 0.15, v + 0.02), (u + 0.15, v + 0.02), (u, v + 0.15)], STRAW)
    else:
        pen.poly([(u - 0.075, v + 0.01), (u - 0.06, v + 0.06), (u + 0.04, v + 0.08),
                  (u + 0.07, v + 0.02)], wear.hair)


def rider(pen: Pen, hip: tuple[float, float], shirt: RGB, wear: Wear, helmet: RGB,
          hand: tuple[float, float], foot: tuple[float, float]) -> None:
    """A seated rider: hips at `hip`, hands on `hand`, feet on `foot`; `helmet` covers the head
    (a bicycle's rider passes the hair's colour)."""
    hu, hv = hip
    knee = (hu + 0.2, hv + 0.02)
    _backpack(pen, hu + 0.02, hv + 0.08, wear)
    _leg(pen, [hip, knee, foot], wear)
    shoulder = (hu + 0.07, hv + 0.34)
    pen.poly([(hu - 0.1, hv - 0.01), (hu + 0.08, hv - 0.01), (shoulder[0] + 0.1, shoulder[1] + 0.02),
              (shoulder[0] - 0.11, shoulder[1] + 0.02)], shirt)
    _arm(pen, [shoulder, hand], shirt, wear)
    pen.disc(shoulder[0] + 0.02, shoulder[1] + 0.1, 0.08, helmet)
    pen.disc(shoulder[0] + 0.06, shoulder[1] + 0.08, 0.035, SKIN)


def bicycle(pen: Pen, frame: RGB, pedal_phase: float, kit: Kit) -> tuple[float, float]:
    """A bicycle on the ground, wheels at u=±0.3 (envelope ±0.49 × 0..0.58). Returns the seat."""
    rear, front, bracket = (-0.3, 0.17), (0.3, 0.17), (0.0, 0.17)
    seat, head = (-0.08, 0.45), (0.23, 0.47)
    for hub in (rear, front):
        pen.ring(hub[0], hub[1], 0.16, TYRE, 0.035)
    pen.line([rear, bracket, seat, rear], frame, 0.035)
    pen.line([seat, head, bracket], frame, 0.035)
    pen.line([head, front], frame, 0.035)
    pen.line([head, (0.19, 0.55), (0.25, 0.55)], TYRE, 0.03)
    pen.line([(-0.14, 0.49), (-0.02, 0.49)], kit.saddle, 0.035)
    if kit.rack:
        pen.line([(-0.44, 0.37), (-0.12, 0.37)], (60, 60, 64), 0.025)
        pen.line([(-0.4, 0.37), rear], (60, 60, 64), 0.02)
        if kit.crate is not None:
            pen.poly([(-0.45, 0.38), (-0.22, 0.38), (-0.22, 0.53), (-0.45, 0.53)], kit.crate)
    if kit.basket is not None:
        pen.poly([(0.25, 0.36), (0.43, 0.36), (0.46, 0.51), (0.24, 0.51)], kit.basket)
    crank = (0.08 * math.cos(pedal_phase), 0.17 + 0.08 * math.sin(pedal_phase))
    pen.line([bracket, crank], TYRE, 0.025)
    return seat
