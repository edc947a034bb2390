"""The photo a resident posts in the ward's chat group: a phone snap of the demo's camera screen,
cropped around the man walking off with the bicycle."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image

from indexing.world.degrade import apply_grain, grain_layer
from indexing.world.demo import INCIDENT_CAMERA, THIEF_ID, demo_scenario
from indexing.world.layouts import paint_background
from indexing.world.render import draw_frame
from indexing.world.timeline import frame_truth, placements_at, scene_of

WIDTH, HEIGHT = 1280, 720


def resident_photo(seed: int) -> Image.Image:
    """A JPEG-degraded crop of cam-hem-12 showing the thief carrying the bicycle (same seed as
    `demo_scenario(seed)`)."""
    scenario = demo_scenario(seed)
    rng = random.Random(seed)
    carry = next(e for e in scenario.events
                 if e.camera_id == INCIDENT_CAMERA and e.actor_id == THIEF_ID and e.direction)
    t = carry.start_s + carry.duration_s * rng.uniform(0.3, 0.5)
    cam = scenario.camera(INCIDENT_CAMERA)
    background = paint_background(cam.layout, cam.lighting, WIDTH, HEIGHT, cam.seed)
    frame = draw_frame(background, scene_of(scenario, INCIDENT_CAMERA),
                       placements_at(scenario, INCIDENT_CAMERA, t, WIDTH / HEIGHT))
    frame = apply_grain(frame, grain_layer(cam.lighting, WIDTH, HEIGHT, np.random.default_rng(seed)))
    box = next(a.bbox for a in frame_truth(scenario, INCIDENT_CAMERA, t, WIDTH, HEIGHT).actors
               if a.actor_id == THIEF_ID)
    pad = 0.06
    crop = Image.fromarray(frame).crop((int(max(0.0, box.x0 - pad) * WIDTH),
                                        int(max(0.0, box.y0 - pad) * HEIGHT),
                                        int(min(1.0, box.x1 + pad) * WIDTH),
                                        int(min(1.0, box.y1 + pad) * HEIGHT)))
    crop = crop.resize((crop.width * 3 // 4, crop.height * 3 // 4), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=60)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
