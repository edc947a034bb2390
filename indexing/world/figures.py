"""Side-view drawings of people and bicycles in actor-local units (see `pen.Pen`)."""

from __future__ import annotations

import math

from indexing.world.pen import RGB, Pen

SKIN: RGB = (214, 170, 134)
HAIR: RGB = (25, 20, 18)
STRAW: RGB = (222, 200, 140)
TYRE: RGB = (28, 28, 30)
PANTS: tuple[RGB, ...] = ((42, 46, 72), (58, 58, 62), (30, 30, 34))


def person(pen: Pen, shirt: RGB, pants: RGB, phase: float, stride: float,
           hat: bool, arm_to: tuple[float, float] | None = None) -> None:
    """A standing or walking adult, feet at the origin, 1 unit tall (envelope ±0.25 × 0..1.06)."""
    swing = math.sin(phase) * stride
    hip = (0.0, 0.48)
    for sign in (1, -1):
        pen.line([hip, (sign * swing, 0.03)], pants, 0.085)
    shoulder = (0.0, 0.8)
    pen.poly([(-0.1, 0.47), (0.1, 0.47), (0.12, 0.83), (-0.12, 0.83)], shirt)
    if arm_to is None:
        pen.line([shoulder, (-swing * 0.8, 0.52)], shirt, 0.06)
        pen.line([shoulder, (swing * 0.8, 0.52)], shirt, 0.06)
    else:
        pen.line([shoulder, arm_to], shirt, 0.06)
    _head(pen, 0.0, 0.9, hat)


def runner(pen: Pen, shirt: RGB, pants: RGB, phase: float, hat: bool) -> None:
    """A running adult: torso leant forward, elbows and knees bent, the back foot kicked up.

    A walker's legs pass each other (and then look like someone standing); a runner's never
    do, so the pose reads as running at every phase of the stride.
    """
    lean, hip, reach = 0.14, (0.0, 0.47), 0.75 + 0.25 * abs(math.sin(phase))
    pen.line([hip, (-0.1 * reach, 0.24), (-0.24 * reach, 0.2)], pants, 0.085)  # trailing leg
    pen.line([hip, (0.14 * reach, 0.29), (0.2 * reach, 0.04)], pants, 0.085)  # leading leg
    shoulder = (lean, 0.79)
    pen.poly([(-0.1, 0.46), (0.1, 0.46), (0.12 + lean, 0.82), (-0.12 + lean, 0.82)], shirt)
    swing = 0.11 * math.cos(phase)
    for elbow in ((lean - swing, 0.62), (lean + swing, 0.62)):  # forearms up, swinging
        pen.line([shoulder, elbow, (elbow[0] + 0.1, elbow[1] + 0.08)], shirt, 0.06)
    _head(pen, lean + 0.02, 0.89, hat)


def _head(pen: Pen, u: float, v: float, hat: bool) -> None:
    pen.disc(u, v, 0.075, SKIN)
    if hat:  # nón lá, the conical hat
        pen.poly([(u - 0.15, v + 0.02), (u + 0.15, v + 0.02), (u, v + 0.15)], STRAW)
    else:
        pen.poly([(u - 0.075, v + 0.01), (u - 0.06, v + 0.06), (u + 0.04, v + 0.08),
                  (u + 0.07, v + 0.02)], HAIR)


def rider(pen: Pen, hip: tuple[float, float], shirt: RGB, pants: RGB, helmet: RGB,
          hand: tuple[float, float], foot: tuple[float, float]) -> None:
    """A seated rider: hips at `hip`, hands on `hand`, feet on `foot`."""
    hu, hv = hip
    knee = (hu + 0.2, hv + 0.02)
    pen.line([hip, knee, foot], pants, 0.08)
    shoulder = (hu + 0.07, hv + 0.34)
    pen.poly([(hu - 0.1, hv - 0.01), (hu + 0.08, hv - 0.01), (shoulder[0] + 0.1, shoulder[1] + 0.02),
              (shoulder[0] - 0.11, shoulder[1] + 0.02)], shirt)
    pen.line([shoulder, hand], shirt, 0.055)
    pen.disc(shoulder[0] + 0.02, shoulder[1] + 0.1, 0.08, helmet)
    pen.disc(shoulder[0] + 0.06, shoulder[1] + 0.08, 0.035, SKIN)


def bicycle(pen: Pen, frame: RGB, pedal_phase: float) -> tuple[float, float]:
    """A bicycle on the ground, wheels at u=±0.3 (envelope ±0.49 × 0..0.58). Returns the seat."""
    rear, front, bracket = (-0.3, 0.17), (0.3, 0.17), (0.0, 0.17)
    seat, head = (-0.08, 0.45), (0.23, 0.47)
    for hub in (rear, front):
        pen.ring(hub[0], hub[1], 0.16, TYRE, 0.035)
    pen.line([rear, bracket, seat, rear], frame, 0.035)
    pen.line([seat, head, bracket], frame, 0.035)
    pen.line([head, front], frame, 0.035)
    pen.line([head, (0.19, 0.55), (0.25, 0.55)], TYRE, 0.03)
    pen.line([(-0.14, 0.49), (-0.02, 0.49)], TYRE, 0.035)
    crank = (0.08 * math.cos(pedal_phase), 0.17 + 0.08 * math.sin(pedal_phase))
    pen.line([bracket, crank], TYRE, 0.025)
    return seat
