"""The ingest pipeline's region proposer, remembering each camera's view in the bucket.

A proposer learns a camera's view from the moving subjects it sees (`indexing.regions`): until
it has seen `MIN_SUBJECTS` of them, a close view's keyframes get grid tiles and motion boxes it
would not give them later, and every new process (a live recorder, restarted or not, the node's
file jobs) would relearn it. `LearnedViews` starts each camera from its stored view
(`storage.camera_views`) the first time the proposer meets it, and stores what it has learned
once a batch is indexed, when the verdict (close or not) changed or `SAVE_EVERY` blobs were
seen since: a small PUT every few minutes of a busy camera. A view that cannot be read or
written is logged and relearned; it never fails an ingest.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from indexing.frame_columns import Box
from indexing.regions import SUBJECT_HISTORY, RegionProposer, View
from storage.camera_views import CameraViews
from storage.errors import StorageError

logger = logging.getLogger(__name__)

SAVE_EVERY = SUBJECT_HISTORY // 4  # blobs seen between two writes of a camera's view


class LearnedViews:
    """`propose` as the proposer does; `save` after a camera's batch is indexed. Thread-safe."""

    def __init__(self, proposer: RegionProposer, views: CameraViews) -> None:
        self._proposer, self._views = proposer, views
        self._saved: dict[str, View] = {}  # what the bucket holds of each camera, as far as we know
        self._lock = threading.Lock()

    def propose(self, camera_id: str, rgb: np.ndarray) -> list[Box]:
        if self._proposer.learns_views and not self._proposer.knows(camera_id):
            self._load(camera_id)
        return self._proposer.propose(camera_id, rgb)

    def save(self, camera_id: str) -> None:
        """Store the camera's view if it changed enough since it was last stored or read."""
        view = self._proposer.view(camera_id)
        with self._lock:
            last = self._saved.get(camera_id)
            if view is None or not view.subjects or (
                    last is not None and view.close == last.close and view.seen - last.seen < SAVE_EVERY):
                return
            self._saved[camera_id] = view
        try:
            self._views.put(camera_id, view.subjects)
        except StorageError as e:
            logger.warning("camera %s: its view was not stored (%s); a new recorder relearns it",
                           camera_id, type(e).__name__)

    def _load(self, camera_id: str) -> None:
        try:
            subjects = self._views.get(camera_id)
        except (StorageError, ValueError) as e:  # a storage error's text may name the endpoint: not logged
            why = str(e) if isinstance(e, ValueError) else type(e).__name__
            logger.warning("camera %s: its stored view was not read (%s); relearning it", camera_id, why)
            subjects = ()
        self._proposer.recall(camera_id, subjects)
        view = self._proposer.view(camera_id)
        with self._lock:
            if view is not None:
                self._saved[camera_id] = view
