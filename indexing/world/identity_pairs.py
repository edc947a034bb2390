"""Identity pairs: one actor seen twice, in two independent contexts, as two cameras would show it.

What "the same subject on another camera" means in the wide world (`wide.py`): an actor keeps
its label (kind, action, colours, gender, riders, cargo) and its `style` bits (trousers, hat,
helmets: what truth does not name) on every camera; everything else changes — layout, lighting,
where and how large it stands, which way it faces, its gait phase, the crowd around it, camera
noise and compression. `render_identity_pair(seed)` draws one identity (`crop_pairs.Identity`)
and renders it twice with independent draws of all of that: view B is always a region crop of
a wide view as ingest cuts it (`crop_pairs.render_wide_crop`: 398×224 decode, padded square,
a proposal's imprecision), view A is such a crop too, or, with probability `photo`, a close-up
snap of the identity like a resident's photo (`photo.py`, `wide.close_up_photo`). With
probability `close` a view is instead a close camera's whole keyframe (the identity large among
0-2 others, as ingest embeds a close view without regions: `alerts`' and the demo's cameras). With
probability `restage` view B shows the identity doing something else its kind does (a bicycle
carried on one camera is pushed or ridden on the next, a person walks then stands): an action is
not an identity; `look(identity, any_action=True)` is the digest for such pairs. Consecutive
pairs (2k, 2k+1) share the actor's kind, so a batch holds same-kind identities that differ only
in colours or details (hard negatives). Training layouts and compositions only
(`training_split`): held-out layouts and combinations never appear. A deterministic function of
(seed, photo share, kind weights).
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from indexing.world.actors import Pose, bbox
from indexing.world.crop_pairs import DECODE_H, DECODE_W, Identity, render_wide_crop, training_lighting
from indexing.world.degrade import apply_grain, compress, grain_layer
from indexing.world.layouts import paint_background
from indexing.world.random_scenes import (
    KIND_WEIGHTS,
    sample_label,
    sample_pose,
    sample_scene,
)
from indexing.world.render import Placement, draw_frame
from indexing.world.training_split import TRAIN_LAYOUTS, is_heldout_combo
from indexing.world.truth import INCIDENT_KINDS, Action, ActorKind, ActorLabel, Layout, Lighting, SceneLabel
from indexing.world.wide import TRAVELLER_KINDS

PHOTO_W, PHOTO_H = 480, 270  # a close-up snap; the model sees it at 96 px, so more pixels add nothing
JITTER = 0.15  # a region proposal's box is off by up to this share of the subject's size
IDENTITY_KINDS: dict[ActorKind, float] = {k: w for k, w in TRAVELLER_KINDS.items() if k not in INCIDENT_KINDS}
# What one identity may be seen doing from camera to camera (the first is its canonical action).
# Vehicles and motorbikes are left out: parked or driving draws the same body, and a parked
# motorbike loses its riders.
ACTIONS: dict[ActorKind, tuple[Action, ...]] = {
    ActorKind.PERSON: (Action.WALKING, Action.RUNNING, Action.STANDING),
    ActorKind.BICYCLE: (Action.PUSHED, Action.CARRIED, Action.RIDDEN),
    ActorKind.DOG: (Action.WALKING, Action.RUNNING, Action.STANDING)}


@dataclass(frozen=True)
class IdentityView:
    """One picture of the identity: `kind` "wide" (a region crop), "photo" (a close-up snap) or
    "close" (a close camera's whole keyframe), the scene it was drawn in and the identity's
    placement in it (label, pose with its style)."""

    image: Image.Image
    kind: str
    scene: SceneLabel
    target: Placement


@dataclass(frozen=True)
class IdentityPair:
    identity: Identity
    a: IdentityView
    b: IdentityView


def draw_identity(seed: int, kind_weights: Mapping[ActorKind, float] = IDENTITY_KINDS) -> Identity:
    """An identity of pair `seed`: the kind is shared by pairs 2k and 2k+1, the rest is its own."""
    kinds = [k for k in kind_weights if k not in INCIDENT_KINDS and kind_weights[k] > 0]
    if not kinds:
        raise ValueError(f"identity pairs need a kind of actor that is not an incident, with a weight "
                         f"above 0; got {dict(kind_weights)}")
    shared = random.Random(f"identity-kind:{seed - seed % 2}")
    kind = shared.choices(kinds, [kind_weights[k] for k in kinds])[0]
    rng = random.Random(f"identity:{seed}")
    label = sample_label(rng, kind)
    return Identity(label=label, style=rng.getrandbits(32))


def restageable(label: ActorLabel) -> bool:
    """Whether the actor may be seen doing another of `ACTIONS` (a parked bicycle has no person)."""
    return label.action in ACTIONS.get(label.kind, ())


def look(identity: Identity, any_action: bool = False) -> int:
    """A digest of the identity drawn alone in one fixed pose, light and size: two identities
    with the same digest are the same picture on every camera (say two red saloons with the same
    trim, roof and rims), so no model can tell them apart and training must not push them apart.
    `any_action`: drawn doing its kind's canonical action, for pairs whose actions differ."""
    label = identity.label
    if any_action and restageable(label):
        label = replace(label, action=ACTIONS[label.kind][0])
    pose = Pose(x=0.5, y=0.95, scale=0.35, facing=1, phase=0.0, style=identity.style)
    blank = np.zeros((128, 256, 3), np.uint8)
    frame = draw_frame(blank, SceneLabel(layout=Layout.STREET, lighting=Lighting.DAY),
                       (Placement(actor_id="look", label=label, pose=pose),))
    return int.from_bytes(hashlib.blake2b(frame.tobytes(), digest_size=8).digest(), "big", signed=True)


def render_identity_pair(seed: int, photo: float = 0.25,
                         kind_weights: Mapping[ActorKind, float] = IDENTITY_KINDS,
                         crowd_weights: Mapping[ActorKind, float] = KIND_WEIGHTS,
                         close: float = 0.0, restage: float = 0.0) -> IdentityPair:
    """Identity `draw_identity(seed)` rendered twice in independent contexts (see the module doc).
    `crowd_weights` says how the other actors of a wide view are drawn; `close` and `restage` are
    the shares of close whole-keyframe views and of B views doing another action."""
    identity = draw_identity(seed, kind_weights)
    rng_a, rng_b = random.Random(f"identity-view-a:{seed}"), random.Random(f"identity-view-b:{seed}")
    draw = rng_a.random()
    a = (_photo_view(rng_a, identity) if draw < photo else _close_view(rng_a, identity, crowd_weights)
         if draw < photo + close else _wide_view(rng_a, identity, crowd_weights))
    # with close = restage = 0 no extra number is drawn: the pairs are those rendered before both
    # existed (CLIP's identity stages in `train.py` render with them off)
    seen_b = identity
    if restage > 0 and rng_b.random() < restage and restageable(identity.label):
        action = rng_b.choice(ACTIONS[identity.label.kind])
        seen_b = replace(identity, label=replace(identity.label, action=action))
    b = (_close_view(rng_b, seen_b, crowd_weights) if close > 0 and rng_b.random() < close
         else _wide_view(rng_b, seen_b, crowd_weights))
    return IdentityPair(identity=identity, a=a, b=b)


def _wide_view(rng: random.Random, identity: Identity,
               crowd_weights: Mapping[ActorKind, float]) -> IdentityView:
    view = render_wide_crop(rng, crowd_weights, target=identity, jitter=JITTER)
    target = view.placements[0]
    return IdentityView(image=Image.fromarray(view.pixels), kind="wide", scene=view.scene, target=target)


def _close_view(rng: random.Random, identity: Identity,
                crowd_weights: Mapping[ActorKind, float]) -> IdentityView:
    """A close camera's whole keyframe at the decode size: the identity where a close-up scene
    puts its actors, with a random close-up scene's 0-2 others (`sample_scene`) drawn behind or
    beside it, camera noise and lossy compression."""
    lighting = training_lighting(rng, identity.label)
    scene = SceneLabel(layout=rng.choice(TRAIN_LAYOUTS), lighting=lighting)
    pose = replace(sample_pose(rng, identity.label, scene.layout), style=identity.style)
    target = Placement(actor_id="a0", label=identity.label, pose=pose)
    _, others = sample_scene(rng, (scene.layout,), kind_weights=crowd_weights)
    placements = (target, *(p for p in others if not is_heldout_combo(p.label, lighting)))
    background = paint_background(scene.layout, lighting, DECODE_W, DECODE_H, rng.getrandbits(32))
    frame = draw_frame(background, scene, placements)
    noise = np.random.default_rng(rng.getrandbits(32))
    frame = apply_grain(frame, grain_layer(lighting, DECODE_W, DECODE_H, noise))
    return IdentityView(image=compress(Image.fromarray(frame), rng), kind="close", scene=scene, target=target)


def _photo_view(rng: random.Random, identity: Identity) -> IdentityView:
    """A phone snap: the identity close to the camera on a training layout, cropped around it with a
    small margin, maybe scaled down, JPEG-degraded (like `wide.close_up_photo`)."""
    lighting = training_lighting(rng, identity.label)
    scene = SceneLabel(layout=rng.choice(TRAIN_LAYOUTS), lighting=lighting)
    pose = replace(sample_pose(rng, identity.label, scene.layout), x=rng.uniform(0.3, 0.7),
                   style=identity.style)
    target = Placement(actor_id="a0", label=identity.label, pose=pose)
    background = paint_background(scene.layout, lighting, PHOTO_W, PHOTO_H, rng.getrandbits(32))
    frame = draw_frame(background, scene, (target,))
    noise = np.random.default_rng(rng.getrandbits(32))
    frame = apply_grain(frame, grain_layer(lighting, PHOTO_W, PHOTO_H, noise))
    box = bbox(target.label, target.pose, PHOTO_W / PHOTO_H)
    margin = rng.uniform(0.02, 0.08)
    snap = Image.fromarray(frame).crop((
        int(max(0.0, box.x0 - margin) * PHOTO_W), int(max(0.0, box.y0 - margin) * PHOTO_H),
        max(int(max(0.0, box.x0 - margin) * PHOTO_W) + 1, int(min(1.0, box.x1 + margin) * PHOTO_W)),
        max(int(max(0.0, box.y0 - margin) * PHOTO_H) + 1, int(min(1.0, box.y1 + margin) * PHOTO_H))))
    if rng.random() < 0.5:
        snap = snap.resize((max(1, snap.width * 3 // 4), max(1, snap.height * 3 // 4)),
                           Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    snap.save(buf, format="JPEG", quality=rng.randint(45, 75))
    buf.seek(0)
    return IdentityView(image=Image.open(buf).convert("RGB"), kind="photo", scene=scene, target=target)
