"""Re-embed indexed keyframes from their stored JPEG thumbnails into another index version.

Used to build a version for a new model: the footage's keyframes are not
decoded again, the thumbnail each `FrameRecord` names is. A keyframe whose
thumbnail is gone was deleted by retention and is skipped. A region (a record
with a box) is re-embedded from the crop of its keyframe's thumbnail at its
box, not proposed again: the same regions, so the new version holds the same
frames. The thumbnail is smaller than the frame ingest cropped from
(`ingest.thumbnail_width` wide), so a region's crop has fewer pixels than at
ingest; each thumbnail is fetched once per batch for its keyframe and regions.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from indexing.embedding import EmbedFn
from indexing.indexed import IndexedFrames
from indexing.regions import crop
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameRecord
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

FETCHERS = 8  # concurrent thumbnail GETs


@dataclass(frozen=True)
class Reembedded:
    added: int
    skipped: int  # thumbnail gone (expired footage)


class Reembedder:
    def __init__(self, store: ObjectStore, embed: EmbedFn, log: IndexLog, index: IndexedFrames,
                 batch: int) -> None:
        self._store, self._embed, self._log, self._index, self._batch = store, embed, log, index, batch

    def run(self, records: Sequence[FrameRecord],
            progress: Callable[[Reembedded], None] = lambda _: None) -> Reembedded:
        """Embed, log (acknowledged) and add the records' keyframes, a batch at a time."""
        done = Reembedded(0, 0)
        with ThreadPoolExecutor(FETCHERS, thread_name_prefix="thumbnails") as fetch:
            for i in range(0, len(records), self._batch):
                part = records[i:i + self._batch]
                names = list(dict.fromkeys(r.thumbnail_key for r in part))
                thumbnails = dict(zip(names, fetch.map(self._thumbnail, names), strict=True))
                kept = [(r, _image(f, r)) for r in part if (f := thumbnails[r.thumbnail_key]) is not None]
                done = Reembedded(done.added + self._add(kept), done.skipped + len(part) - len(kept))
                progress(done)
        return done

    def _add(self, kept: list[tuple[FrameRecord, np.ndarray]]) -> int:
        if not kept:
            return 0
        records = [r for r, _ in kept]
        vectors = self._embed([f for _, f in kept])
        self._log.append(f"reembed-{records[0].camera_id}-{records[0].time_ms}", records, vectors)
        return self._index.add(records, vectors)

    def _thumbnail(self, key: str) -> np.ndarray | None:
        try:
            data = self._store.get_bytes(key)
        except ObjectNotFoundError:
            return None
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))


def _image(thumbnail: np.ndarray, record: FrameRecord) -> np.ndarray:
    """What the record's vector embeds: the keyframe, or the crop at its region's box."""
    return thumbnail if record.box is None else crop(thumbnail, record.box)
