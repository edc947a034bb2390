"""How fast does the embedder run on each device it can use, where does its time go, and does a
GPU give the vectors the CPU gives?

    python -m benchmarks.embed_device [--quick] --out FILE.json [--models vigil-tiny,ViT-B-32]

For each model (the bundled one, and open_clip architectures with random weights: the compute,
hence every rate here, is that of the pretrained weights) and each device torch can use here
(the CPU with all its cores; CUDA when torch sees a GPU): keyframes/s of
`ClipEmbedder.embed_images` on 224-px keyframes (the size ingest decodes them to) in batches of
16, 64 and 256; the model alone on a preprocessed batch (`encode_image`, normalised, back on the
CPU; CUDA synchronised); and the preprocessing both ways: per image with PIL on one CPU core
(what `embed_images` did before) and batched on the device (`clip_model.batch_preprocess`, what
it does now, on every device). On CUDA, the vectors of 64 keyframes against the CPU's, same
weights (the largest absolute difference, the lowest cosine) and against PIL's preprocessing
(the lowest and mean cosine). The median of `RUNS` timed calls after a warm-up call.

What it answers (issue #20): how many keyframes one GPU node can embed, and whether the embedder
or its preprocessing is then the limit of the pipeline (`benchmarks.ingest` measures the rest).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks import _harness
from indexing.embedder import BUNDLED_MODEL, ClipEmbedder, ModelSpec

RUNS = 5
BATCHES = (16, 64, 256)
KEYFRAME_HW = (224, 398)  # a 16:9 keyframe at ingest's 224-px short side


def _keyframes(n: int, seed: int = 0) -> list[np.ndarray]:
    """Smooth random images (a blurred noise field per image): JPEG-like content, not flat."""
    rng = np.random.default_rng(seed)
    h, w = KEYFRAME_HW
    small = rng.integers(0, 256, (n, h // 8, w // 8, 3), dtype=np.uint8)
    return [np.ascontiguousarray(np.repeat(np.repeat(im, 8, axis=0), 8, axis=1)[:h, :w]) for im in small]


def _median_s(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(model: str, device: str, batches: Sequence[int]) -> dict[str, Any]:
    import torch
    from PIL import Image

    from indexing.clip_model import batch_preprocess

    embedder = _embedder(model, device)
    bundle = embedder.load()
    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    out: dict[str, Any] = {"dim": embedder.dim, "torch_threads": torch.get_num_threads()}
    for n in batches:
        images = _keyframes(n)
        pils = [Image.fromarray(im) for im in images]

        def per_image(p: list[Image.Image] = pils) -> torch.Tensor:
            return torch.stack([bundle.preprocess(im) for im in p])

        def batched(im: list[np.ndarray] = images) -> torch.Tensor | None:
            return batch_preprocess(bundle, im, dev)

        batch = per_image().to(dev)

        def model_alone(b: torch.Tensor = batch) -> np.ndarray:
            with torch.inference_mode():
                x = bundle.model.encode_image(b)
                return torch.nn.functional.normalize(x.float(), dim=-1).cpu().numpy()

        def embed(im: list[np.ndarray] = images) -> np.ndarray:
            return embedder.embed_images(im)

        whole_s, model_s = _median_s(embed, sync), _median_s(model_alone, sync)
        pil_s, batched_s = _median_s(per_image, sync), _median_s(batched, sync)
        out[f"batch_{n}"] = {"embed_keyframes_per_s": n / whole_s,
                             "model_alone_keyframes_per_s": n / model_s,
                             "pil_preprocess_keyframes_per_s": n / pil_s,
                             "batched_preprocess_keyframes_per_s": n / batched_s,
                             "embed_over_model_alone": model_s / whole_s}
    return out


def agreement(model: str) -> dict[str, float]:
    """CUDA's vectors against the CPU's (both preprocessed in batches) and against PIL's
    preprocessing per image (on the CPU, as before batching), same keyframes and weights."""
    import torch
    from PIL import Image

    images = _keyframes(64, seed=1)
    cpu_embedder = _embedder(model, "cpu")
    cpu, gpu = cpu_embedder.embed_images(images), _embedder(model, "cuda").embed_images(images)
    bundle = cpu_embedder.load()
    with torch.inference_mode():
        per_image = torch.stack([bundle.preprocess(Image.fromarray(im)) for im in images])
        pil = torch.nn.functional.normalize(bundle.model.encode_image(per_image).float(), dim=-1).numpy()
    clip = gpu[:, :bundle.embed_dim]  # CLIP's part of the vector (an appearance tower may follow it)
    clip = clip / np.linalg.norm(clip, axis=1, keepdims=True)
    return {"max_abs_difference": float(np.abs(cpu - gpu).max()),
            "min_cosine": float((cpu * gpu).sum(axis=1).min()),
            "min_cosine_against_pil": float((pil * clip).sum(axis=1).min()),
            "mean_cosine_against_pil": float((pil * clip).sum(axis=1).mean())}


def _embedder(model: str, device: str) -> ClipEmbedder:
    """Loaded with torch seeded, so random weights are the same on every device."""
    import torch

    torch.manual_seed(0)
    embedder = ClipEmbedder(ModelSpec(name=model), device=device)
    embedder.load()
    return embedder


def main() -> None:
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--models", default=f"{BUNDLED_MODEL},ViT-B-32",
                        help="comma-separated: the bundled model's name or open_clip architectures")
    args = parser.parse_args()
    import torch

    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    batches = BATCHES[:1] if args.quick else BATCHES
    results: dict[str, Any] = {
        "devices": devices, "cpus": os.cpu_count(), "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None,
        "keyframe_hw": list(KEYFRAME_HW), "runs": RUNS}
    for model in args.models.split(","):
        results[model] = {device: measure(model, device, batches) for device in devices}
        if "cuda" in devices:
            results[model]["cuda_vs_cpu"] = agreement(model)
    _harness.write(args.out, "embedder rate per device, preprocessing vs model, CUDA vs CPU vectors",
                   results, args.quick)


if __name__ == "__main__":
    main()
