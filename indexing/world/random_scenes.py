"""Random scenes for training and evaluation: plausible labels placed on a layout's ground."""

from __future__ import annotations

import random
from collections.abc import Mapping

from indexing.world.actors import Pose, bbox
from indexing.world.layouts import STAGES
from indexing.world.render import Placement
from indexing.world.training_split import TRAIN_LAYOUTS, is_heldout_combo
from indexing.world.truth import (
    INCIDENT_KINDS,
    Action,
    ActorKind,
    ActorLabel,
    BBox,
    Colour,
    Gender,
    Layout,
    Lighting,
    SceneLabel,
)

KIND_WEIGHTS: dict[ActorKind, float] = {
    ActorKind.PERSON: 0.15, ActorKind.BICYCLE: 0.22, ActorKind.MOTORBIKE: 0.24, ActorKind.CAR: 0.11,
    ActorKind.TRUCK: 0.07, ActorKind.DOG: 0.08, ActorKind.SMOKE: 0.04, ActorKind.FIRE: 0.04,
    ActorKind.BINS: 0.05}
VEHICLE_COLOURS: tuple[Colour, ...] = (Colour.RED, Colour.BLUE, Colour.GREEN, Colour.YELLOW,
                                       Colour.WHITE, Colour.BLACK, Colour.GREY)
DOG_COLOURS: tuple[Colour, ...] = (Colour.BROWN, Colour.BLACK, Colour.WHITE, Colour.YELLOW)
EMPTY_SHARE = 0.08  # most CCTV keyframes show nobody: the model must learn where those go
LIGHTING_WEIGHTS: dict[Lighting, float] = {Lighting.DAY: 0.4, Lighting.NIGHT: 0.38, Lighting.RAIN: 0.22}


def sample_label(rng: random.Random, kind: ActorKind) -> ActorLabel:
    """A label of `kind` with attributes drawn from the world's distribution."""
    colour = rng.choice(VEHICLE_COLOURS)
    person, gender = rng.choice(list(Colour)), rng.choice(list(Gender))
    if kind is ActorKind.PERSON:
        action = rng.choice([Action.WALKING, Action.WALKING, Action.RUNNING, Action.STANDING])
        return ActorLabel(kind, action, colour=person, person_colour=person, gender=gender)
    if kind is ActorKind.BICYCLE:
        action = rng.choices([Action.RIDDEN, Action.PUSHED, Action.CARRIED, Action.PARKED],
                             [0.3, 0.27, 0.3, 0.13])[0]
        if action is Action.PARKED:
            return ActorLabel(kind, action, colour=colour)
        return ActorLabel(kind, action, colour=colour, person_colour=person, gender=gender)
    if kind is ActorKind.MOTORBIKE:
        if rng.random() < 0.15:
            return ActorLabel(kind, Action.PARKED, colour=colour, count=0)
        return ActorLabel(kind, Action.RIDDEN, colour=colour, person_colour=person,
                          count=rng.choice([1, 1, 2]), cargo=rng.random() < 0.3)
    if kind in (ActorKind.CAR, ActorKind.TRUCK):
        action = Action.PARKED if rng.random() < 0.2 else Action.DRIVING
        return ActorLabel(kind, action, colour=colour)
    if kind is ActorKind.DOG:
        action = rng.choice([Action.WALKING, Action.RUNNING, Action.STANDING])
        return ActorLabel(kind, action, colour=rng.choice(DOG_COLOURS))
    if kind is ActorKind.BINS:
        return ActorLabel(kind, Action.BLOCKING, count=rng.choice([1, 2, 3]))
    return ActorLabel(kind, Action.BURNING)


def sample_pose(rng: random.Random, label: ActorLabel, layout: Layout) -> Pose:
    stage = STAGES[layout]
    far = stage.far + (0.1 if label.kind is ActorKind.DOG else 0.0)
    near = stage.far + 0.12 if label.kind in (ActorKind.TRUCK, ActorKind.CAR) else stage.near
    y = rng.uniform(far, near)
    return Pose(x=rng.uniform(0.06, 0.94), y=y, scale=stage.scale_at(y) * rng.uniform(0.9, 1.1),
                facing=rng.choice([1, -1]), phase=rng.uniform(0, 6.283), style=rng.getrandbits(32))


def _overlap(a: BBox, b: BBox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return 0.0 if w <= 0 or h <= 0 else w * h / min(a.area, b.area)


def sample_scene(rng: random.Random, layouts: tuple[Layout, ...] = TRAIN_LAYOUTS,
                 allow_heldout_combos: bool = False,
                 aspect: float = 16 / 9, kind_weights: Mapping[ActorKind, float] = KIND_WEIGHTS
                 ) -> tuple[SceneLabel, tuple[Placement, ...]]:
    """A scene with 0–2 actors that barely occlude each other (at most one incident).

    `kind_weights` (relative, unnormalised) says how often each kind of actor is drawn.
    """
    lighting = rng.choices(list(LIGHTING_WEIGHTS), list(LIGHTING_WEIGHTS.values()))[0]
    scene = SceneLabel(layout=rng.choice(layouts), lighting=lighting)
    wanted = rng.choices([0, 1, 2], [EMPTY_SHARE, 0.55, 0.45 - EMPTY_SHARE])[0]
    placed: list[Placement] = []
    boxes: list[BBox] = []
    for attempt in range(wanted * 8):
        if len(placed) == wanted:
            break
        kind = rng.choices(list(kind_weights), list(kind_weights.values()))[0]
        label = sample_label(rng, kind)
        if kind in INCIDENT_KINDS and any(p.label.kind in INCIDENT_KINDS for p in placed):
            continue
        if not allow_heldout_combos and is_heldout_combo(label, lighting):
            continue
        pose = sample_pose(rng, label, scene.layout)
        box = bbox(label, pose, aspect)
        if all(_overlap(box, other) < 0.25 for other in boxes):
            placed.append(Placement(actor_id=f"a{attempt}", label=label, pose=pose))
            boxes.append(box)
    return scene, tuple(placed)
