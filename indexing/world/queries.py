"""Evaluation queries in English and Vietnamese whose relevance is computed from ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import StrEnum

from indexing.world.captions import Language
from indexing.world.random_scenes import sample_label
from indexing.world.timeline import TimelineEvent
from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, FrameTruth, Lighting, SceneLabel


class QueryKind(StrEnum):
    OBJECT = "object"
    COLOUR_VEHICLE = "colour+vehicle"
    ACTION = "action"
    INCIDENT = "incident"
    LIGHTING = "lighting"


@dataclass(frozen=True)
class Match:
    """A predicate over one actor in a scene: every given constraint holds, or one of `also` does.

    `example` draws from the main constraints only; `also` widens what counts as relevant.
    """

    kinds: frozenset[ActorKind]
    actions: frozenset[Action] = frozenset()
    colour: Colour | None = None
    count: int | None = None
    cargo: bool | None = None
    lighting: Lighting | None = None
    also: tuple[Match, ...] = ()

    def __call__(self, scene: SceneLabel, label: ActorLabel) -> bool:
        if any(other(scene, label) for other in self.also):
            return True
        return (label.kind in self.kinds
                and (not self.actions or label.action in self.actions)
                and (self.colour is None or label.colour is self.colour)
                and (self.count is None or label.count == self.count)
                and (self.cargo is None or label.cargo == self.cargo)
                and (self.lighting is None or scene.lighting is self.lighting))

    def example(self, rng: random.Random) -> ActorLabel:
        """A random label satisfying the predicate (for scripting footage that has answers)."""
        label = sample_label(rng, rng.choice(sorted(self.kinds)))
        if self.actions:
            label = replace(label, action=rng.choice(sorted(self.actions)))
        if label.kind is ActorKind.MOTORBIKE and (self.count or self.cargo or self.actions):
            label = replace(label, action=Action.RIDDEN, count=self.count or max(1, label.count))
        if self.colour is not None:
            label = replace(label, colour=self.colour)
        if self.cargo is not None:
            label = replace(label, cargo=self.cargo)
        return label


@dataclass(frozen=True)
class Query:
    text: str
    language: Language
    kind: QueryKind
    predicate: Match

    def matches(self, scene: SceneLabel, label: ActorLabel) -> bool:
        return self.predicate(scene, label)

    def relevant_event(self, event: TimelineEvent) -> bool:
        return self.predicate(event.scene, event.label)

    def relevant_frame(self, truth: FrameTruth) -> bool:
        return any(self.predicate(truth.scene, a.label) for a in truth.actors)


K = ActorKind
_SPECS: tuple[tuple[str, str, QueryKind, Match], ...] = (
    ("a dog", "con chó", QueryKind.OBJECT, Match(frozenset({K.DOG}))),
    ("a truck", "xe tải", QueryKind.OBJECT, Match(frozenset({K.TRUCK}))),
    ("a bicycle", "xe đạp", QueryKind.OBJECT, Match(frozenset({K.BICYCLE}))),
    ("a red car at night", "ô tô màu đỏ vào ban đêm", QueryKind.COLOUR_VEHICLE,
     Match(frozenset({K.CAR}), colour=Colour.RED, lighting=Lighting.NIGHT)),
    ("a blue motorbike in the rain", "xe máy màu xanh dương khi trời mưa", QueryKind.COLOUR_VEHICLE,
     Match(frozenset({K.MOTORBIKE}), colour=Colour.BLUE, lighting=Lighting.RAIN)),
    ("a white truck at night", "xe tải màu trắng vào ban đêm", QueryKind.COLOUR_VEHICLE,
     Match(frozenset({K.TRUCK}), colour=Colour.WHITE, lighting=Lighting.NIGHT)),
    ("a green bicycle in the rain", "xe đạp màu xanh lá dưới mưa", QueryKind.COLOUR_VEHICLE,
     Match(frozenset({K.BICYCLE}), colour=Colour.GREEN, lighting=Lighting.RAIN)),
    ("a yellow motorbike", "xe máy màu vàng", QueryKind.COLOUR_VEHICLE,
     Match(frozenset({K.MOTORBIKE}), colour=Colour.YELLOW)),
    ("a black car", "ô tô màu đen", QueryKind.COLOUR_VEHICLE, Match(frozenset({K.CAR}), colour=Colour.BLACK)),
    ("a person carrying a bicycle", "người vác xe đạp", QueryKind.ACTION,
     Match(frozenset({K.BICYCLE}), frozenset({Action.CARRIED}))),
    ("a person pushing a bicycle", "người dắt xe đạp", QueryKind.ACTION,
     Match(frozenset({K.BICYCLE}), frozenset({Action.PUSHED}))),
    ("a person riding a bicycle", "người đạp xe đạp", QueryKind.ACTION,
     Match(frozenset({K.BICYCLE}), frozenset({Action.RIDDEN}))),
    ("a motorbike with two riders", "xe máy chở hai người", QueryKind.ACTION,
     Match(frozenset({K.MOTORBIKE}), frozenset({Action.RIDDEN}), count=2)),
    ("a motorbike carrying cargo", "xe máy chở hàng", QueryKind.ACTION,
     Match(frozenset({K.MOTORBIKE}), frozenset({Action.RIDDEN}), cargo=True)),
    ("a person running", "người đang chạy", QueryKind.ACTION,
     Match(frozenset({K.PERSON}), frozenset({Action.RUNNING}))),
    ("a fire", "đám cháy", QueryKind.INCIDENT, Match(frozenset({K.FIRE}))),
    ("smoke rising", "khói bốc lên", QueryKind.INCIDENT, Match(frozenset({K.SMOKE, K.FIRE}))),
    ("garbage bins blocking the way", "thùng rác chắn lối đi", QueryKind.INCIDENT,
     Match(frozenset({K.BINS}))),
    ("a person carrying a bicycle at night", "người vác xe đạp vào ban đêm", QueryKind.LIGHTING,
     Match(frozenset({K.BICYCLE}), frozenset({Action.CARRIED}), lighting=Lighting.NIGHT)),
    ("a motorbike in the rain", "xe máy khi trời mưa", QueryKind.LIGHTING,
     Match(frozenset({K.MOTORBIKE}), lighting=Lighting.RAIN)),
    ("a person walking during the day", "người đi bộ vào ban ngày", QueryKind.LIGHTING,
     Match(frozenset({K.PERSON}), frozenset({Action.WALKING}), lighting=Lighting.DAY,
           # someone pushing or carrying a bicycle walks too (the captions say "walking a bicycle")
           also=(Match(frozenset({K.BICYCLE}), frozenset({Action.PUSHED, Action.CARRIED}),
                       lighting=Lighting.DAY),))),
)


def heldout_queries() -> list[Query]:
    """Every evaluation query, English then Vietnamese (same predicates in both languages)."""
    return ([Query(en, Language.EN, kind, match) for en, _, kind, match in _SPECS]
            + [Query(vi, Language.VI, kind, match) for _, vi, kind, match in _SPECS])
