"""Search: encode the query once (text queries cached), search the index with filters
inside FAISS, then group keyframes into clips and apply the score threshold.

A query may also be a stored vector (`FrameRef`: a keyframe, or a region of it, found before):
`similar` searches with it, `frames` returns the thresholded frame-level hits that
`services.application.follow` builds a trail from."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, UnidentifiedImageError

from indexing.clips import ClipHit, group_into_clips
from indexing.embedder import Embedder
from indexing.errors import ImageDecodeError
from indexing.frame_columns import Box
from indexing.vector_index import FrameHit, FrameIndex, FrameRecord, SearchFilter
from services.index.searchable import Searchable, Unsearched, searchable
from services.settings import SearchSettings

MAX_IMAGE_PIXELS = 40_000_000
TEXT_CACHE_SIZE = 1024
MAX_CANDIDATES = 2000
BACKGROUND = 1024  # stored vectors sampled to place an appearance query's scores (`appearance_threshold`)
MIN_BACKGROUND = 64  # fewer: no appearance cut, the engine's threshold alone
BACKGROUND_TRIM = 0.05  # the sample's best scores left out of the background (the subject's own)
MIN_STD = 1e-3
MAX_CUT = 0.999  # an appearance cut never drops the same picture stored again (a model whose
# vectors all sit close together would otherwise put it above 1)


@dataclass(frozen=True)
class SearchQuery:
    top_k: int
    where: SearchFilter = SearchFilter()
    frames: bool = False  # individual keyframes instead of clips
    min_score: float | None = None  # None: the engine's threshold (the model's, or the setting)
    offset: int = 0  # hits to skip (pagination)


@dataclass(frozen=True)
class FrameRef:
    """One stored vector: the camera's keyframe at `time_ms` (`box` None) or a region of it."""

    camera_id: str
    time_ms: int
    box: Box | None = None

    @classmethod
    def of(cls, record: FrameRecord) -> FrameRef:
        return cls(record.camera_id, record.time_ms, record.box)


@dataclass(frozen=True)
class SearchResult:
    hits: list[ClipHit]  # a frame hit is a one-frame clip
    no_good_match: bool  # footage was searched, nothing passed the threshold
    more: bool = False  # hits beyond this page exist
    unsearched: tuple[Unsearched, ...] = ()  # shards no live server held (a partitioned index)


class SearchEngine:
    def __init__(self, embedder: Embedder, index: FrameIndex | Searchable, settings: SearchSettings,
                 min_score: float | None) -> None:
        """`index`: the node's own `FrameIndex`, or a router over shard servers
        (`services.index.searchable`). `min_score`: the threshold of this model's version
        (`Settings.calibrated`); None: none."""
        self._embedder = embedder
        self._index = searchable(index)
        self._settings = settings
        self._min_score = min_score
        self._encode_text = functools.lru_cache(maxsize=TEXT_CACHE_SIZE)(self._encode_text_uncached)

    def by_text(self, text: str, query: SearchQuery) -> SearchResult:
        return self._search(self._encode_text(text), query)

    def by_image(self, data: bytes, query: SearchQuery) -> SearchResult:
        return self._search(self.embed_image(data), query)

    def similar(self, vector: np.ndarray, query: SearchQuery) -> SearchResult:
        """Search by appearance with a vector of this version's model (`stored`): without a
        `min_score`, the cut is `appearance_threshold`'s."""
        if query.min_score is None:
            query = replace(query, min_score=self.appearance_threshold(vector))
        return self._search(vector, query)

    def embed_image(self, data: bytes) -> np.ndarray:
        vector: np.ndarray = self._embedder.embed_images([decode_image(data)])[0]
        return vector

    def stored(self, ref: FrameRef) -> np.ndarray | None:
        """The vector this version stored for `ref`; None if it holds none."""
        return self._index.vector(ref.camera_id, ref.time_ms, ref.box)

    def sample(self, n: int, regions: bool | None = None) -> np.ndarray:
        """Up to `n` stored vectors of recent footage (`Searchable.sample`): a background sample."""
        return self._index.sample(n, regions=regions)

    @property
    def clip_gap_ms(self) -> int:
        return self._settings.clip_gap_ms

    def appearance_threshold(self, vector: np.ndarray) -> float | None:
        """The threshold for a query by appearance (a stored hit, a photo: `similar`, `frames`).

        A text-calibrated cosine means little between two pictures (a photo scores far higher
        with everything than a phrase does), so the cut is placed against what this query scores
        with ordinary footage: the mean plus `search.appearance_z` standard deviations of its
        cosines with a sample of stored vectors (at most `MAX_CUT`), and never below the
        engine's threshold. The sample's best `BACKGROUND_TRIM` are left out of the mean and
        deviation: they are where the subject itself and its look-alikes lie, and in a small
        index (the demo's holds ≈ 1,100 vectors, the thief ≈ 3 % of them) they widened the
        deviation until the cut passed over the subject's own visits on the other cameras.
        """
        z = self._settings.appearance_z
        background = self._index.sample(BACKGROUND) if z is not None else None
        if z is None or background is None:
            return self._min_score
        return appearance_cut(background @ np.asarray(vector, dtype=np.float32), z, self._min_score)

    def frames(self, vector: np.ndarray, where: SearchFilter,
               min_score: float | None = None) -> tuple[list[FrameHit], list[FrameHit]]:
        """(searched, kept): the `MAX_CANDIDATES` best frame-level hits (keyframes and regions)
        allowed by `where`, and those at or above `min_score` (None: `appearance_threshold`)."""
        threshold = self.appearance_threshold(vector) if min_score is None else min_score
        found = self._index.find(vector, MAX_CANDIDATES, where).hits
        return found, found if threshold is None else [h for h in found if h.score >= threshold]

    def _search(self, vector: np.ndarray, query: SearchQuery) -> SearchResult:
        threshold = self._min_score if query.min_score is None else query.min_score
        wanted = query.offset + query.top_k + 1  # one more tells whether a next page exists
        candidates = wanted if query.frames else min(
            MAX_CANDIDATES, wanted * self._settings.candidates_per_clip)
        searched = self._index.find(vector, candidates, query.where)
        frames = searched.hits
        kept = frames if threshold is None else [h for h in frames if h.score >= threshold]
        ranked = [_single(h) for h in kept] if query.frames else group_into_clips(
            kept, self._settings.clip_gap_ms)
        page = ranked[query.offset:query.offset + query.top_k]
        return SearchResult(hits=page, no_good_match=bool(frames) and not kept,
                            more=len(ranked) > query.offset + query.top_k, unsearched=searched.unsearched)

    def _encode_text_uncached(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._embedder.embed_texts([text])[0]
        return vector


def _single(hit: FrameHit) -> ClipHit:
    return ClipHit(hit.record.camera_id, hit.record.time_ms, hit.record.end_ms, hit, 1)


def appearance_cut(background_scores: np.ndarray, z: float, floor: float | None) -> float | None:
    """`SearchEngine.appearance_threshold` given a query's cosines with a background sample:
    the mean plus `z` standard deviations of all but the sample's best `BACKGROUND_TRIM`, at
    most `MAX_CUT`, never below `floor`; `floor` alone for fewer than `MIN_BACKGROUND` scores."""
    if len(background_scores) < MIN_BACKGROUND:
        return floor
    scores = np.sort(background_scores)
    scores = scores[:max(MIN_BACKGROUND, round(len(scores) * (1 - BACKGROUND_TRIM)))]
    cut = min(float(scores.mean()) + z * max(float(scores.std()), MIN_STD), MAX_CUT)
    return cut if floor is None else max(cut, floor)


def decode_image(data: bytes) -> Image.Image:
    """Decode an uploaded photo, refusing non-images and decompression bombs."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ImageDecodeError(f"image of {image.width}x{image.height} pixels is too large")
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"not a decodable image ({type(exc).__name__})") from None
