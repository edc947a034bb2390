"""Train the appearance tower (`indexing.reid`) on identity pairs of the synthetic world.

    python -m indexing.world.train_reid --pairs 60000 --steps 1500 --widths 48 96 192 --weight 0.7 \
        --close 0.15 --restage 0.3 --out indexing/models/vigil-tiny

Pairs `identity_pairs.render_identity_pair(seed, kind_weights=REID_KINDS, close=--close,
restage=--restage)` for seed in [0, pairs): one subject seen twice (a region crop of a wide view,
a close-up photo or a close camera's whole keyframe, against a crop or a close keyframe; the
second view maybe doing another action), squashed to the tower's input. The third tower was
trained without close keyframes and restaging (`--close 0 --restage 0`), and a photo watch entry
on close cameras fired on whole keyframes it had never seen and missed the thief's visits where he
pushed the bicycle the photo shows carried. `REID_KINDS` are every kind that travels from
camera to camera in the wide world (`indexing.world.wide`'s travellers and traffic), trucks
included, vehicles weighted up: with few attributes (a colour, a body) they are the hardest to
tell apart. The first tower was trained on `identity_pairs.IDENTITY_KINDS` (the travellers: no
truck) and found a truck's next camera for 1 query in 11 on the validation draw (seed 2000).

Each step takes 256 pairs, two by two as the renderer makes them (pairs 2k and
2k+1 share a kind: hard negatives), mirrors and jitters both views, and pulls each view towards
its twin against the batch's other 511 views (symmetric InfoNCE, temperature 0.07); another
identity that looks exactly the same (`identity_pairs.look`) is left out of a view's negatives,
since pushing the same picture apart teaches nothing true. AdamW,
one-cycle schedule. Writes `vigil_reid.json` and `vigil_reid.safetensors` into `--out` (a
CLIP model folder). Rendering is a deterministic function of the seed; training is seeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from indexing.reid import ReidConfig, ReidNet, save_reid, squashed
from indexing.world.identity_pairs import look, render_identity_pair
from indexing.world.truth import ActorKind

logger = logging.getLogger(__name__)
BATCH_PAIRS = 256
TEMPERATURE = 0.07
TRAIN_STATE = "vigil_reid_train.json"
REID_KINDS: dict[ActorKind, float] = {
    ActorKind.PERSON: 0.25, ActorKind.BICYCLE: 0.25, ActorKind.MOTORBIKE: 0.2, ActorKind.CAR: 0.15,
    ActorKind.TRUCK: 0.1, ActorKind.DOG: 0.05}


def _render(args: tuple[int, int, float, float]) -> tuple[np.ndarray, np.ndarray, int]:
    seed, size, close, restage = args
    pair = render_identity_pair(seed, kind_weights=REID_KINDS, close=close, restage=restage)
    views = [np.asarray(v.image.convert("RGB")) for v in (pair.a, pair.b)]
    out = squashed(views, size)
    return out[0], out[1], look(pair.identity, any_action=restage > 0)


def render_pairs(count: int, size: int, workers: int, close: float = 0.0, restage: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views A and B of identity pairs 0 … count-1, (count, size, size, 3) uint8 each, and each
    pair's `look` (count,) int64."""
    jobs = [(seed, size, close, restage) for seed in range(count)]
    with Pool(workers) as pool:
        rendered = pool.map(_render, jobs, chunksize=256)
    return (np.stack([a for a, _, _ in rendered]), np.stack([b for _, b, _ in rendered]),
            np.array([k for _, _, k in rendered], np.int64))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """uint8 (N, S, S, 3) → float (N, 3, S, S): mirrored half the time, cropped to 85-100 % at a
    random place (a proposal's box is never exact), brightness and contrast jittered."""
    x = x.permute(0, 3, 1, 2).float() / 255.0
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x[flip] = x[flip].flip(3)
    scale = 0.85 + 0.15 * torch.rand(n, generator=gen)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - scale[:, None])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="border")
    gain = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    shift = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.08
    return (x * gain + shift).clamp(0, 1)


def train(a: np.ndarray, b: np.ndarray, looks: np.ndarray, steps: int, lr: float, seed: int,
          cfg: ReidConfig, batch_pairs: int = BATCH_PAIRS) -> ReidNet:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = ReidNet(cfg)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.1)
    views_a, views_b, keys = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(looks)
    couples = len(a) // 2
    labels = torch.arange(batch_pairs)
    began = time.monotonic()
    for step in range(steps):
        first = rng.choice(couples, batch_pairs // 2, replace=False) * 2
        idx = torch.from_numpy(np.stack([first, first + 1], 1).ravel())
        logits = net(augment(views_a[idx], gen)) @ net(augment(views_b[idx], gen)).T / TEMPERATURE
        twins = (keys[idx][:, None] == keys[idx][None, :]) & ~torch.eye(batch_pairs, dtype=torch.bool)
        logits = logits.masked_fill(twins, float("-inf"))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            top1 = float((logits.argmax(1) == labels).float().mean())
            logger.info("step %d loss %.3f in-batch top-1 %.3f (%.0f s)", step, loss.item(), top1,
                        time.monotonic() - began)
    return net.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40000)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight", type=float, default=ReidConfig.weight,
                        help="w: an image-to-image score is (1-w)·clip + w·appearance")
    parser.add_argument("--widths", type=int, nargs=3, default=list(ReidConfig.widths),
                        help="the tower's channels at 1/2, 1/4 and 1/8 of its input")
    parser.add_argument("--close", type=float, default=0.15,
                        help="share of views that are a close camera's whole keyframe")
    parser.add_argument("--restage", type=float, default=0.3,
                        help="share of pairs whose second view does another action of its kind")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True, help="the CLIP model folder to add the tower to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = ReidConfig(weight=args.weight, widths=(args.widths[0], args.widths[1], args.widths[2]))
    began = time.monotonic()
    a, b, looks = render_pairs(args.pairs, cfg.input_size, args.workers, args.close, args.restage)
    rendered = time.monotonic() - began
    distinct = len(np.unique(looks))
    logger.info("rendered %d pairs in %.0f s (%d distinct looks)", args.pairs, rendered, distinct)
    net = train(a, b, looks, args.steps, args.lr, args.seed, cfg)
    save_reid(net, args.out)
    state = {"pairs": args.pairs, "steps": args.steps, "lr": args.lr, "seed": args.seed,
             "widths": list(cfg.widths), "close": args.close, "restage": args.restage,
             "kinds": {k.value: w for k, w in REID_KINDS.items()},
             "batch_pairs": BATCH_PAIRS, "temperature": TEMPERATURE, "render_s": round(rendered),
             "distinct_looks": distinct,
             "seconds": round(time.monotonic() - began)}
    (args.out / TRAIN_STATE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
