"""Where every scripted actor is at time t, and the ground-truth event timeline of a scenario."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from indexing.world.actors import Pose, envelope
from indexing.world.captions import caption_pair
from indexing.world.layouts import STAGES
from indexing.world.render import Placement, truth_of
from indexing.world.script import Crossing, Scenario
from indexing.world.truth import Action, ActorLabel, FrameTruth, SceneLabel

GAIT_HZ: dict[Action, float] = {Action.WALKING: 0.9, Action.RUNNING: 1.6, Action.PUSHED: 0.9,
                                Action.CARRIED: 0.85, Action.RIDDEN: 1.2}


@dataclass(frozen=True)
class TimelineEvent:
    """An actor visible on a camera over [start_s, end_s] (seconds from the footage start)."""

    camera_id: str
    actor_id: str
    start_s: float
    end_s: float
    label: ActorLabel
    scene: SceneLabel
    caption_en: str
    caption_vi: str


def scene_of(scenario: Scenario, camera_id: str) -> SceneLabel:
    cam = scenario.camera(camera_id)
    return SceneLabel(layout=cam.layout, lighting=cam.lighting)


def pose_at(event: Crossing, scene: SceneLabel, t: float, aspect: float,
            zoom: float = 1.0) -> Pose | None:
    """The actor's pose at t, or None when it is off screen (a moving actor eases in and out).

    `zoom` scales the actor against the close-up view (the camera's `zoom`)."""
    scale = STAGES[scene.layout].scale_at(event.y) * zoom
    phase = 2 * math.pi * GAIT_HZ.get(event.label.action, 0.0) * t + (event.style % 97) * 0.07
    if event.direction == 0:
        if not event.start_s <= t <= event.end_s:
            return None
        return Pose(0.5 if event.x is None else event.x, event.y, scale, facing=1 if event.style % 2 else -1,
                    phase=phase, style=event.style)
    u0, u1, _, _ = envelope(event.label)
    margin = max(-u0, u1) * scale / aspect  # how far past the edge it is fully hidden
    progress = (t - event.start_s) / event.duration_s
    if progress < 0 and event.x is not None:
        return None
    edge = 0.0 if event.direction > 0 else 1.0
    x0 = edge if event.x is None else event.x
    x = x0 + ((1.0 - edge) - x0) * progress
    if x < -margin or x > 1 + margin:
        return None
    return Pose(x, event.y, scale, facing=event.direction, phase=phase, style=event.style)


def placements_at(scenario: Scenario, camera_id: str, t: float,
                  aspect: float) -> tuple[Placement, ...]:
    scene = scene_of(scenario, camera_id)
    zoom = scenario.camera(camera_id).zoom
    out = []
    for event in scenario.events:
        if event.camera_id != camera_id:
            continue
        pose = pose_at(event, scene, t, aspect, zoom)
        if pose is not None:
            out.append(Placement(actor_id=event.actor_id, label=event.label, pose=pose))
    return tuple(out)


def frame_truth(scenario: Scenario, camera_id: str, t: float, width: int = 1280,
                height: int = 720) -> FrameTruth:
    """Ground truth of one camera's frame at time t."""
    placements = placements_at(scenario, camera_id, t, width / height)
    return truth_of(scene_of(scenario, camera_id), placements, width, height)


def timeline(scenario: Scenario) -> tuple[TimelineEvent, ...]:
    """Every scripted crossing as a ground-truth event with its English and Vietnamese caption,
    clipped to the footage, ordered by camera then start time."""
    events = []
    for i, event in enumerate(scenario.events):
        start, end = max(0.0, event.start_s), min(scenario.duration_s, event.end_s)
        if end <= start:
            continue
        scene = scene_of(scenario, event.camera_id)
        en, vi = caption_pair(scene, (event.label,), random.Random(f"{scenario.name}/{i}"))
        events.append(TimelineEvent(event.camera_id, event.actor_id, start, end, event.label,
                                    scene, en, vi))
    return tuple(sorted(events, key=lambda e: (e.camera_id, e.start_s, e.actor_id)))
