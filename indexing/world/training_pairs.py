"""Image–caption pairs: a random scene rendered and degraded like a camera frame, with its truth."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from indexing.world.captions import caption_pair
from indexing.world.degrade import apply_grain, compress, grain_layer
from indexing.world.layouts import paint_background
from indexing.world.random_scenes import KIND_WEIGHTS, sample_scene
from indexing.world.render import draw_frame, truth_of
from indexing.world.scramble import scrambled_background
from indexing.world.training_split import TRAIN_LAYOUTS
from indexing.world.truth import ActorKind, FrameTruth, Layout
from indexing.world.twins import twin as make_twin

SAMPLE_WIDTH, SAMPLE_HEIGHT = 256, 144


@dataclass(frozen=True)
class Sample:
    image: Image.Image
    truth: FrameTruth
    caption_en: str
    caption_vi: str


def render_sample(seed: int, layouts: tuple[Layout, ...] = TRAIN_LAYOUTS,
                  allow_heldout_combos: bool = False, width: int = SAMPLE_WIDTH,
                  height: int = SAMPLE_HEIGHT, scramble: float = 0.0,
                  twin: bool = False, kind_weights: Mapping[ActorKind, float] = KIND_WEIGHTS
                  ) -> Sample:
    """A deterministic function of its arguments: the same seed gives the same pixels and words.

    With probability `scramble` the layout's background is replaced by a scrambled one
    (and the caption names no place). `twin=True` renders the same sample with one attribute
    changed (`indexing.world.twins`): same background, poses, noise and phrasing.
    `kind_weights` says how often each kind of actor is drawn (`random_scenes.sample_scene`).
    """
    rng = random.Random(seed)
    scene, placements = sample_scene(rng, layouts, allow_heldout_combos, aspect=width / height,
                                     kind_weights=kind_weights)
    if twin:
        scene, placements = make_twin(scene, placements, random.Random(seed ^ 0x7F1A))
    scrambled = scramble > 0 and rng.random() < scramble
    if scrambled:
        background = scrambled_background(scene.lighting, width, height, rng.getrandbits(32))
    else:
        background = paint_background(scene.layout, scene.lighting, width, height, rng.getrandbits(32))
    frame = draw_frame(background, scene, placements)
    frame = apply_grain(frame, grain_layer(scene.lighting, width, height,
                                           np.random.default_rng(rng.getrandbits(32))))
    image = compress(Image.fromarray(frame), rng)
    truth = truth_of(scene, placements, width, height)
    salient = tuple(a.label for a in sorted(truth.actors, key=lambda a: -a.bbox.area))
    en, vi = caption_pair(scene, salient, rng, place=not scrambled)
    return Sample(image=image, truth=truth, caption_en=en, caption_vi=vi)
