"""Drawing every actor kind, and the envelope (in actor-local units) that contains each drawing."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from indexing.world import figures
from indexing.world.pen import PALETTE, RGB, Pen
from indexing.world.truth import Action, ActorKind, ActorLabel, BBox, Colour, Gender

LAMP: RGB = (255, 246, 200)
TAIL: RGB = (230, 20, 20)
GLASS: RGB = (70, 95, 120)
CARGO: RGB = (176, 130, 80)
BIN_COLOURS: tuple[RGB, ...] = ((40, 120, 60), (40, 80, 150), (90, 90, 95))
RIMS: tuple[RGB, ...] = ((160, 160, 160), (40, 40, 44), (205, 170, 70))
# Paint for the details a vehicle or a dog carries beside its named colour (trim, roof, cab,
# patches, collar); `style` picks them, so two red cars are rarely the same picture.
TRIMS: tuple[RGB, ...] = (PALETTE[Colour.WHITE], PALETTE[Colour.BLACK], PALETTE[Colour.YELLOW],
                          PALETTE[Colour.RED], PALETTE[Colour.BLUE])
COATS: tuple[RGB, ...] = (PALETTE[Colour.WHITE], PALETTE[Colour.BLACK], PALETTE[Colour.BROWN],
                          (200, 160, 100))


@dataclass(frozen=True)
class Pose:
    """Where an actor stands: feet at (x, y) in normalised frame coordinates.

    `scale` is an adult's height as a fraction of the frame height; `phase`
    drives gait, pedals and flames; `style` seeds details that ground truth
    does not name (a person's trousers, hair, shoes, sleeves and bag, a bicycle's basket and
    rack, helmets, a car's trim and roof, a truck's cab and markings, a dog's patches and
    collar, smoke puffs).
    """

    x: float
    y: float
    scale: float
    facing: int
    phase: float
    style: int


def envelope(label: ActorLabel) -> tuple[float, float, float, float]:
    """(u_min, u_max, v_min, v_max) containing the drawing of `label`, before mirroring."""
    kind, action = label.kind, label.action
    if kind is ActorKind.PERSON:
        return (-0.36, 0.36, 0.0, 1.08)
    if kind is ActorKind.BICYCLE:
        return {Action.RIDDEN: (-0.52, 0.52, 0.0, 1.08), Action.PUSHED: (-0.72, 0.78, 0.0, 1.08),
                Action.CARRIED: (-0.62, 0.62, 0.0, 1.32)}.get(action, (-0.52, 0.52, 0.0, 0.6))
    if kind is ActorKind.MOTORBIKE:
        return (-0.72, 0.48, 0.0, 1.1 if label.count else 0.75)
    extents = {ActorKind.CAR: (-1.12, 1.12, 0.0, 1.0), ActorKind.TRUCK: (-1.52, 1.52, 0.0, 1.62),
               ActorKind.DOG: (-0.38, 0.36, 0.0, 0.46), ActorKind.SMOKE: (-0.55, 0.55, 0.0, 1.7),
               ActorKind.FIRE: (-0.55, 0.55, 0.0, 1.7)}
    if kind is ActorKind.BINS:
        half = 0.22 * label.count + 0.02
        return (-half, half, 0.0, 0.64)
    return extents[kind]


def bbox(label: ActorLabel, pose: Pose, aspect: float) -> BBox:
    """Normalised box of the drawing; `aspect` is width / height of the frame."""
    u0, u1, v0, v1 = envelope(label)
    if pose.facing < 0:
        u0, u1 = -u1, -u0
    sx = pose.scale / aspect
    return BBox(x0=max(0.0, pose.x + u0 * sx), y0=max(0.0, pose.y - v1 * pose.scale),
                x1=min(1.0, pose.x + u1 * sx), y1=min(1.0, pose.y - v0 * pose.scale))


def draw_actor(pen: Pen, label: ActorLabel, pose: Pose, night: bool) -> None:
    rng = random.Random(pose.style)
    colour = PALETTE[label.colour] if label.colour else PALETTE[Colour.GREY]
    person_rgb = PALETTE[label.person_colour] if label.person_colour else PALETTE[Colour.GREY]
    pants = rng.choice(figures.PANTS)
    woman = label.gender is Gender.WOMAN
    hat = woman and rng.random() < 0.6
    kind, phase = label.kind, pose.phase
    if kind in (ActorKind.PERSON, ActorKind.BICYCLE):
        # A person's and a bicycle's further details come from a stream of their own, so adding
        # them left the other kinds' style draws (a car's trim, a dog's patches) as they were.
        details = random.Random(f"wear:{pose.style}")
        wear = figures.wear(details, pants, hat, woman)
        if kind is ActorKind.BICYCLE:
            _bicycle(pen, label.action, colour, person_rgb, wear, figures.kit(details), phase, rng)
        elif label.action is Action.RUNNING:
            figures.runner(pen, colour, wear, phase)
        else:
            figures.person(pen, colour, wear, phase, 0.16 if label.action is Action.WALKING else 0.0)
    elif kind is ActorKind.MOTORBIKE:
        _motorbike(pen, label, colour, figures.Wear(pants=pants, hat=False), phase, night, rng)
    elif kind is ActorKind.CAR:
        _car(pen, colour, night, rng)
    elif kind is ActorKind.TRUCK:
        _truck(pen, colour, night, rng)
    elif kind is ActorKind.DOG:
        _dog(pen, colour, phase, rng)
    elif kind is ActorKind.BINS:
        _bins(pen, label.count, rng)
    else:
        _smoke(pen, phase, rng, fire=kind is ActorKind.FIRE)


def _bicycle(pen: Pen, action: Action, frame: RGB, shirt: RGB, wear: figures.Wear, kit: figures.Kit,
             phase: float, rng: random.Random) -> None:
    if action is Action.RIDDEN:
        figures.bicycle(pen, frame, phase, kit)
        foot = (0.08 * math.cos(phase), 0.17 + 0.08 * math.sin(phase))
        figures.rider(pen, (-0.1, 0.5), shirt, wear, wear.hair, (0.2, 0.56), foot)
    elif action is Action.PUSHED:
        figures.person(pen.sub(-0.4, 0.0), shirt, wear, phase, 0.16, arm_to=(0.55, 0.55))
        figures.bicycle(pen.sub(0.27, 0.0), frame, 0.0, kit)
    elif action is Action.CARRIED:
        figures.person(pen, shirt, wear, phase, 0.16, arm_to=(0.05, 0.95))
        figures.bicycle(pen.sub(-0.02, 0.62, 0.15), frame, 0.0, kit)
    else:
        figures.bicycle(pen, frame, rng.uniform(0, 6.28), kit)


def _motorbike(pen: Pen, label: ActorLabel, body: RGB, wear: figures.Wear, phase: float, night: bool,
               rng: random.Random) -> None:
    for u in (-0.33, 0.31):
        pen.disc(u, 0.14, 0.135, figures.TYRE)
        pen.disc(u, 0.14, 0.05, (150, 150, 150))
    pen.poly([(-0.5, 0.2), (-0.47, 0.42), (-0.02, 0.44), (0.03, 0.2)], body)
    pen.poly([(-0.03, 0.16), (0.22, 0.16), (0.22, 0.25), (-0.03, 0.25)], body)
    pen.poly([(0.16, 0.18), (0.25, 0.7), (0.34, 0.7), (0.42, 0.2)], body)
    pen.poly([(-0.42, 0.42), (-0.02, 0.44), (-0.04, 0.49), (-0.4, 0.48)], figures.TYRE)
    pen.line([(0.22, 0.72), (0.36, 0.72)], figures.TYRE, 0.03)
    pen.disc(0.37, 0.6, 0.04, LAMP if night else (220, 220, 200), lit=night)
    pen.disc(-0.49, 0.38, 0.025, TAIL, lit=night)
    if label.cargo:
        pen.poly([(-0.7, 0.42), (-0.43, 0.42), (-0.43, 0.82), (-0.7, 0.82)], CARGO)
        pen.line([(-0.7, 0.62), (-0.43, 0.62)], (120, 85, 50), 0.02)
    helmets = [PALETTE[c] for c in (Colour.WHITE, Colour.YELLOW, Colour.BLACK, Colour.BLUE)]
    if label.count >= 2:
        figures.rider(pen, (-0.36, 0.5), _shirt(rng), wear, rng.choice(helmets),
                      (-0.14, 0.6), (-0.15, 0.24))
    if label.count >= 1:
        shirt = PALETTE[label.person_colour] if label.person_colour else _shirt(rng)
        figures.rider(pen, (-0.12, 0.5), shirt, wear, rng.choice(helmets), (0.28, 0.71),
                      (0.1, 0.25))


def _shirt(rng: random.Random) -> RGB:
    return rng.choice(list(PALETTE.values()))


def _car(pen: Pen, body: RGB, night: bool, rng: random.Random) -> None:
    """A saloon or a hatchback in its named colour; `rng` (the style) picks a trim stripe, a
    roof of another colour, the rims and a roof rack."""
    trim, roof = rng.choice((None, *TRIMS)), rng.choice((body, PALETTE[Colour.WHITE], PALETTE[Colour.BLACK]))
    rims, rack, hatch = rng.choice(RIMS), rng.random() < 0.35, rng.random() < 0.5
    pen.poly([(-1.08, 0.18), (1.08, 0.18), (1.08, 0.42), (0.7, 0.52), (-1.04, 0.54)], body)
    back = -0.98 if hatch else -0.75
    pen.poly([(back, 0.52), (-0.9 if hatch else -0.5, 0.84), (0.32, 0.84), (0.62, 0.52)], body)
    top = -0.88 if hatch else -0.5
    pen.poly([(top, 0.84), (0.32, 0.84), (0.3, 0.89), (top + 0.02, 0.89)], roof)
    pen.poly([(-0.84 if hatch else -0.62, 0.55), (-0.8 if hatch else -0.44, 0.78), (-0.1, 0.78),
              (-0.1, 0.55)], GLASS)
    pen.poly([(-0.02, 0.55), (-0.02, 0.78), (0.28, 0.78), (0.5, 0.55)], GLASS)
    if trim is not None:
        pen.poly([(-1.06, 0.3), (1.06, 0.3), (1.06, 0.38), (-1.06, 0.38)], trim)
    if rack:
        pen.line([(-0.5, 0.97), (0.25, 0.97)], (60, 60, 64), 0.04)
        for u in (-0.4, 0.15):
            pen.line([(u, 0.89), (u, 0.97)], (60, 60, 64), 0.03)
    for u in (-0.68, 0.68):
        pen.disc(u, 0.17, 0.16, figures.TYRE)
        pen.disc(u, 0.17, 0.07, rims)
    pen.disc(1.03, 0.4, 0.045, LAMP if night else (225, 225, 210), lit=night)
    pen.disc(-1.03, 0.44, 0.04, TAIL, lit=night)


def _truck(pen: Pen, body: RGB, night: bool, rng: random.Random) -> None:
    """A box truck whose box is its named colour; `rng` (the style) picks the cab's colour, a band
    and a mark on the box, and one or two rear axles."""
    cab = rng.choice((body, PALETTE[Colour.WHITE], PALETTE[Colour.BLUE], PALETTE[Colour.RED],
                      PALETTE[Colour.GREY]))
    band, mark = rng.choice((None, *TRIMS)), rng.choice((None, "disc", "diamond"))
    mark_rgb, axles = rng.choice(TRIMS), rng.choice(((-1.05, -0.62), (-0.85,)))
    pen.poly([(-1.48, 0.32), (0.7, 0.32), (0.7, 1.58), (-1.48, 1.58)], body)
    pen.line([(-1.48, 0.32), (0.7, 0.32)], (60, 60, 60), 0.05)
    if band is not None:
        pen.poly([(-1.48, 0.62), (0.7, 0.62), (0.7, 0.8), (-1.48, 0.8)], band)
    if mark == "disc":
        pen.disc(-0.39, 1.15, 0.24, mark_rgb)
    elif mark == "diamond":
        pen.poly([(-0.39, 0.88), (-0.1, 1.15), (-0.39, 1.42), (-0.68, 1.15)], mark_rgb)
    pen.poly([(0.76, 0.25), (1.48, 0.25), (1.48, 0.85), (1.3, 1.25), (0.76, 1.25)], cab)
    pen.poly([(1.02, 0.85), (1.42, 0.85), (1.28, 1.16), (1.02, 1.16)], GLASS)
    for u in (*axles, 1.1):
        pen.disc(u, 0.21, 0.2, figures.TYRE)
        pen.disc(u, 0.21, 0.07, (160, 160, 160))
    pen.disc(1.43, 0.45, 0.05, LAMP if night else (225, 225, 210), lit=night)


def _dog(pen: Pen, coat: RGB, phase: float, rng: random.Random) -> None:
    """A trotting dog in its named coat; `rng` (the style) picks a saddle patch, the head's colour,
    white socks, a collar, and whether the tail and ears stand up."""
    patch, head = rng.choice((None, *COATS)), rng.choice((coat, *COATS))
    socks, collar = rng.random() < 0.3, rng.choice((None, *TRIMS[2:], PALETTE[Colour.GREEN]))
    tail_up, ears_up = rng.random() < 0.5, rng.random() < 0.5
    swing = math.sin(phase) * 0.06
    for u, s in ((-0.17, 1), (-0.12, -1), (0.1, 1), (0.15, -1)):
        pen.line([(u, 0.22), (u + s * swing, 0.02)], coat, 0.045)
        if socks:
            pen.line([(u + s * swing * 0.6, 0.08), (u + s * swing, 0.02)], PALETTE[Colour.WHITE], 0.05)
    pen.poly([(-0.24, 0.2), (0.2, 0.2), (0.22, 0.32), (-0.22, 0.33)], coat)
    if patch is not None:
        pen.poly([(-0.16, 0.26), (0.1, 0.26), (0.12, 0.33), (-0.14, 0.335)], patch)
    pen.line([(-0.22, 0.3), (-0.33, 0.41) if tail_up else (-0.36, 0.2)], coat, 0.035)
    pen.disc(0.23, 0.34, 0.075, head)
    pen.poly([(0.26, 0.3), (0.34, 0.29), (0.33, 0.35), (0.26, 0.37)], head)
    if collar is not None:
        pen.line([(0.17, 0.26), (0.2, 0.32)], collar, 0.04)
    ear = [(0.17, 0.37), (0.21, 0.45), (0.24, 0.38)] if ears_up else [(0.16, 0.38), (0.2, 0.4), (0.17, 0.29)]
    pen.poly(ear, figures.HAIR)


def _bins(pen: Pen, count: int, rng: random.Random) -> None:
    start = -0.22 * count + 0.22
    for i in range(count):
        u = start + 0.44 * i
        rgb = rng.choice(BIN_COLOURS)
        pen.poly([(u - 0.15, 0.04), (u + 0.15, 0.04), (u + 0.18, 0.52), (u - 0.18, 0.52)], rgb)
        pen.poly([(u - 0.2, 0.52), (u + 0.2, 0.52), (u + 0.2, 0.6), (u - 0.2, 0.6)],
                 tuple(int(c * 0.8) for c in rgb))  # type: ignore[arg-type]
        pen.disc(u - 0.1, 0.05, 0.045, figures.TYRE)


def _smoke(pen: Pen, phase: float, rng: random.Random, fire: bool) -> None:
    base = 0.55 if fire else 0.1
    for i in range(9):
        drift = (phase * 0.02 + i * 0.13) % 1.0
        v = base + drift * (1.6 - 0.35 - base) + 0.15
        u = rng.uniform(-0.18, 0.18) + drift * 0.12
        grey = rng.randint(95, 175)
        pen.disc(u, v, 0.12 + 0.1 * drift, (grey, grey, grey + 4))
    if fire:
        flick = 0.08 * math.sin(phase * 3.0)
        pen.poly([(-0.45, 0.02), (0.45, 0.02), (0.22, 0.5 + flick), (0.05, 0.78 - flick),
                  (-0.12, 0.5), (-0.3, 0.62 + flick)], (245, 110, 20), lit=True)
        pen.poly([(-0.28, 0.03), (0.28, 0.03), (0.1, 0.42 - flick), (-0.1, 0.38)], (255, 215, 60), lit=True)
        pen.poly([(-0.5, 0.0), (0.5, 0.0), (0.45, 0.06), (-0.45, 0.06)], (45, 35, 30))
