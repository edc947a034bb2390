"""Captions from ground truth, in English and Vietnamese, with varied wording and order."""

from __future__ import annotations

import random
from enum import StrEnum

from indexing.world import phrases
from indexing.world.truth import ActorLabel, SceneLabel

MAX_ACTORS = 2
OMIT_LIGHTING = 0.15


class Language(StrEnum):
    EN = "en"
    VI = "vi"


def describe(scene: SceneLabel, labels: tuple[ActorLabel, ...], language: Language,
             rng: random.Random, place: bool = True) -> str:
    """One caption naming up to two actors (in the given salience order), the light, maybe the place."""
    en = language is Language.EN
    actor = phrases.actor_en if en else phrases.actor_vi
    parts = [actor(label, rng) for label in labels[:MAX_ACTORS]]
    if len(parts) > 1 and rng.random() < 0.4:
        rng.shuffle(parts)
    if parts:
        joiner = " and " if en else " và "
        body = ", ".join(parts[:-1]) + joiner + parts[-1] if len(parts) > 1 else parts[0]
    else:
        body = rng.choice(["an empty scene", "nobody around"] if en else ["cảnh vắng", "không có ai"])
    light = rng.choice((phrases.LIGHTING_EN if en else phrases.LIGHTING_VI)[scene.lighting])
    where = rng.choice((phrases.LAYOUT_EN if en else phrases.LAYOUT_VI)[scene.layout])
    tail = f" {where}" if rng.random() < 0.4 and place else ""
    if rng.random() < OMIT_LIGHTING:
        return f"{body}{tail}"
    if rng.random() < 0.3:
        return f"{light[0].upper()}{light[1:]}, {body}{tail}"
    return f"{body}{tail} {light}"


def caption_pair(scene: SceneLabel, labels: tuple[ActorLabel, ...], rng: random.Random,
                 place: bool = True) -> tuple[str, str]:
    """(English, Vietnamese) captions of the same ground truth; `place=False` names no layout."""
    return (describe(scene, labels, Language.EN, rng, place),
            describe(scene, labels, Language.VI, rng, place))
