"""Held-out footage: layouts training never saw, with events that answer every evaluation query."""

from __future__ import annotations

import random

from indexing.world.queries import heldout_queries
from indexing.world.random_scenes import KIND_WEIGHTS, sample_label
from indexing.world.script import Camera, Crossing, Scenario, crossing, depth_band
from indexing.world.training_split import HELDOUT_LAYOUTS
from indexing.world.truth import INCIDENT_KINDS, ActorLabel, Layout, Lighting

CAMERA_PREFIX: dict[Layout, str] = {Layout.RIVERSIDE: "cam-song", Layout.PARKING: "cam-baixe"}
GAP_S = (5.0, 8.0)


def _cameras(layout: Layout, rng: random.Random) -> tuple[Camera, ...]:
    return tuple(Camera(f"{CAMERA_PREFIX[layout]}-{i + 1}", layout, lighting, rng.getrandbits(32))
                 for i, lighting in enumerate(Lighting))


def _schedule(rng: random.Random, cameras: tuple[Camera, ...], duration_s: float,
              required: dict[str, list[ActorLabel]]) -> list[Crossing]:
    """Each camera: its required labels first, then random traffic; 5–8 s between arrivals."""
    events: list[Crossing] = []
    kinds, weights = zip(*KIND_WEIGHTS.items(), strict=True)
    for cam in cameras:
        todo = list(required.get(cam.camera_id, []))
        t, n = rng.uniform(0.0, 2.0), 0
        while t < duration_s - 8.0:
            label = todo.pop() if todo else sample_label(rng, rng.choices(kinds, weights)[0])
            events.append(crossing(rng, cam.camera_id, f"{cam.camera_id}-{n}", label, t,
                                   depth_band(label.kind)))
            still = label.kind in INCIDENT_KINDS or events[-1].direction == 0
            t += rng.uniform(*GAP_S) + (events[-1].duration_s * 0.6 if still else 0.0)
            n += 1
    return events


def heldout_scenarios(seed: int, quick: bool) -> list[Scenario]:
    """One scenario per held-out layout (riverside, parking), a camera per lighting.

    Every query of `heldout_queries()` has at least one (quick) or two (full)
    relevant events; the rest is random traffic, including compositions
    training never saw. Quick: 60 s per camera; full: 180 s.
    """
    rng = random.Random(seed)
    duration = 60.0 if quick else 180.0
    per_query = 1 if quick else 2
    layouts = sorted(HELDOUT_LAYOUTS)
    cameras = {layout: _cameras(layout, rng) for layout in layouts}
    required: dict[str, list[ActorLabel]] = {}
    specs = {q.text: q.predicate for q in heldout_queries() if q.language == "en"}
    for i, (_text, match) in enumerate(sorted(specs.items())):
        for k in range(per_query):
            options = [cam for layout in layouts for cam in cameras[layout]
                       if match.lighting is None or cam.lighting is match.lighting]
            cam = options[(i + k) % len(options)]
            required.setdefault(cam.camera_id, []).append(match.example(rng))
    for labels in required.values():
        rng.shuffle(labels)
    return [Scenario(name=f"heldout-{layout.value}-{seed}", cameras=cameras[layout],
                     duration_s=duration, fps=10,
                     events=tuple(_schedule(rng, cameras[layout], duration, required)))
            for layout in layouts]
