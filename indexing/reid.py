"""An appearance tower: a small CNN that tells one subject from another of the same kind.

CLIP learns what a caption says ("a man pushing a red bicycle"); two men in red shirts pushing
red bicycles get nearly the same vector, so appearance search across cameras (`SearchSimilar`,
`Follow`, photo watch entries) confuses them. Appearance-search products embed crops with a
re-identification network for this; Vigil's is this module's `ReidNet`, trained on identity
pairs of the synthetic world (`indexing.world.train_reid`): two views of one subject, in other
light, pose, place and crowd, pulled together, other subjects of the same kind pushed apart.

A model folder may ship one beside its CLIP weights (`REID_CONFIG_FILE`, `REID_WEIGHTS_FILE`);
`indexing.embedder` then fuses it into every image vector: [√(1-w)·clip ; √w·appearance], and a
text vector is [clip ; 0]. So a text query ranks exactly as with CLIP alone (its cosine is
scaled by √(1-w)), while an image query scores (1-w)·clip + w·appearance — one vector per
keyframe or region, one index, nothing else in the system changes. Input: the crop squashed
to `input_size`² pixels (bilinear), as training saw it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from indexing.errors import ModelUnavailableError
from indexing.model_files import REID_CONFIG_FILE, REID_WEIGHTS_FILE


@dataclass(frozen=True)
class ReidConfig:
    dim: int = 128  # the appearance vector's length
    widths: tuple[int, int, int] = (32, 64, 128)  # channels at 1/2, 1/4 and 1/8 of the input
    stripes: int = 4  # horizontal bands pooled apart (head, shirt, trousers, feet)
    input_size: int = 64
    weight: float = 0.5  # w: an image-to-image score is (1-w)·clip + w·appearance

    def __post_init__(self) -> None:
        if not 0.0 < self.weight < 1.0:
            raise ValueError(f"reid weight {self.weight} is outside (0, 1)")
        if self.dim <= 0 or self.input_size < 8 or self.stripes <= 0 or min(self.widths) <= 0:
            raise ValueError(f"reid config {self} has a size that is not positive")


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ReidNet(nn.Module):
    """uint8 crops (N, S, S, 3) or floats (N, 3, S, S) in [0, 1] → unit vectors (N, dim)."""

    def __init__(self, cfg: ReidConfig) -> None:
        super().__init__()
        a, b, c = cfg.widths
        self.cfg = cfg
        self.body = nn.Sequential(_block(3, a, 2), _block(a, a, 1), _block(a, b, 2), _block(b, b, 1),
                                  _block(b, c, 2), _block(c, c, 1))
        self.head = nn.Linear(c * (cfg.stripes + 1), cfg.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.permute(0, 3, 1, 2).float() / 255.0
        f = self.body((x - 0.5) / 0.25)
        whole = F.adaptive_avg_pool2d(f, 1).flatten(1)
        bands = F.adaptive_avg_pool2d(f, (self.cfg.stripes, 1)).flatten(1)
        return F.normalize(self.head(torch.cat([whole, bands], 1)), dim=1)


def squashed(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """H×W×3 uint8 images → (N, size, size, 3) uint8, each squashed whole (bilinear, like training)."""
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    return out


class ReidModel:
    """A trained `ReidNet` in eval mode on a device."""

    def __init__(self, net: ReidNet, device: torch.device) -> None:
        self.net = net.eval().to(device)
        self.cfg = net.cfg
        self._device = device

    def embed(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Unit appearance vectors (N, dim) of H×W×3 uint8 images, on the model's device."""
        batch = torch.from_numpy(squashed(images, self.cfg.input_size)).to(self._device, non_blocking=True)
        with torch.inference_mode():
            out: torch.Tensor = self.net(batch)
            return out


def has_reid(folder: Path) -> bool:
    return (folder / REID_CONFIG_FILE).is_file()


def load_reid(folder: Path, device: torch.device) -> ReidModel | None:
    """The folder's appearance tower, or None when it ships none."""
    if not has_reid(folder):
        return None
    weights = folder / REID_WEIGHTS_FILE
    if not weights.is_file():
        raise ModelUnavailableError(
            f"model folder {folder} has {REID_CONFIG_FILE} but no {REID_WEIGHTS_FILE}")
    try:
        raw = json.loads((folder / REID_CONFIG_FILE).read_text(encoding="utf-8"))
        cfg = ReidConfig(**{**raw, "widths": tuple(raw.get("widths", ReidConfig.widths))})
    except (ValueError, TypeError) as exc:
        raise ModelUnavailableError(
            f"{folder / REID_CONFIG_FILE} is not a valid appearance config: {exc}") from None
    net = ReidNet(cfg)
    net.load_state_dict({k: v.float() for k, v in load_file(str(weights)).items()})
    return ReidModel(net, device)


def save_reid(net: ReidNet, folder: Path) -> None:
    """Write the tower's config and fp16 weights into a model folder (each file atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in net.state_dict().items()}
    tmp = folder / (REID_WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(folder / REID_WEIGHTS_FILE)
    tmp = folder / (REID_CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(net.cfg), indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / REID_CONFIG_FILE)
