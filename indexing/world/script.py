"""Scripted multi-camera footage: cameras, actors crossing their views, background traffic."""

from __future__ import annotations

import random
from dataclasses import dataclass

from indexing.world.random_scenes import sample_label
from indexing.world.truth import Action, ActorKind, ActorLabel, Layout, Lighting


@dataclass(frozen=True)
class Camera:
    camera_id: str
    layout: Layout
    lighting: Lighting
    seed: int  # paints the background (which houses, which signs)
    zoom: float = 1.0  # actors' size against the close-up view: a wide street view is < 1


@dataclass(frozen=True)
class Crossing:
    """One actor on one camera: visible from `start_s` for `duration_s` seconds.

    A moving actor (`direction` ±1) enters at one edge (or sets off from `x`)
    at `start_s` and reaches the other edge at `end_s`; a still one
    (`direction` 0) stands at `x`. `y` places its
    feet on the ground (depth). The same `actor_id` on two cameras is the same
    person/vehicle.
    """

    camera_id: str
    actor_id: str
    label: ActorLabel
    start_s: float
    duration_s: float
    y: float
    direction: int
    x: float | None = None  # where a still actor stands, or where a moving one sets off
    style: int = 0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Scenario:
    """Cameras sharing one wall clock (every camera starts at t=0), and the scripted crossings."""

    name: str
    cameras: tuple[Camera, ...]
    duration_s: float
    fps: int
    events: tuple[Crossing, ...]

    def camera(self, camera_id: str) -> Camera:
        for cam in self.cameras:
            if cam.camera_id == camera_id:
                return cam
        raise KeyError(f"scenario {self.name!r} has no camera {camera_id!r}")


# Seconds an actor takes to cross the view: slow enough for a keyframe every 2 s to see it.
CROSSING_S: dict[Action, tuple[float, float]] = {
    Action.WALKING: (8.0, 12.0), Action.RUNNING: (5.0, 7.0), Action.RIDDEN: (4.5, 7.0),
    Action.PUSHED: (9.0, 13.0), Action.CARRIED: (9.0, 13.0), Action.DRIVING: (4.5, 6.5)}
STILL_S = (10.0, 25.0)
TRAFFIC_KINDS: tuple[tuple[ActorKind, float], ...] = (
    (ActorKind.MOTORBIKE, 0.45), (ActorKind.PERSON, 0.25), (ActorKind.CAR, 0.15),
    (ActorKind.TRUCK, 0.05), (ActorKind.DOG, 0.1))


def crossing(rng: random.Random, camera_id: str, actor_id: str, label: ActorLabel,
             start_s: float, near: tuple[float, float]) -> Crossing:
    """`label` crossing (or standing in) the view from `start_s`, feet at a depth within `near`."""
    if label.action in CROSSING_S:
        lo, hi = CROSSING_S[label.action]
        return Crossing(camera_id, actor_id, label, start_s, rng.uniform(lo, hi),
                        y=rng.uniform(*near), direction=rng.choice([1, -1]), style=rng.getrandbits(32))
    return Crossing(camera_id, actor_id, label, start_s, rng.uniform(*STILL_S), y=rng.uniform(*near),
                    direction=0, x=rng.uniform(0.2, 0.8), style=rng.getrandbits(32))


def depth_band(kind: ActorKind) -> tuple[float, float]:
    """Where feet of this kind go: big vehicles further back so they fit the frame."""
    return (0.7, 0.8) if kind in (ActorKind.CAR, ActorKind.TRUCK) else (0.74, 0.95)


def traffic(rng: random.Random, camera_id: str, duration_s: float, prefix: str,
            gap_s: tuple[float, float] = (4.0, 9.0)) -> list[Crossing]:
    """Unrelated passers-by (no bicycles, no incidents) spread over the whole duration."""
    events, t, n = [], rng.uniform(0.0, 4.0), 0
    kinds, weights = zip(*TRAFFIC_KINDS, strict=True)
    while t < duration_s - 5.0:
        kind = rng.choices(kinds, weights)[0]
        label = sample_label(rng, kind)
        if label.action in (Action.PARKED, Action.STANDING):
            label = sample_label(rng, kind)
        events.append(crossing(rng, camera_id, f"{prefix}-{n}", label, t, depth_band(kind)))
        t += rng.uniform(*gap_s)
        n += 1
    return events
