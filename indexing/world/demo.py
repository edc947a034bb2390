"""The demo: a bicycle stolen in a hẻm at night, seen again in front of the market a minute later."""

from __future__ import annotations

import random

from indexing.world.script import Camera, Crossing, Scenario, crossing, traffic
from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Layout, Lighting

THIEF_ID = "thief"
INCIDENT_CAMERA, SECOND_CAMERA = "cam-hem-12", "cam-cho-3"


def thief_labels(seed: int) -> tuple[ActorLabel, ActorLabel]:
    """The stolen bicycle as carried on the incident camera and as pushed on the second camera."""
    rng = random.Random(seed)
    bike = rng.choice([Colour.RED, Colour.YELLOW, Colour.BLUE, Colour.GREEN])
    shirt = rng.choice([Colour.WHITE, Colour.RED, Colour.YELLOW, Colour.GREY])
    return (ActorLabel(ActorKind.BICYCLE, Action.CARRIED, colour=bike, person_colour=shirt,
                       gender=Gender.MAN),
            ActorLabel(ActorKind.BICYCLE, Action.PUSHED, colour=bike, person_colour=shirt,
                       gender=Gender.MAN))


def demo_scenario(seed: int) -> Scenario:
    """Three night cameras, 90 s: a man walks off with a parked bicycle in a hẻm (cam-hem-12)
    and shows up with it in front of the market (cam-cho-3) about 60 s later, among traffic."""
    rng = random.Random(seed)
    carried, pushed = thief_labels(seed)
    parked = ActorLabel(ActorKind.BICYCLE, Action.PARKED, colour=carried.colour)
    walker = ActorLabel(ActorKind.PERSON, Action.STANDING, colour=carried.person_colour,
                        person_colour=carried.person_colour, gender=Gender.MAN)
    style = rng.getrandbits(32)
    theft_s = 22.0
    story = [
        Crossing(INCIDENT_CAMERA, "bicycle", parked, 0.0, theft_s, y=0.9, direction=0, x=0.35,
                 style=style),
        Crossing(INCIDENT_CAMERA, THIEF_ID, walker, theft_s - 8.0, 8.0, y=0.92, direction=0, x=0.2,
                 style=style),
        Crossing(INCIDENT_CAMERA, THIEF_ID, carried, theft_s, 12.0, y=0.9, direction=1, x=0.3,
                 style=style),
        Crossing(SECOND_CAMERA, THIEF_ID, pushed, theft_s + 60.0, 12.0, y=0.88, direction=-1,
                 style=style),
    ]
    cameras = (Camera(INCIDENT_CAMERA, Layout.ALLEY, Lighting.NIGHT, rng.getrandbits(32)),
               Camera(SECOND_CAMERA, Layout.MARKET, Lighting.NIGHT, rng.getrandbits(32)),
               Camera("cam-pho-7", Layout.STREET, Lighting.NIGHT, rng.getrandbits(32)))
    duration = 90.0
    busy = {INCIDENT_CAMERA: (theft_s - 9.0, theft_s + 13.0), SECOND_CAMERA: (theft_s + 59.0, theft_s + 73.0)}
    extra = []
    for cam in cameras:
        for event in traffic(rng, cam.camera_id, duration, cam.camera_id):
            lo, hi = busy.get(cam.camera_id, (-1.0, -1.0))
            if event.end_s < lo or event.start_s > hi:
                extra.append(event)
    dog = ActorLabel(ActorKind.DOG, Action.WALKING, colour=Colour.BROWN)
    extra.append(crossing(rng, "cam-pho-7", "dog", dog, 40.0, (0.85, 0.95)))
    return Scenario(name=f"demo-{seed}", cameras=cameras, duration_s=duration, fps=10,
                    events=tuple(story + extra))
