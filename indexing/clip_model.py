"""The open_clip adapter: the only module that imports open_clip.

It creates, loads and saves CLIP models and hands back a `ClipBundle` holding
the model with its own preprocessing and tokenizer. Loading accepts a built-in
architecture name with a pretrained tag (production, weights fetched once on a
machine with internet), or a local directory in open_clip's `local-dir` format
(`open_clip_config.json` + `open_clip_model.safetensors`), which is how Vigil
ships its own model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import open_clip
import torch
from open_clip.model import resize_pos_embed
from open_clip.transform import (  # torchvision's Resize, CenterCrop and Normalize, as open_clip uses them
    CenterCrop,
    MaybeConvertMode,
    MaybeToTensor,
    Normalize,
    PreprocessCfg,
    Resize,
    image_transform_v2,
)
from PIL import Image
from safetensors.torch import save_file

from indexing.errors import ModelUnavailableError
from indexing.model_files import CONFIG_FILE, WEIGHTS_FILE


class ClipModel(Protocol):
    """What Vigil uses of an open_clip model (`CLIP`, `CustomTextCLIP`), typed: open_clip has no types."""

    logit_scale: torch.nn.Parameter
    visual: Any  # the image tower; `visual.image_size` is its (height, width)

    def encode_image(self, image: torch.Tensor, normalize: bool = False) -> torch.Tensor: ...
    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor: ...
    def train(self, mode: bool = True) -> Any: ...
    def eval(self) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> Any: ...
    def named_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]: ...


Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ClipBundle:
    """A CLIP model with the preprocessing and tokenizer it was trained with."""

    model: ClipModel
    preprocess: Callable[[Image.Image], torch.Tensor]
    tokenizer: Callable[[list[str]], torch.Tensor]
    model_cfg: dict[str, Any] = field(default_factory=dict)
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)

    @property
    def context_length(self) -> int:
        return int(self.model_cfg.get("text_cfg", {}).get("context_length", 77))

    @property
    def embed_dim(self) -> int:
        return int(self.model_cfg["embed_dim"])


def new_clip(model_cfg: dict[str, Any], preprocess_cfg: dict[str, Any]) -> ClipBundle:
    """A freshly initialised (untrained) model; seed torch before calling for determinism."""
    model = open_clip.CLIP(**model_cfg)
    return _bundle(model, model_cfg, preprocess_cfg)


def load_weights(bundle: ClipBundle, weights: dict[str, torch.Tensor]) -> None:
    """Load a state dict into the bundle's model, interpolating the image position grid if the
    weights were trained at another input size (open_clip's own resize)."""
    resize_pos_embed(weights, bundle.model)
    bundle.model.load_state_dict(weights)


def load_clip(name_or_path: str | Path, pretrained: str | None = None) -> ClipBundle:
    """Load a local `local-dir` model folder, or a built-in architecture + pretrained tag/file."""
    path = Path(name_or_path)
    if path.is_dir():
        return _load_local_dir(path)
    if str(name_or_path).startswith(("/", ".")):
        raise ModelUnavailableError(f"model folder {name_or_path!s} does not exist")
    return _load_builtin(str(name_or_path), pretrained)


def save_clip(bundle: ClipBundle, out_dir: Path, fp16: bool = True) -> None:
    """Write the bundle in open_clip's local-dir format (atomically per file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous()
             for k, v in bundle.model.state_dict().items()}
    tmp_weights = out_dir / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp_weights))
    tmp_weights.replace(out_dir / WEIGHTS_FILE)
    config = {"model_cfg": bundle.model_cfg, "preprocess_cfg": bundle.preprocess_cfg}
    tmp_config = out_dir / (CONFIG_FILE + ".tmp")
    tmp_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tmp_config.replace(out_dir / CONFIG_FILE)


def encode_text(model: ClipModel, tokens: torch.Tensor) -> torch.Tensor:
    """Normalised text embeddings, computed on the batch's used context only when that is exact.

    open_clip's `CLIP` text tower is causal with EOT (argmax) pooling: the EOT
    token never attends to the padding after it, so dropping the padding
    columns shared by the whole batch gives the same vectors for a fraction of
    the work (a 10-token query against a 128-token context). Other towers run
    as they are.
    """
    if not (isinstance(model, open_clip.CLIP) and model.text_pool_type == "argmax"
            and model.attn_mask is not None):
        return torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
    n = int((tokens != 0).any(dim=0).nonzero().max()) + 1
    tokens = tokens[:, :n]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:n].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:n, :n]))
    x = x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)]
    projection = model.text_projection
    x = projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection
    return torch.nn.functional.normalize(x, dim=-1)


def batch_preprocess(bundle: ClipBundle, images: Sequence[np.ndarray],
                     device: torch.device) -> torch.Tensor | None:
    """The bundle's preprocessing run on `device`, the images of each size as one batch, instead
    of PIL on one CPU core per image, which limited embedding wherever the model is fast
    (`benchmarks.embed_device`: on an H200 the bundled model embedded ≈ 1,000 keyframes/s with
    PIL and 4,900-9,800 batched; on 16 CPU cores 646-800 and 1,200-1,600).
    Same steps as `bundle.preprocess`: antialiased resize and crop of the 8-bit pixels (rounded as
    PIL rounds them), then normalisation; the vectors agree with PIL's to a cosine above 0.99999
    (tests/unit/test_batch_preprocess.py). `images`: H×W×3 uint8 arrays. None when a step cannot
    run on a tensor batch (a preprocessing other than open_clip's resize → crop → normalise):
    then preprocess per image."""
    steps = getattr(bundle.preprocess, "transforms", None)
    if steps is None or not all(isinstance(step, _BATCHABLE) for step in steps):
        return None
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    out: list[torch.Tensor] = [torch.empty(0)] * len(images)
    for idx in by_shape.values():
        x = torch.from_numpy(np.stack([images[i] for i in idx])).to(device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)  # resized and cropped as 8-bit pixels, as PIL does
        for step in steps:
            if isinstance(step, Normalize) and x.dtype == torch.uint8:
                x = x.float().div_(255)
            x = step(x)
        if x.dtype == torch.uint8:  # no normalisation step
            x = x.float().div_(255)
        for j, i in enumerate(idx):
            out[i] = x[j]
    return torch.stack(out)


_BATCHABLE = (Resize, CenterCrop, Normalize, MaybeToTensor, MaybeConvertMode)


def clip_loss() -> Loss:
    """The contrastive loss CLIP is trained with (single process): (image, text, logit scale) -> loss."""
    loss: Loss = open_clip.ClipLoss()
    return loss


def _bundle(model: ClipModel, model_cfg: dict[str, Any],
            preprocess_cfg: dict[str, Any]) -> ClipBundle:
    cfg = PreprocessCfg(**preprocess_cfg)
    preprocess = image_transform_v2(cfg, is_train=False)
    context_length = int(model_cfg.get("text_cfg", {}).get("context_length", 77))
    tokenizer = open_clip.SimpleTokenizer(context_length=context_length)
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=tokenizer,
                      model_cfg=model_cfg, preprocess_cfg=preprocess_cfg)


def _load_local_dir(path: Path) -> ClipBundle:
    config_path = path / CONFIG_FILE
    if not config_path.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ModelUnavailableError(
            f"model folder {path} needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{path}")
    model.eval()
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=tokenizer,
                      model_cfg=config["model_cfg"],
                      preprocess_cfg=config.get("preprocess_cfg", {}))


def _load_builtin(name: str, pretrained: str | None) -> ClipBundle:
    if name not in open_clip.list_models():
        raise ModelUnavailableError(
            f"unknown open_clip model {name!r}; give a built-in name or a local model folder")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
    except RuntimeError as exc:
        raise ModelUnavailableError(
            f"weights {pretrained!r} for {name!r} are not available on this machine "
            "(fetch them once where the internet is reachable, or set a local model path)"
        ) from exc
    model.eval()
    model_cfg = open_clip.get_model_config(name) or {}
    return ClipBundle(model=model, preprocess=preprocess, tokenizer=open_clip.get_tokenizer(name),
                      model_cfg=model_cfg, preprocess_cfg={})
