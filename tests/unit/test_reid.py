"""The appearance tower (`indexing.reid`) fused into a model's vectors: what a user notices is that
text search ranks exactly as CLIP alone ranks, while image-to-image scores blend CLIP's cosine with
the appearance tower's; that a changed tower is a new model (a new index version); and that a
broken tower in a model folder is refused with a message naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from indexing.embedder import BUNDLED_DIR, ClipEmbedder, ModelSpec
from indexing.errors import ModelUnavailableError
from indexing.model_files import CONFIG_FILE, REID_CONFIG_FILE, REID_WEIGHTS_FILE, WEIGHTS_FILE
from indexing.reid import ReidConfig, ReidNet, load_reid, save_reid

TEXTS = ["a person pushing a red bicycle", "xe máy màu xanh trong mưa", "a dog"]


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    out = []
    for _ in range(n):
        h, w = int(rng.integers(40, 230)), int(rng.integers(40, 400))
        image = np.full((h, w, 3), rng.integers(0, 255, 3), np.uint8)
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        image[y0:y0 + h // 3, x0:x0 + w // 4] = rng.integers(0, 255, 3)
        out.append(image)
    return out


def _clip_only(tmp_path: Path) -> Path:
    """The bundled CLIP weights alone, without an appearance tower."""
    folder = tmp_path / "clip-only"
    folder.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copy(BUNDLED_DIR / name, folder / name)
    return folder


def _with_tower(tmp_path: Path, seed: int, weight: float = 0.3) -> Path:
    """The bundled CLIP weights with a random-weight tower (seeded), blended at `weight`."""
    base = tmp_path / "clip-only"
    folder = tmp_path / f"with-tower-{seed}"
    shutil.copytree(base if base.exists() else _clip_only(tmp_path), folder)
    torch.manual_seed(seed)
    save_reid(ReidNet(ReidConfig(weight=weight)).eval(), folder)
    return folder


def test_text_ranks_as_clip_alone_and_images_blend_both(tmp_path: Path) -> None:
    plain = ClipEmbedder(ModelSpec(path=_clip_only(tmp_path)))
    fused = ClipEmbedder(ModelSpec(path=_with_tower(tmp_path, 1, weight=0.3)))
    images = _images(5)
    assert fused.dim == plain.dim + ReidConfig().dim
    v, t = fused.embed_images(images), fused.embed_texts(TEXTS)
    v0, t0 = plain.embed_images(images), plain.embed_texts(TEXTS)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert not t[:, plain.dim:].any()  # a text has no appearance
    # text → image: CLIP's cosine scaled by √(1-w), so every ranking is CLIP's
    assert np.allclose(t @ v.T, (t0 @ v0.T) * 0.7 ** 0.5, atol=1e-5)
    assert (np.argsort(-(t @ v.T), axis=1) == np.argsort(-(t0 @ v0.T), axis=1)).all()
    # image → image: (1-w)·CLIP + w·appearance
    tower = load_reid(tmp_path / "with-tower-1", torch.device("cpu"))
    assert tower is not None
    r = tower.embed(images).numpy()
    assert np.allclose(v @ v.T, 0.7 * (v0 @ v0.T) + 0.3 * (r @ r.T), atol=1e-4)
    assert fused.embed_images([]).shape == (0, fused.dim) and fused.embed_texts([]).shape == (0, fused.dim)


def test_the_tower_is_part_of_the_model_id(tmp_path: Path) -> None:
    plain = ModelSpec(path=_clip_only(tmp_path)).model_id
    one = ModelSpec(path=_with_tower(tmp_path, 1)).model_id
    two = ModelSpec(path=_with_tower(tmp_path, 2)).model_id
    assert len({plain, one, two}) == 3  # another tower: another index version


def test_the_bundled_model_ships_a_tower_and_stays_small() -> None:
    assert load_reid(BUNDLED_DIR, torch.device("cpu")) is not None
    size = sum(p.stat().st_size for p in BUNDLED_DIR.iterdir() if p.suffix == ".safetensors")
    assert size <= 30 * 2 ** 20


@pytest.mark.parametrize(("config", "weights", "message"), [
    ({"weight": 1.5}, True, "reid weight 1.5 is outside (0, 1)"),
    ({"dim": 128, "colour": "red"}, True, "not a valid appearance config"),
    ({}, False, f"has {REID_CONFIG_FILE} but no {REID_WEIGHTS_FILE}"),
])
def test_a_broken_tower_is_refused_naming_the_problem(tmp_path: Path, config: dict[str, object],
                                                     weights: bool, message: str) -> None:
    folder = _with_tower(tmp_path, 3)
    (folder / REID_CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    if not weights:
        (folder / REID_WEIGHTS_FILE).unlink()
    with pytest.raises(ModelUnavailableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_reid(folder, torch.device("cpu"))


def test_the_trainer_renders_the_same_pairs_and_writes_a_tower_the_embedder_loads(tmp_path: Path) -> None:
    from indexing.world.train_reid import render_pairs, train

    a, b, looks = render_pairs(8, 64, workers=1, close=0.5, restage=0.5)
    again, _, _ = render_pairs(8, 64, workers=1, close=0.5, restage=0.5)
    assert a.shape == b.shape == (8, 64, 64, 3) and (a == again).all()  # a function of the seeds
    assert looks.shape == (8,)
    folder = _clip_only(tmp_path)
    twins = np.zeros(8, np.int64)  # every identity looks the same: no negatives, still a finite loss
    save_reid(train(a, b, twins, steps=2, lr=1e-3, seed=0, cfg=ReidConfig(), batch_pairs=4), folder)
    embedder = ClipEmbedder(ModelSpec(path=folder))
    assert embedder.embed_images(_images(2)).shape == (2, embedder.dim) == (2, 256 + 128)


def test_the_tower_trains_on_every_kind_that_travels_between_wide_cameras() -> None:
    """A kind missing here is one the tower never learns to tell apart (trucks once were)."""
    from indexing.world.train_reid import REID_KINDS
    from indexing.world.truth import INCIDENT_KINDS
    from indexing.world.wide import TRAFFIC_KINDS, TRAVELLER_KINDS

    travelling = (set(TRAVELLER_KINDS) | set(TRAFFIC_KINDS)) - INCIDENT_KINDS
    assert set(REID_KINDS) == travelling and all(w > 0 for w in REID_KINDS.values())
