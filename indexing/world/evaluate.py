"""Model-level retrieval check: text → keyframe on held-out footage, per language.

    python -m indexing.world.evaluate --model indexing/models/vigil-tiny --seed 1000

Keyframes (one every 2 s per camera, like the ingest path) are rendered at 720p,
JPEG-compressed as a stand-in for H.264, shrunk to a 224 px short side, then put
through the model's own preprocessing. A keyframe is relevant to a query when a
ground-truth event matching the query is on screen at that instant. R@k: the
share of queries with a relevant keyframe among the top k.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from indexing.clip_model import ClipBundle, load_clip
from indexing.world.degrade import apply_grain, grain_layer
from indexing.world.layouts import paint_background
from indexing.world.queries import Query, heldout_queries
from indexing.world.render import draw_frame
from indexing.world.scenario import Scenario, heldout_scenarios
from indexing.world.timeline import TimelineEvent, placements_at, scene_of, timeline

KEYFRAME_EVERY_S = 2.0
SHORT_SIDE = 224


@dataclass(frozen=True)
class Keyframe:
    camera_id: str
    t: float
    image: Image.Image
    events: tuple[TimelineEvent, ...]  # on screen at t


def keyframes(scenario: Scenario, width: int = 1280, height: int = 720) -> list[Keyframe]:
    """Every camera's keyframes with the ground-truth events on screen."""
    events = timeline(scenario)
    out = []
    for cam in scenario.cameras:
        background = paint_background(cam.layout, cam.lighting, width, height, cam.seed)
        rng = np.random.default_rng(cam.seed)
        for t in np.arange(0.0, scenario.duration_s, KEYFRAME_EVERY_S):
            frame = draw_frame(background, scene_of(scenario, cam.camera_id),
                               placements_at(scenario, cam.camera_id, float(t), width / height))
            frame = apply_grain(frame, grain_layer(cam.lighting, width, height, rng))
            live = tuple(e for e in events if e.camera_id == cam.camera_id and e.start_s <= t <= e.end_s)
            out.append(Keyframe(cam.camera_id, float(t), _as_decoded(frame), live))
    return out


def _as_decoded(frame: np.ndarray) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=45)
    buf.seek(0)
    image = Image.open(buf).convert("RGB")
    w, h = image.size
    scale = SHORT_SIDE / min(w, h)
    return image.resize((round(w * scale), round(h * scale)), Image.Resampling.BILINEAR)


@torch.no_grad()
def embed_images(bundle: ClipBundle, images: list[Image.Image], batch: int = 32) -> torch.Tensor:
    chunks = []
    for i in range(0, len(images), batch):
        pixels = torch.stack([bundle.preprocess(im) for im in images[i:i + batch]])
        chunks.append(bundle.model.encode_image(pixels, normalize=True))
    return torch.cat(chunks)


@torch.no_grad()
def embed_texts(bundle: ClipBundle, texts: list[str]) -> torch.Tensor:
    return bundle.model.encode_text(bundle.tokenizer(texts), normalize=True)


def retrieval(bundle: ClipBundle, frames: list[Keyframe], queries: list[Query],
              ks: tuple[int, ...] = (1, 5)) -> dict[str, dict[str, Any]]:
    """Per language: R@k averaged over queries with at least one relevant keyframe, and per query."""
    image_vecs = embed_images(bundle, [f.image for f in frames])
    scores = embed_texts(bundle, [q.text for q in queries]) @ image_vecs.T
    results: dict[str, dict[str, Any]] = {}
    for qi, query in enumerate(queries):
        relevant = np.array([any(query.relevant_event(e) for e in f.events) for f in frames])
        if not relevant.any():
            continue
        order = torch.argsort(scores[qi], descending=True).numpy()
        lang = results.setdefault(query.language.value, {"queries": {}})
        lang["queries"][query.text] = {f"R@{k}": float(relevant[order[:k]].any()) for k in ks}
    for lang in results.values():
        per_query = lang["queries"].values()
        for k in ks:
            lang[f"R@{k}"] = round(float(np.mean([q[f"R@{k}"] for q in per_query])), 4)
        lang["n_queries"] = len(lang["queries"])
    return results


@torch.no_grad()
def speed(bundle: ClipBundle, threads: int = 2, batch: int = 32) -> dict[str, float]:
    """Images/s at `batch` and ms per single text query, on `threads` CPU threads."""
    torch.set_num_threads(threads)
    height, width = bundle.model.visual.image_size  # the model's input size
    pixels = torch.randn(batch, 3, height, width)
    tokens = bundle.tokenizer(["a person carrying a bicycle at night"])
    for _ in range(2):
        bundle.model.encode_image(pixels)
        bundle.model.encode_text(tokens)
    began = time.perf_counter()
    for _ in range(5):
        bundle.model.encode_image(pixels)
    images_s = 5 * batch / (time.perf_counter() - began)
    began = time.perf_counter()
    for _ in range(20):
        bundle.model.encode_text(tokens)
    return {"images_per_s": round(images_s, 1),
            "ms_per_text_query": round((time.perf_counter() - began) / 20 * 1000, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="held-out text→keyframe retrieval of a model")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    bundle = load_clip(args.model)
    frames = [f for s in heldout_scenarios(args.seed, args.quick) for f in keyframes(s)]
    report = {"seed": args.seed, "quick": args.quick, "keyframes": len(frames),
              "retrieval": retrieval(bundle, frames, heldout_queries()), "speed": speed(bundle)}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
