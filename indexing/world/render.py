"""One frame: background, actors in depth order, ground truth measured from the same geometry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from indexing.world.actors import Pose, bbox, draw_actor
from indexing.world.pen import Pen
from indexing.world.truth import ActorLabel, ActorTruth, FrameTruth, Lighting, SceneLabel


@dataclass(frozen=True)
class Placement:
    """An actor at a pose; `actor_id` ties the same actor across frames and cameras."""

    actor_id: str
    label: ActorLabel
    pose: Pose


def truth_of(scene: SceneLabel, placements: tuple[Placement, ...], width: int,
             height: int) -> FrameTruth:
    """Ground truth for the visible actors (those whose box overlaps the frame)."""
    aspect = width / height
    actors = []
    for p in placements:
        box = bbox(p.label, p.pose, aspect)
        if box.x1 > box.x0 and box.y1 > box.y0:
            actors.append(ActorTruth(actor_id=p.actor_id, label=p.label, bbox=box))
    return FrameTruth(scene=scene, actors=tuple(actors))


def draw_frame(background: np.ndarray, scene: SceneLabel,
               placements: tuple[Placement, ...]) -> np.ndarray:
    """Actors drawn over a copy of `background` (H×W×3 uint8), far ones first."""
    height, width = background.shape[:2]
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    night = scene.lighting is Lighting.NIGHT
    for p in sorted(placements, key=lambda q: q.pose.y):
        pen = Pen(draw=draw, ox=p.pose.x * width, oy=p.pose.y * height,
                  unit=p.pose.scale * height, facing=p.pose.facing, lighting=scene.lighting)
        draw_actor(pen, p.label, p.pose, night)
    return np.asarray(image)
