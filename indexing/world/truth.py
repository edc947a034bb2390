"""Ground truth of the synthetic world: frozen values describing what a frame shows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Layout(StrEnum):
    STREET = "street"
    ALLEY = "alley"
    INTERSECTION = "intersection"
    MARKET = "market"
    RIVERSIDE = "riverside"
    PARKING = "parking"


class Lighting(StrEnum):
    DAY = "day"
    NIGHT = "night"
    RAIN = "rain"


class ActorKind(StrEnum):
    PERSON = "person"
    BICYCLE = "bicycle"
    MOTORBIKE = "motorbike"
    CAR = "car"
    TRUCK = "truck"
    DOG = "dog"
    SMOKE = "smoke"
    FIRE = "fire"
    BINS = "bins"


class Action(StrEnum):
    WALKING = "walking"
    RUNNING = "running"
    STANDING = "standing"
    RIDDEN = "ridden"  # bicycle or motorbike with riders on it
    PUSHED = "pushed"  # bicycle pushed by a walking person
    CARRIED = "carried"  # bicycle carried on the shoulder by a walking person
    PARKED = "parked"
    DRIVING = "driving"
    BURNING = "burning"
    BLOCKING = "blocking"  # bins standing across the way


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"
    GREEN = "green"
    YELLOW = "yellow"
    WHITE = "white"
    BLACK = "black"
    GREY = "grey"
    BROWN = "brown"


class Gender(StrEnum):
    MAN = "man"
    WOMAN = "woman"


INCIDENT_KINDS = frozenset({ActorKind.SMOKE, ActorKind.FIRE, ActorKind.BINS})


@dataclass(frozen=True)
class BBox:
    """Axis-aligned box in normalised frame coordinates (0..1, y down), clipped to the frame."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer pixel box (x0, y0, x1, y1), end-exclusive, covering every touched pixel."""
        return (max(0, int(self.x0 * width)), max(0, int(self.y0 * height)),
                min(width, int(self.x1 * width) + 1), min(height, int(self.y1 * height) + 1))


@dataclass(frozen=True)
class ActorLabel:
    """What an actor is, independent of where it is drawn.

    `colour` is the salient colour: the vehicle's body, the dog's coat, a
    pedestrian's shirt. `person_colour`/`gender` describe the person moving a
    bicycle (ridden, pushed, carried), or the pedestrian; `count` is the number
    of riders on a motorbike or of bins.
    """

    kind: ActorKind
    action: Action
    colour: Colour | None = None
    person_colour: Colour | None = None
    gender: Gender | None = None
    count: int = 1
    cargo: bool = False


@dataclass(frozen=True)
class ActorTruth:
    """An actor as drawn in one frame."""

    actor_id: str
    label: ActorLabel
    bbox: BBox


@dataclass(frozen=True)
class SceneLabel:
    """Scene-wide ground truth shared by every frame of a camera."""

    layout: Layout
    lighting: Lighting


@dataclass(frozen=True)
class FrameTruth:
    scene: SceneLabel
    actors: tuple[ActorTruth, ...]
