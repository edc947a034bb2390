"""Train Vigil's tiny CLIP on freshly rendered world frames (EN and VI captions).

    python -m indexing.world.train --seed 0 --steps 1500 --out indexing/models/vigil-tiny

Every batch is rendered on the fly from (seed, step, index), so a run is reproducible
regardless of the number of worker processes. Batches alternate between English and
Vietnamese captions, each encoded on its longest caption's context (`clip_model.encode_text`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from indexing.clip_model import (
    ClipBundle,
    ClipModel,
    clip_loss,
    encode_text,
    load_clip,
    load_weights,
    new_clip,
    save_clip,
)
from indexing.models.configs import IMAGE_SIZE, vigil_tiny_model_cfg, vigil_tiny_preprocess_cfg
from indexing.world.crop_pairs import render_crop_sample
from indexing.world.identity_pairs import render_identity_pair
from indexing.world.random_scenes import KIND_WEIGHTS
from indexing.world.training_pairs import render_sample
from indexing.world.truth import ActorKind

logger = logging.getLogger(__name__)
TRAIN_STATE = "train_state.json"
# The identity loss's fixed temperature: the model's own logit scale (≈100) is tuned for text↔image
# and is learnt by the text loss; a fixed 0.1 (SimCLR's range) leaves it to the text loss alone
# and does not ask two crops of one subject in different light to be near-identical vectors.
IDENTITY_TEMPERATURE = 0.1


@dataclass(frozen=True)
class TrainConfig:
    seed: int
    steps: int
    out: Path
    batch_size: int = 256
    lr: float = 6e-4
    weight_decay: float = 0.1
    warmup: int = 100
    save_every: int = 200
    workers: int = 1
    threads: int = 2
    resume: Path | None = None
    init: Path | None = None  # start from these weights (a --resume checkpoint), fresh optimizer
    stop_after: int | None = None  # run only the first N steps of the schedule
    scramble: float = 0.0  # share of training frames on scrambled backgrounds
    twins: bool = False  # every odd item is the twin (hard negative) of the item before it
    both_languages: bool = False  # every step learns from both captions (else EN/VI alternate)
    image_size: int = IMAGE_SIZE  # a different size than --init's interpolates its position grid
    kind_weights: dict[ActorKind, float] = field(default_factory=lambda: dict(KIND_WEIGHTS))
    crops: float = 0.0  # share of item pairs that are region crops of wide views (`crop_pairs`)
    init_model: Path | None = None  # start from a model folder's weights (fresh optimizer)
    identity: float = 0.0  # weight of the identity (view↔view InfoNCE) loss; 0 = off
    identity_batch: int = 64  # identity pairs per step (2 images each)
    identity_photos: float = 0.25  # share of pairs whose first view is a close-up photo
    identity_temperature: float = IDENTITY_TEMPERATURE


class WorldPairs(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Item i of step s is the world sample with seed (seed, s, i); captions tokenised in both languages.

    With `twins`, odd items are the twins of the even items before them (`indexing.world.twins`).
    """

    def __init__(self, seed: int, batch_size: int, steps: int, scramble: float,
                 preprocess: Callable[[Image.Image], torch.Tensor],
                 tokenizer: Callable[[list[str]], torch.Tensor], twins: bool = False,
                 kind_weights: dict[ActorKind, float] = KIND_WEIGHTS, crops: float = 0.0) -> None:
        self.seed, self.batch_size, self.steps, self.scramble = seed, batch_size, steps, scramble
        self.preprocess, self.tokenizer, self.twins = preprocess, tokenizer, twins
        self.kind_weights, self.crops = kind_weights, crops

    def __len__(self) -> int:
        return self.batch_size * self.steps

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pair = self.seed * 1_000_000_007 + index - index % 2
        if self.crops > 0 and random.Random(pair).random() < self.crops:  # both items of the pair
            sample = render_crop_sample(self.seed * 1_000_000_007 + index, kind_weights=self.kind_weights)
            tokens = self.tokenizer([sample.caption_en, sample.caption_vi])
            return self.preprocess(sample.image), tokens[0], tokens[1]
        is_twin = self.twins and index % 2 == 1
        sample = render_sample(self.seed * 1_000_000_007 + index - int(is_twin),
                               scramble=self.scramble, twin=is_twin, kind_weights=self.kind_weights)
        tokens = self.tokenizer([sample.caption_en, sample.caption_vi])
        return self.preprocess(sample.image), tokens[0], tokens[1]


class IdentityViews(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Item j of step s: both views of identity pair (seed, s, j) (`identity_pairs`), preprocessed."""

    def __init__(self, seed: int, batch_size: int, steps: int, photo: float,
                 preprocess: Callable[[Image.Image], torch.Tensor]) -> None:
        self.seed, self.batch_size, self.steps, self.photo = seed, batch_size, steps, photo
        self.preprocess = preprocess

    def __len__(self) -> int:
        return self.batch_size * self.steps

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = render_identity_pair(self.seed * 1_000_000_007 + index, photo=self.photo)
        return self.preprocess(pair.a.image), self.preprocess(pair.b.image)


def identity_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between two views' normalised embeddings: row i of `a` and of `b` show
    the same identity, every other row of the batch is a negative. CLIP's own loss
    (`clip_model.clip_loss`), at a fixed scale of 1 / `temperature`."""
    return clip_loss()(a, b, torch.tensor(1.0 / temperature, device=a.device))


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _optimizer(model: ClipModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "embedding" in name or "logit_scale" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def train(cfg: TrainConfig) -> ClipBundle:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    bundle = new_clip(vigil_tiny_model_cfg(cfg.image_size), vigil_tiny_preprocess_cfg(cfg.image_size))
    model, loss_fn = bundle.model, clip_loss()
    optimizer = _optimizer(model, cfg)
    start = 0
    if cfg.init is not None:
        load_weights(bundle, torch.load(cfg.init, weights_only=True)["model"])
    if cfg.init_model is not None:
        load_weights(bundle, {k: v.float() for k, v in load_clip(cfg.init_model).model.state_dict().items()})
    if cfg.resume is not None and cfg.resume.is_file():
        state = torch.load(cfg.resume, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
    data = WorldPairs(cfg.seed, cfg.batch_size, cfg.steps, cfg.scramble, bundle.preprocess,
                      bundle.tokenizer, cfg.twins, cfg.kind_weights, cfg.crops)
    last = min(cfg.steps, cfg.stop_after or cfg.steps)
    indices = range(start * cfg.batch_size, last * cfg.batch_size)
    loader = DataLoader(torch.utils.data.Subset(data, indices), batch_size=cfg.batch_size,
                        num_workers=cfg.workers, worker_init_fn=_worker_init,
                        prefetch_factor=4 if cfg.workers else None, persistent_workers=False)
    views: Iterable[tuple[torch.Tensor, torch.Tensor] | None] = itertools.repeat(None)
    if cfg.identity > 0:
        pairs = IdentityViews(cfg.seed, cfg.identity_batch, cfg.steps, cfg.identity_photos, bundle.preprocess)
        views = DataLoader(torch.utils.data.Subset(pairs, range(start * cfg.identity_batch,
                                                                last * cfg.identity_batch)),
                           batch_size=cfg.identity_batch, num_workers=cfg.workers,
                           worker_init_fn=_worker_init,
                           prefetch_factor=4 if cfg.workers else None, persistent_workers=False)
    model.train()
    began, ema, id_ema = time.monotonic(), None, None
    for step, ((images, en, vi), pair) in enumerate(zip(loader, views, strict=False), start=start):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        n = images.shape[0]
        if pair is not None:
            images = torch.cat([images, pair[0], pair[1]])
        features = model.encode_image(images, normalize=True)
        image_features = features[:n]
        captions = (en, vi) if cfg.both_languages else ((en, vi)[step % 2],)
        loss = torch.stack([loss_fn(image_features, encode_text(model, tokens), model.logit_scale.exp())
                            for tokens in captions]).mean()
        text_loss = loss.item()  # the EMA follows the text loss, comparable with runs without --identity
        if pair is not None:
            m = pair[0].shape[0]
            id_loss = identity_loss(features[n:n + m], features[n + m:], cfg.identity_temperature)
            id_ema = id_loss.item() if id_ema is None else 0.95 * id_ema + 0.05 * id_loss.item()
            loss = loss + cfg.identity * id_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        ema = text_loss if ema is None else 0.95 * ema + 0.05 * text_loss
        if step % 10 == 0:
            logger.info("step %d loss %.4f ema %.4f lr %.2e %.1fs", step, text_loss, ema,
                        lr_at(step, cfg), time.monotonic() - began)
            if pair is not None:
                logger.info("step %d identity loss %.4f identity ema %.4f (x %g)", step,
                            id_loss.item(), id_ema, cfg.identity)
        if (step + 1) % cfg.save_every == 0 or step + 1 == last:
            _checkpoint(bundle, optimizer, cfg, step + 1, ema, time.monotonic() - began, id_ema)
    model.eval()
    return bundle


def _checkpoint(bundle: ClipBundle, optimizer: torch.optim.Optimizer, cfg: TrainConfig,
                step: int, ema_loss: float | None, seconds: float, identity_ema: float | None = None) -> None:
    save_clip(bundle, cfg.out, fp16=True)
    state: dict[str, object] = {
        "seed": cfg.seed, "step": step, "steps": cfg.steps, "batch_size": cfg.batch_size,
        "lr": cfg.lr, "kind_weights": {k.value: w for k, w in cfg.kind_weights.items()},
        "ema_loss": ema_loss, "seconds": round(seconds, 1)}
    if cfg.identity > 0:
        state |= {"identity": cfg.identity, "identity_batch": cfg.identity_batch,
                  "identity_photos": cfg.identity_photos, "identity_temperature": cfg.identity_temperature,
                  "identity_ema_loss": identity_ema}
    (cfg.out / TRAIN_STATE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    if cfg.resume is not None:
        torch.save({"model": bundle.model.state_dict(), "optimizer": optimizer.state_dict(),
                    "step": step}, cfg.resume)
    logger.info("checkpoint at step %d -> %s", step, cfg.out)


def _kind_weight(text: str) -> tuple[ActorKind, float]:
    kind, _, weight = text.partition("=")
    try:
        pair = ActorKind(kind), float(weight)
    except ValueError:
        pair = None
    if pair is None or not (math.isfinite(pair[1]) and pair[1] >= 0):
        kinds = ", ".join(k.value for k in KIND_WEIGHTS)
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=WEIGHT, WEIGHT >= 0, KIND one of {kinds}")
    return pair


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--resume", type=Path, default=None,
                        help="full-precision checkpoint (model+optimizer) to resume from and update")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from the model weights of a --resume checkpoint (new optimizer)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps of the --steps schedule")
    parser.add_argument("--scramble", type=float, default=0.0,
                        help="share of frames drawn on scrambled backgrounds")
    parser.add_argument("--twins", action="store_true",
                        help="pair every scene with a hard-negative twin (one attribute changed)")
    parser.add_argument("--both-languages", action="store_true",
                        help="learn from the English and the Vietnamese caption at every step")
    parser.add_argument("--crops", type=float, default=0.0,
                        help="share of item pairs that are region crops of wide views (world.crop_pairs)")
    parser.add_argument("--init-model", type=Path, default=None,
                        help="start from a model folder's weights (e.g. the bundled one), new optimizer")
    parser.add_argument("--identity", type=float, default=0.0, metavar="WEIGHT",
                        help="weight of the identity loss: InfoNCE between two views of one actor in "
                             "independent contexts (world.identity_pairs), added to the text loss; 0 = off")
    parser.add_argument("--identity-batch", type=int, default=64,
                        help="identity pairs per step (each adds two images to the step)")
    parser.add_argument("--identity-photos", type=float, default=0.25,
                        help="share of identity pairs whose first view is a close-up photo, not a wide crop")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE,
                        help="input side in pixels (from --init, the position grid is interpolated)")
    parser.add_argument("--kind-weight", action="append", default=[], type=_kind_weight,
                        metavar="KIND=WEIGHT",
                        help="how often a kind of actor is drawn, relative to the world's weights "
                             f"({', '.join(f'{k.value}={w}' for k, w in KIND_WEIGHTS.items())}); repeatable")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.identity) and args.identity >= 0):
        parser.error(f"--identity {args.identity}: expected a weight >= 0")
    if args.identity_batch < 2:
        parser.error(f"--identity-batch {args.identity_batch}: InfoNCE needs at least 2 pairs")
    if not 0 <= args.identity_photos <= 1:
        parser.error(f"--identity-photos {args.identity_photos}: expected a share in [0, 1]")
    kind_weights = dict(KIND_WEIGHTS) | dict(args.kind_weight)
    if not sum(kind_weights.values()) > 0:
        parser.error("--kind-weight: at least one kind of actor needs a weight above 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(TrainConfig(seed=args.seed, steps=args.steps, out=args.out, batch_size=args.batch_size,
                      lr=args.lr, warmup=args.warmup, save_every=args.save_every,
                      workers=args.workers, threads=args.threads, resume=args.resume,
                      init=args.init, stop_after=args.stop_after, scramble=args.scramble,
                      twins=args.twins, both_languages=args.both_languages,
                      image_size=args.image_size, kind_weights=kind_weights, crops=args.crops,
                      init_model=args.init_model, identity=args.identity,
                      identity_batch=args.identity_batch, identity_photos=args.identity_photos))


if __name__ == "__main__":
    main()
