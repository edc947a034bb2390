"""What ingest has learned of each camera's view, kept in the bucket (`views/{camera_id}.json`).

A camera's view is the sizes of the last moving subjects ingest saw on it, as fractions of its
frame (`indexing.regions.View.subjects`): from them the region proposer knows a close view (large
subjects: no region crops) from a wide street. Every process that ingests a camera (the node's
file jobs, the camera's live recorder, either after a restart) starts from what was learned
before instead of relearning it on the first keyframes. The object is written by ingest only,
last writer wins (each writer's areas are a fair sample of the same camera); a missing object is
an unknown view, and an object that is not one is refused with `ValueError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

MAX_SUBJECTS = 1024  # far more than a proposer keeps; a longer list is not one of ours


class CameraViews:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def get(self, camera_id: str) -> tuple[float, ...]:
        """The camera's subject areas, oldest first; () when nothing was learned yet."""
        key = keys.camera_view_key(camera_id)
        try:
            data = self._store.get_bytes(key)
        except ObjectNotFoundError:
            return ()
        try:
            subjects = json.loads(data)["subjects"]
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"{key} is not a camera view: it must be JSON with a 'subjects' list") from None
        return _areas(key, subjects)

    def put(self, camera_id: str, subjects: Sequence[float]) -> None:
        key = keys.camera_view_key(camera_id)
        self._store.put_bytes(key, json.dumps({"subjects": list(_areas(key, subjects))}).encode(),
                              "application/json")


def _areas(key: str, subjects: object) -> tuple[float, ...]:
    if not isinstance(subjects, list | tuple) or len(subjects) > MAX_SUBJECTS or not all(
            isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and 0 < a <= 1
            for a in subjects):
        raise ValueError(f"{key}: 'subjects' must be a list of at most {MAX_SUBJECTS} "
                         "fractions of the frame in (0, 1]")
    return tuple(float(a) for a in subjects)
