"""The Embedder port and its CLIP implementation.

`ModelSpec` names a model: Vigil's bundled one, an open_clip architecture with
a pretrained tag (or checkpoint file), or a local model folder. The model is
loaded lazily, once, under a lock; vectors are L2-normalised float32. torch and
open_clip are imported when an embedder is made, not with this module, so the
processes that only name a model (a camera's live recorder, an index writer:
Ray workers, one per camera) do not carry them (≈ 0.6 GB each).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
from PIL import Image

from indexing.calibration import Calibration
from indexing.dedup import SameScene
from indexing.model_files import REID_WEIGHTS_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    import torch

    from indexing.clip_model import ClipBundle
    from indexing.reid import ReidModel

BUNDLED_MODEL = "vigil-tiny"
BUNDLED_DIR = Path(__file__).parent / "models" / BUNDLED_MODEL


@dataclass(frozen=True)
class ModelSpec:
    name: str = BUNDLED_MODEL
    pretrained: str | None = None
    path: Path | None = None

    def source(self) -> tuple[str | Path, str | None]:
        """What to hand to the loader: a folder, or (architecture, pretrained)."""
        if self.path is not None:
            return self.path, None
        if self.name == BUNDLED_MODEL:
            return BUNDLED_DIR, None
        return self.name, self.pretrained

    @functools.cached_property
    def model_id(self) -> str:
        """A stable id naming the weights (CLIP's, and the appearance tower's where the folder has
        one: `indexing.reid`), used to version the index."""
        source, pretrained = self.source()
        if isinstance(source, Path):
            weights = source / WEIGHTS_FILE
            if not weights.is_file():
                return f"{source.name}-missing"
            digest = hashlib.sha256(weights.read_bytes())
            reid = source / REID_WEIGHTS_FILE
            if reid.is_file():
                digest.update(reid.read_bytes())
            return f"{source.name}-{digest.hexdigest()[:12]}"
        return f"{source}-{pretrained or 'random'}".replace("/", "_")

    @functools.cached_property
    def calibration(self) -> Calibration:
        """Values calibrated for this model (`indexing.calibration`): its folder's, else none."""
        source, _ = self.source()
        return Calibration.of_folder(source) if isinstance(source, Path) else Calibration()


class Embedder(Protocol):
    """Turns images and texts into comparable unit vectors."""

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ClipEmbedder:
    """Embedder over any open_clip model, loaded lazily on first use. A model folder with an
    appearance tower (`indexing.reid`) gets image vectors [√(1-w)·clip ; √w·appearance] and text
    vectors [clip ; 0]: text queries rank as with CLIP alone, image queries by both."""

    def __init__(self, spec: ModelSpec, threads: int | None = None, device: str = "cpu") -> None:
        """`device`: the torch device the model runs on ('cpu', 'cuda'); vectors come back on the CPU."""
        import torch

        self.spec = spec
        self._threads = threads
        self._device = torch.device(device)
        self._bundle: ClipBundle | None = None
        self._reid: ReidModel | None = None
        self._lock = threading.Lock()

    def load(self) -> ClipBundle:
        import torch

        from indexing.clip_model import load_clip

        with self._lock:
            if self._bundle is None:
                if self._threads:
                    torch.set_num_threads(self._threads)
                from indexing.reid import load_reid

                source, pretrained = self.spec.source()
                bundle = load_clip(source, pretrained)
                if self._device.type != "cpu":
                    cast(torch.nn.Module, bundle.model).to(self._device)  # open_clip models are Modules
                self._reid = load_reid(source, self._device) if isinstance(source, Path) else None
                self._bundle = bundle
            return self._bundle

    @property
    def dim(self) -> int:
        bundle = self.load()
        return bundle.embed_dim + (self._reid.cfg.dim if self._reid is not None else 0)

    def same_scene(self, cosine: float | None) -> SameScene | None:
        """Dedup's rule for this model's vectors at a calibrated `cosine` (None: no dedup): it
        compares CLIP's part, the leading components (a tower's part moves with sensor noise)."""
        return None if cosine is None else SameScene(cosine, self.load().embed_dim)

    def embed_images(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        import torch

        bundle = self.load()
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        arrays = [_as_rgb_array(im) for im in images]
        with torch.inference_mode():
            batch = self._preprocess(bundle, arrays)
            clip = _unit(bundle.model.encode_image(batch.to(self._device, non_blocking=True)))
            if self._reid is None:
                return _on_cpu(clip)
            w = self._reid.cfg.weight
            return _on_cpu(torch.cat([clip * (1 - w) ** 0.5, self._reid.embed(arrays).float() * w ** 0.5], 1))

    def _preprocess(self, bundle: ClipBundle, images: list[np.ndarray]) -> torch.Tensor:
        """Batched on the model's device (`clip_model.batch_preprocess`: one path on every device,
        so a GPU node and a CPU node embed a keyframe alike); per image with PIL only for a
        preprocessing that cannot be batched."""
        import torch

        from indexing.clip_model import batch_preprocess

        batch = batch_preprocess(bundle, images, self._device)
        if batch is not None:
            return batch
        return torch.stack([bundle.preprocess(_as_pil(im)) for im in images])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from indexing.clip_model import encode_text

        bundle = self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            vecs = _normalised(encode_text(bundle.model, bundle.tokenizer(list(texts)).to(self._device)))
        if self._reid is None:
            return vecs
        return np.concatenate([vecs, np.zeros((len(vecs), self._reid.cfg.dim), np.float32)], axis=1)


def _as_pil(image: np.ndarray | Image.Image) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(image)


def _as_rgb_array(image: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    return np.asarray(_as_pil(image).convert("RGB"))


def _unit(x: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.nn.functional.normalize(x.float(), dim=-1)


def _normalised(x: torch.Tensor) -> np.ndarray:
    return _on_cpu(_unit(x))


def _on_cpu(x: torch.Tensor) -> np.ndarray:
    return x.cpu().numpy().astype(np.float32, copy=False)
