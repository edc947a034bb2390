"""Wide street views: 1080p cameras where each subject covers 0.5–5 % of the frame, in crowds.

A wide camera (`Camera.zoom` = `WIDE_ZOOM`) draws every actor at 0.4× its close-up
size; each crossing's depth is chosen so its box covers `AREA` of the frame
(log-uniform), so far, small subjects and near, larger ones mix and occlude each
other. Arrivals come every `ARRIVAL_S` seconds per camera and a crossing of the
wide view lasts `SLOWER`× a close-up one, so a keyframe holds several actors.

Identities: an actor keeps its `actor_id`, its label's appearance (colours,
gender, riders, cargo) and its `style` (the details truth does not name: trousers,
hat, helmets) on every camera and at every time it appears, so "the same person
or bicycle" is defined by `actor_id`. Travellers cross two or three cameras of a
scenario in turn; the rest is one-camera traffic.

`wide_scenarios(seed, quick)` is held-out footage for the benchmark (the held-out
layouts only: riverside and parking, never trained on; one scenario per
lighting, three cameras each); every query of `heldout_queries()` has at least
one relevant traveller. `wide_truth` gives per actor per frame its box, identity
and how much of it is visible (occlusion by actors drawn in front).
`wide_incident(seed)` is the scripted incident in wide views: the thief wheels
the stolen bicycle past camera 1, then 2, then 3 (at night, among crowds).
`render_keyframes` renders a scenario's keyframes (one per 2 s per camera) as
decoded RGB arrays with their truth, for model-level measurement without ffmpeg.

Cost, measured on this shared 2-core CPU (one night camera of `wide_scenarios(1000)`,
30 frames in a crowd): drawing at 1920×1080 natively and adding a banked grain layer
takes 4.8 ms a frame; drawing at 960×540 and scaling up to 1080p 15.5 ms (the resize
costs more than drawing), so wide views are drawn at full size. What costs is fresh
noise per frame (`grain_layer` at 1080p, ≈ 0.1 s) and H.264 encoding, as for close-ups.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from indexing.world.actors import envelope
from indexing.world.degrade import apply_grain, grain_layer
from indexing.world.layouts import STAGES, paint_background
from indexing.world.queries import heldout_queries
from indexing.world.random_scenes import sample_label
from indexing.world.render import draw_frame
from indexing.world.script import CROSSING_S, STILL_S, Camera, Crossing, Scenario
from indexing.world.timeline import placements_at, scene_of
from indexing.world.training_split import HELDOUT_LAYOUTS
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

WIDE_W, WIDE_H = 1920, 1080
WIDE_ZOOM = 0.3
AREA = (0.005, 0.04)  # share of the frame a crossing's box is drawn to cover (log-uniform)
SLOWER = 2.0  # a wide view spans more street: crossing it takes longer
ARRIVAL_S = (2.5, 4.5)
KEYFRAME_EVERY_S = 2.0
TRAVELLER_GAP_S = (2.0, 8.0)  # between leaving one camera and entering the next
TRAVELLER_KINDS: dict[ActorKind, float] = {
    ActorKind.PERSON: 0.3, ActorKind.BICYCLE: 0.3, ActorKind.MOTORBIKE: 0.2, ActorKind.CAR: 0.12,
    ActorKind.DOG: 0.08}
TRAFFIC_KINDS: dict[ActorKind, float] = {
    ActorKind.PERSON: 0.3, ActorKind.BICYCLE: 0.15, ActorKind.MOTORBIKE: 0.3, ActorKind.CAR: 0.12,
    ActorKind.TRUCK: 0.05, ActorKind.DOG: 0.08}
WIDE_CAMERAS: tuple[tuple[str, Layout], ...] = (
    ("cam-song-w1", Layout.RIVERSIDE), ("cam-baixe-w2", Layout.PARKING), ("cam-ke-w3", Layout.RIVERSIDE))
INCIDENT_CAMERAS: tuple[tuple[str, Layout], ...] = (
    ("cam-pho-w1", Layout.STREET), ("cam-cho-w2", Layout.MARKET), ("cam-nga-tu-w3", Layout.INTERSECTION))
THIEF_ID = "thief"


@dataclass(frozen=True)
class WideActor:
    """One actor in one frame: identity (`actor_id`), label, box and the share of it not occluded."""

    actor_id: str
    label: ActorLabel
    bbox: BBox
    visible: float


@dataclass(frozen=True)
class WideKeyframe:
    """A decoded keyframe (H×W×3 uint8, JPEG-degraded as a stand-in for H.264) with its truth."""

    camera_id: str
    t: float
    rgb: np.ndarray
    scene: SceneLabel
    actors: tuple[WideActor, ...]


def box_area_per_scale2(label: ActorLabel, aspect: float) -> float:
    """The box area (share of the frame) of `label` drawn at scale 1; area grows as scale²."""
    u0, u1, v0, v1 = envelope(label)
    return (u1 - u0) / aspect * (v1 - v0)


def depth_for_area(label: ActorLabel, layout: Layout, area: float, aspect: float = WIDE_W / WIDE_H,
                   zoom: float = WIDE_ZOOM) -> float:
    """Feet height y on a wide camera where `label`'s box covers `area` of the frame (clamped to
    the ground the layout has, so a small actor may end up smaller)."""
    stage = STAGES[layout]
    scale = math.sqrt(area / box_area_per_scale2(label, aspect))
    y = stage.horizon + scale / zoom / 0.66 * (1.0 - stage.horizon)
    return min(0.98, max(stage.far - 0.08, y))


def wide_crossing(rng: random.Random, camera: Camera, actor_id: str, label: ActorLabel, start_s: float,
                  style: int, direction: int | None = None) -> Crossing:
    """`label` crossing (or standing in) a wide view from `start_s` at a depth drawn from `AREA`."""
    area = math.exp(rng.uniform(math.log(AREA[0]), math.log(AREA[1])))
    y = depth_for_area(label, camera.layout, area)
    if label.action in CROSSING_S:
        lo, hi = CROSSING_S[label.action]
        way = direction if direction is not None else rng.choice([1, -1])
        return Crossing(camera.camera_id, actor_id, label, start_s, rng.uniform(lo, hi) * SLOWER, y=y,
                        direction=way, style=style)
    return Crossing(camera.camera_id, actor_id, label, start_s, rng.uniform(*STILL_S), y=y, direction=0,
                    x=rng.uniform(0.1, 0.9), style=style)


def _moving_label(rng: random.Random, kind: ActorKind) -> ActorLabel:
    label = sample_label(rng, kind)
    for _ in range(4):
        if label.action not in (Action.PARKED, Action.STANDING):
            break
        label = sample_label(rng, kind)
    return label


def _traveller(rng: random.Random, cameras: tuple[Camera, ...], actor_id: str, label: ActorLabel,
               start_s: float, duration_s: float, hops: int) -> list[Crossing]:
    """One identity crossing `hops` cameras in turn (same label, same style), within the footage."""
    style = rng.getrandbits(32)
    order = rng.sample(list(cameras), k=min(hops, len(cameras)))
    out, t = [], start_s
    for cam in order:
        c = wide_crossing(rng, cam, actor_id, label, t, style)
        if c.start_s > duration_s - 8.0:  # the footage may end before it leaves the view
            break
        out.append(c)
        t = c.end_s + rng.uniform(*TRAVELLER_GAP_S)
    return out


def _traffic(rng: random.Random, cam: Camera, duration_s: float, busy_until: float) -> list[Crossing]:
    kinds, weights = zip(*TRAFFIC_KINDS.items(), strict=True)
    out, t, n = [], rng.uniform(0.0, 2.0), 0
    while t < duration_s - 4.0:
        if t >= busy_until or rng.random() < 0.5:
            label = _moving_label(rng, rng.choices(kinds, weights)[0])
            out.append(wide_crossing(rng, cam, f"{cam.camera_id}-t{n}", label, t, rng.getrandbits(32)))
            n += 1
        t += rng.uniform(*ARRIVAL_S)
    return out


def wide_scenarios(seed: int, quick: bool) -> list[Scenario]:
    """Held-out wide footage: one scenario per lighting, three wide cameras (riverside, parking,
    riverside) on one clock; travellers (1/3 of arrivals) cross 2–3 of them. Quick: 60 s, full: 120 s.

    Every query of `heldout_queries()` has a relevant traveller (two in full) on a camera whose
    lighting it asks for; incidents (smoke, fire, bins) stand still on one camera.
    """
    rng = random.Random(seed)
    duration = 60.0 if quick else 120.0
    per_query = 1 if quick else 2
    assert {layout for _, layout in WIDE_CAMERAS} <= HELDOUT_LAYOUTS
    scenarios_cams = {lighting: tuple(Camera(f"{cid}-{lighting.value}", layout, lighting, rng.getrandbits(32),
                                             zoom=WIDE_ZOOM) for cid, layout in WIDE_CAMERAS)
                      for lighting in Lighting}
    required: dict[Lighting, list[ActorLabel]] = {lighting: [] for lighting in Lighting}
    specs = {q.text: q.predicate for q in heldout_queries() if q.language == "en"}
    for i, (_text, match) in enumerate(sorted(specs.items())):
        for k in range(per_query):
            lighting = match.lighting or list(Lighting)[(i + k) % len(Lighting)]
            required[lighting].append(match.example(rng))
    out = []
    for lighting, cams in scenarios_cams.items():
        events: list[Crossing] = []
        todo = required[lighting]
        rng.shuffle(todo)
        t, n = rng.uniform(0.0, 2.0), 0
        kinds, weights = zip(*TRAVELLER_KINDS.items(), strict=True)
        while todo or t < duration * 0.5:
            label = todo.pop() if todo else _moving_label(rng, rng.choices(kinds, weights)[0])
            if label.kind in INCIDENT_KINDS:
                cam = rng.choice(cams)
                events.append(wide_crossing(rng, cam, f"w{lighting.value}-{n}", label,
                                            min(t, duration - STILL_S[1]), rng.getrandbits(32)))
            else:
                events += _traveller(rng, cams, f"w{lighting.value}-{n}", label, min(t, duration * 0.5),
                                     duration, hops=rng.choice([2, 3]))
            t += rng.uniform(*ARRIVAL_S)
            n += 1
        for cam in cams:
            events += _traffic(rng, cam, duration, busy_until=0.0)
        out.append(Scenario(name=f"wide-{lighting.value}-{seed}", cameras=cams, duration_s=duration,
                            fps=10, events=tuple(events)))
    return out


def thief_label(seed: int) -> ActorLabel:
    """The thief wheeling the stolen bicycle (the same colours and style on every camera)."""
    rng = random.Random(seed)
    bike = rng.choice([Colour.RED, Colour.YELLOW, Colour.BLUE])
    shirt = rng.choice([Colour.WHITE, Colour.RED, Colour.YELLOW])
    return ActorLabel(ActorKind.BICYCLE, Action.PUSHED, colour=bike, person_colour=shirt, gender=Gender.MAN)


def wide_incident(seed: int, duration_s: float = 90.0) -> Scenario:
    """Three wide night cameras (street, market, intersection): the thief wheels the stolen bicycle
    past camera 1, then 2, then 3, among crowds of walkers, motorbikes and other bicycles."""
    rng = random.Random(seed)
    cams = tuple(Camera(cid, layout, Lighting.NIGHT, rng.getrandbits(32), zoom=WIDE_ZOOM)
                 for cid, layout in INCIDENT_CAMERAS)
    label = thief_label(seed)
    style = rng.getrandbits(32)
    story: list[Crossing] = []
    t = 6.0
    for cam in cams:
        c = Crossing(cam.camera_id, THIEF_ID, label, t, 20.0, y=depth_for_area(label, cam.layout, 0.02),
                     direction=1 if len(story) % 2 == 0 else -1, style=style)
        story.append(c)
        t = c.end_s + 6.0
    events = list(story)
    for cam in cams:
        events += _traffic(rng, cam, duration_s, busy_until=0.0)
    return Scenario(name=f"wide-incident-{seed}", cameras=cams, duration_s=duration_s, fps=10,
                    events=tuple(events))


def _visible_shares(boxes: list[BBox], depths: list[float], width: int, height: int) -> list[float]:
    """Per box, the share of its pixels no box drawn later (nearer: larger feet y) covers."""
    cell = 8
    gw, gh = max(1, width // cell), max(1, height // cell)
    out = []
    for i, box in enumerate(boxes):
        x0, y0 = int(box.x0 * gw), int(box.y0 * gh)
        x1, y1 = max(x0 + 1, math.ceil(box.x1 * gw)), max(y0 + 1, math.ceil(box.y1 * gh))
        mask = np.ones((y1 - y0, x1 - x0), bool)
        for j, other in enumerate(boxes):
            if j == i or depths[j] < depths[i] or (depths[j] == depths[i] and j < i):
                continue
            a0, b0 = max(x0, int(other.x0 * gw)) - x0, max(y0, int(other.y0 * gh)) - y0
            a1, b1 = min(x1, math.ceil(other.x1 * gw)) - x0, min(y1, math.ceil(other.y1 * gh)) - y0
            if a1 > a0 and b1 > b0:
                mask[b0:b1, a0:a1] = False
        out.append(float(mask.mean()))
    return out


def wide_truth(scenario: Scenario, camera_id: str, t: float, width: int = WIDE_W,
               height: int = WIDE_H) -> tuple[WideActor, ...]:
    """Every actor on screen at t with its box, identity and visible share (occlusion by boxes drawn
    in front; drawing order is by feet height, as `render.draw_frame` draws)."""
    from indexing.world.actors import bbox

    placements = placements_at(scenario, camera_id, t, width / height)
    boxes = [bbox(p.label, p.pose, width / height) for p in placements]
    keep = [i for i, b in enumerate(boxes) if b.x1 > b.x0 and b.y1 > b.y0]
    kept_boxes = [boxes[i] for i in keep]
    shares = _visible_shares(kept_boxes, [placements[i].pose.y for i in keep], width, height)
    return tuple(WideActor(placements[i].actor_id, placements[i].label, boxes[i], share)
                 for i, share in zip(keep, shares, strict=True))


def decoded(frame: np.ndarray, quality: int = 70) -> np.ndarray:
    """A JPEG round trip standing in for H.264 decoding."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def render_keyframes(scenario: Scenario, width: int = WIDE_W, height: int = WIDE_H,
                     every_s: float = KEYFRAME_EVERY_S) -> list[WideKeyframe]:
    """Each camera's keyframes (one per `every_s`) rendered at `width`×`height`, with truth."""
    out = []
    for cam in scenario.cameras:
        background = paint_background(cam.layout, cam.lighting, width, height, cam.seed)
        rng = np.random.default_rng(cam.seed)
        scene = scene_of(scenario, cam.camera_id)
        for t in np.arange(0.0, scenario.duration_s, every_s):
            placements = placements_at(scenario, cam.camera_id, float(t), width / height)
            frame = draw_frame(background, scene, placements)
            frame = apply_grain(frame, grain_layer(cam.lighting, width, height, rng))
            out.append(WideKeyframe(cam.camera_id, float(t), decoded(frame), scene,
                                    wide_truth(scenario, cam.camera_id, float(t), width, height)))
    return out


def close_up_photo(label: ActorLabel, style: int, seed: int, lighting: Lighting = Lighting.NIGHT
                   ) -> Image.Image:
    """A phone photo of one identity seen close (an alley, `zoom` 1), cropped around it and
    JPEG-degraded: the picture a resident shares of the thief with the bicycle."""
    from indexing.world.actors import bbox

    pose = Crossing("phone", "who", label, 0.0, 4.0, y=0.9, direction=0, x=0.5, style=style)
    scenario = Scenario(name="photo", cameras=(Camera("phone", Layout.ALLEY, lighting, seed),),
                        duration_s=4.0, fps=10, events=(pose,))
    width, height = 1280, 720
    background = paint_background(Layout.ALLEY, lighting, width, height, seed)
    placements = placements_at(scenario, "phone", 2.0, width / height)
    frame = draw_frame(background, scene_of(scenario, "phone"), placements)
    frame = apply_grain(frame, grain_layer(lighting, width, height, np.random.default_rng(seed)))
    box = bbox(placements[0].label, placements[0].pose, width / height)
    pad = 0.04
    crop = Image.fromarray(frame).crop((
        int(max(0.0, box.x0 - pad) * width), int(max(0.0, box.y0 - pad) * height),
        int(min(1.0, box.x1 + pad) * width), int(min(1.0, box.y1 + pad) * height)))
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=60)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def wide_resident_photo(seed: int) -> Image.Image:
    """The resident's photo of the wide incident's thief (same label and style as `wide_incident(seed)`)."""
    thief = next(e for e in wide_incident(seed).events if e.actor_id == THIEF_ID)
    return close_up_photo(thief.label, thief.style, seed)


def retimed(scenario: Scenario, duration_s: float) -> Scenario:
    """`scenario` cut to its first `duration_s` seconds (for fast tests)."""
    return replace(scenario, duration_s=duration_s,
                   events=tuple(e for e in scenario.events if e.start_s < duration_s))
