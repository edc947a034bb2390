"""The architecture and preprocessing of Vigil's bundled tiny CLIP (`vigil-tiny`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

VIGIL_TINY_DIR = Path(__file__).resolve().parent / "vigil-tiny"

# 128 tokens: the longest Vietnamese caption the world writes is about 100 BPE tokens
# (diacritics cost several tokens each); tests assert that no caption is truncated.
CONTEXT_LENGTH = 128


IMAGE_SIZE = 96


def vigil_tiny_model_cfg(image_size: int = IMAGE_SIZE) -> dict[str, Any]:
    return {
        "embed_dim": 256,
        "vision_cfg": {"image_size": image_size, "layers": 4, "width": 192, "patch_size": 16,
                       "head_width": 64},
        "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408, "width": 192,
                     "heads": 4, "layers": 4},
    }


def vigil_tiny_preprocess_cfg(image_size: int = IMAGE_SIZE) -> dict[str, Any]:
    """Squash the whole 16:9 frame to a square: a centre crop would cut actors at the edges."""
    return {"size": image_size, "mode": "RGB", "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic",
            "resize_mode": "squash", "fill_color": 0}
