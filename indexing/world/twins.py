"""Hard negatives: a scene's twin differs from it in exactly one thing a query can ask about.

A random batch rarely holds two frames that differ only in an action or a colour, so a
contrastive model can ignore those words. Pairing each scene with its twin (same layout,
background, poses, noise and wording, one attribute changed) makes the loss depend on them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from indexing.world.random_scenes import VEHICLE_COLOURS
from indexing.world.render import Placement
from indexing.world.training_split import is_heldout_combo
from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Lighting, SceneLabel

_ACTIONS: dict[ActorKind, tuple[Action, ...]] = {
    ActorKind.PERSON: (Action.WALKING, Action.RUNNING, Action.STANDING),
    ActorKind.DOG: (Action.WALKING, Action.RUNNING, Action.STANDING),
    ActorKind.BICYCLE: (Action.RIDDEN, Action.PUSHED, Action.CARRIED, Action.PARKED),
}
LIGHTING_SHARE = 0.3
T = TypeVar("T")


def _other(rng: random.Random, options: Sequence[T], current: T | None) -> T:
    return rng.choice([o for o in options if o != current])


def _vary_label(label: ActorLabel, rng: random.Random) -> ActorLabel:
    """The same actor with one attribute changed (action, colour, incident kind or count)."""
    if label.kind in _ACTIONS:
        action = _other(rng, _ACTIONS[label.kind], label.action)
        if label.kind is ActorKind.BICYCLE and action is Action.PARKED:
            return replace(label, action=action, person_colour=None, gender=None)
        if label.kind is ActorKind.BICYCLE and label.action is Action.PARKED:
            return replace(label, action=action, person_colour=rng.choice(list(Colour)),
                           gender=rng.choice(list(Gender)))
        return replace(label, action=action)
    if label.kind in (ActorKind.MOTORBIKE, ActorKind.CAR, ActorKind.TRUCK):
        return replace(label, colour=_other(rng, VEHICLE_COLOURS, label.colour))
    if label.kind in (ActorKind.SMOKE, ActorKind.FIRE):
        kind = ActorKind.FIRE if label.kind is ActorKind.SMOKE else ActorKind.SMOKE
        return replace(label, kind=kind)
    return replace(label, count=_other(rng, (1, 2, 3), label.count))


def twin(scene: SceneLabel, placements: tuple[Placement, ...], rng: random.Random
         ) -> tuple[SceneLabel, tuple[Placement, ...]]:
    """A variant of the scene with one change that keeps it inside the training distribution."""
    for _ in range(8):
        new_scene, new_placements = scene, placements
        if not placements or rng.random() < LIGHTING_SHARE:
            new_scene = replace(scene, lighting=_other(rng, tuple(Lighting), scene.lighting))
        else:
            i = rng.randrange(len(placements))
            changed = replace(placements[i], label=_vary_label(placements[i].label, rng))
            new_placements = (*placements[:i], changed, *placements[i + 1:])
        if not any(is_heldout_combo(p.label, new_scene.lighting) for p in new_placements):
            return new_scene, new_placements
    return scene, placements
