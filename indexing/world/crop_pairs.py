"""Region-crop training pairs: a subject's crop out of a wide view, captioned in EN and VI.

What ingest embeds for a region: a wide 1080p keyframe decoded at a 224-px short
side (`indexing.keyframes`), cropped at a padded square around a subject
(`indexing.regions.pad`). A sample renders a crowd of 2-6 actors on a training
layout at `wide.WIDE_ZOOM` (each at 0.5-4 % of the frame, `wide.AREA`), at that
decode size (rendering at twice the size and halving cost 4× the time for no visible
gain at 96 px), with camera noise and JPEG, and crops one actor as a proposal would.
The caption names the actors whose boxes lie mostly inside the crop (the target first, at most two), and the
light; never the place (a crop shows little of it). Training layouts and
compositions only (`training_split`), like `training_pairs`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from indexing.world.actors import Pose, bbox
from indexing.world.captions import caption_pair
from indexing.world.degrade import apply_grain, compress, grain_layer
from indexing.world.layouts import STAGES, paint_background
from indexing.world.random_scenes import KIND_WEIGHTS, LIGHTING_WEIGHTS, sample_label
from indexing.world.render import Placement, draw_frame, truth_of
from indexing.world.training_pairs import Sample
from indexing.world.training_split import TRAIN_LAYOUTS, is_heldout_combo
from indexing.world.truth import INCIDENT_KINDS, ActorKind, ActorLabel, BBox, FrameTruth, Lighting, SceneLabel
from indexing.world.wide import AREA, WIDE_ZOOM, depth_for_area

if TYPE_CHECKING:
    from indexing.frame_columns import Box

DECODE_W, DECODE_H = 398, 224  # a 1080p keyframe as ingest decodes it
INSIDE = 0.6  # an actor is in the crop when this much of its box is


@dataclass(frozen=True)
class Identity:
    """What a wide camera keeps fixed for one actor (`wide.py`): its label and its `style` bits."""

    label: ActorLabel
    style: int


@dataclass(frozen=True)
class WideCrop:
    """One rendered wide view (at the decode size): the padded square crop around actor "a0" (the
    first placement), the scene, its truth and placements."""

    pixels: np.ndarray
    scene: SceneLabel
    truth: FrameTruth
    region: Box
    placements: tuple[Placement, ...]


def render_crop_sample(seed: int, kind_weights: Mapping[ActorKind, float] = KIND_WEIGHTS) -> Sample:
    """A deterministic function of its arguments: one actor's region crop and its captions."""
    rng = random.Random(seed)
    view = render_wide_crop(rng, kind_weights)
    truth, region = view.truth, view.region
    inside = []
    for actor in truth.actors:
        b = actor.bbox
        w = min(region.x1, b.x1) - max(region.x0, b.x0)
        h = min(region.y1, b.y1) - max(region.y0, b.y0)
        if actor.actor_id == "a0" or (w > 0 and h > 0 and w * h >= INSIDE * b.area):
            inside.append(actor)
    inside.sort(key=lambda a: (a.actor_id != "a0", -a.bbox.area))
    en, vi = caption_pair(view.scene, tuple(a.label for a in inside), rng, place=False)
    return Sample(image=Image.fromarray(view.pixels), truth=truth, caption_en=en, caption_vi=vi)


def training_lighting(rng: random.Random, label: ActorLabel | None = None) -> Lighting:
    """A light drawn by the world's weights, drawn again while it is a held-out combination for
    `label` (any light without one)."""
    lighting = rng.choices(list(LIGHTING_WEIGHTS), list(LIGHTING_WEIGHTS.values()))[0]
    while label is not None and is_heldout_combo(label, lighting):
        lighting = rng.choices(list(LIGHTING_WEIGHTS), list(LIGHTING_WEIGHTS.values()))[0]
    return lighting


def render_wide_crop(rng: random.Random, kind_weights: Mapping[ActorKind, float] = KIND_WEIGHTS,
                     target: Identity | None = None, jitter: float = 0.0) -> WideCrop:
    """A crowd of 2-6 actors on a training layout at the decode size, and the crop around the
    first ("a0"): `target` when given (on a lighting that is not a held-out combination for it),
    else a drawn actor. `jitter` shifts the box's centre by up to that share of its size before
    padding, as an imprecise proposal would. Uses only `rng` (deterministic in its state)."""
    from indexing.frame_columns import Box
    from indexing.regions import crop, pad

    lighting = training_lighting(rng, None if target is None else target.label)
    scene = SceneLabel(layout=rng.choice(TRAIN_LAYOUTS), lighting=lighting)
    width, height = DECODE_W, DECODE_H
    aspect = width / height
    placements: list[Placement] = []
    kinds, weights = list(kind_weights), list(kind_weights.values())
    while len(placements) < rng.randint(2, 6):
        label = sample_label(rng, rng.choices(kinds, weights)[0])
        if target is not None and not placements:
            label = target.label
        elif is_heldout_combo(label, lighting) or (
                label.kind in INCIDENT_KINDS and any(p.label.kind in INCIDENT_KINDS for p in placements)):
            continue
        area = float(np.exp(rng.uniform(np.log(AREA[0]), np.log(AREA[1]))))
        y = depth_for_area(label, scene.layout, area, aspect)
        pose = Pose(x=rng.uniform(0.05, 0.95), y=y, scale=STAGES[scene.layout].scale_at(y) * WIDE_ZOOM,
                    facing=rng.choice([1, -1]), phase=rng.uniform(0, 6.283), style=rng.getrandbits(32))
        if target is not None and not placements:
            pose = replace(pose, style=target.style)
        placements.append(Placement(actor_id=f"a{len(placements)}", label=label, pose=pose))
    background = paint_background(scene.layout, scene.lighting, width, height, rng.getrandbits(32))
    frame = draw_frame(background, scene, tuple(placements))
    noise = np.random.default_rng(rng.getrandbits(32))
    frame = apply_grain(frame, grain_layer(lighting, width, height, noise))
    image = compress(Image.fromarray(frame), rng)
    box = bbox(placements[0].label, placements[0].pose, aspect)
    if jitter > 0:
        dx = rng.uniform(-jitter, jitter) * (box.x1 - box.x0)
        dy = rng.uniform(-jitter, jitter) * (box.y1 - box.y0)
        box = BBox(x0=max(0.0, box.x0 + dx), y0=max(0.0, box.y0 + dy),
                   x1=min(1.0, box.x1 + dx), y1=min(1.0, box.y1 + dy))
    region = pad(Box.snapped(box.x0, box.y0, max(box.x1, box.x0 + 1e-3), max(box.y1, box.y0 + 1e-3)),
                 DECODE_W, DECODE_H, rng.uniform(0.1, 0.4))
    truth = truth_of(scene, tuple(placements), width, height)
    return WideCrop(pixels=crop(np.asarray(image), region), scene=scene, truth=truth, region=region,
                    placements=tuple(placements))
