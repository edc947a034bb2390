"""Search: encode the query once (text queries cached), then search the index with filters."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from indexing.embedder import Embedder
from indexing.errors import ImageDecodeError
from indexing.vector_index import FrameHit, FrameIndex, SearchFilter

MAX_IMAGE_PIXELS = 40_000_000
TEXT_CACHE_SIZE = 1024


class SearchEngine:
    def __init__(self, embedder: Embedder, index: FrameIndex) -> None:
        self._embedder = embedder
        self._index = index
        self._encode_text = functools.lru_cache(maxsize=TEXT_CACHE_SIZE)(self._encode_text_uncached)

    def by_text(self, text: str, top_k: int, where: SearchFilter) -> list[FrameHit]:
        return self._index.search(self._encode_text(text), top_k, where)

    def by_image(self, data: bytes, top_k: int, where: SearchFilter) -> list[FrameHit]:
        vector = self._embedder.embed_images([decode_image(data)])[0]
        return self._index.search(vector, top_k, where)

    def _encode_text_uncached(self, text: str) -> np.ndarray:
        return self._embedder.embed_texts([text])[0]


def decode_image(data: bytes) -> Image.Image:
    """Decode an uploaded photo, refusing non-images and decompression bombs."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ImageDecodeError(f"image of {image.width}x{image.height} pixels is too large")
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"not a decodable image ({type(exc).__name__})") from None
