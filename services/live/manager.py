"""Live cameras on the node: one live recorder (a cluster worker) per camera with a stream URL.

A registered camera with a stream URL records (and records again when the
node starts); re-registering the same URL changes nothing, a new URL restarts
the recording, an empty one or `stop()` ends it. For each recording a pump
thread long-polls the recorder and adds the indexed batches to the node's index
(`FrameIndex.add` is thread-safe and dedups by camera and time, so live
batches do not wait for a file ingest holding the node's index lock), then calls `on_indexed`:
a batch reaches the node after its shard writers acknowledged it, so its watchlist alerts are
stored by then (the node rings the alert streams' bell: `services.application.watchlists`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from indexing.embedding import EmbedFn
from services.cluster.interface import ActorUnavailableError, Cluster, RecorderHandle
from services.cluster.live_recorders import LiveConfig, LiveStatus
from services.ingest.pipeline import FrameSink
from storage.cameras import Camera
from storage.timeutil import now_ms
from storage.url_policy import Purpose, UrlPolicy, check_url

logger = logging.getLogger(__name__)
DRAIN_WAIT_S = 1.0
STOP_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Recording:
    url: str
    recorder: RecorderHandle
    pump: threading.Thread
    ended: threading.Event  # set once the recorder is being killed: the pump gives up on errors


class LiveManager:
    def __init__(self, cluster: Cluster, config: LiveConfig, embed: EmbedFn, index: FrameSink,
                 url_policy: Callable[[], UrlPolicy] = UrlPolicy,
                 on_indexed: Callable[[], None] = lambda: None) -> None:
        self._cluster, self._config, self._embed, self._index = cluster, config, embed, index
        self._url_policy, self._on_indexed = url_policy, on_indexed
        self._recordings: dict[str, _Recording] = {}
        self._stopped: dict[str, LiveStatus] = {}  # the final status of ended recordings
        self._lock = threading.Lock()

    def resume(self, cameras: Iterable[Camera]) -> int:
        """Start recording every registered camera that has a stream URL."""
        started = sum(self.apply(c) for c in cameras if c.stream_url)
        if started:
            logger.info("recording %d live cameras", started)
        return started

    def check(self, stream_url: str) -> None:
        """Refuse (`UrlRefusedError`, INVALID_ARGUMENT) a stream URL the fetch policy does not allow;
        each recording checks it again whenever ffmpeg (re)starts."""
        check_url(stream_url, Purpose.CAMERA, self._url_policy())

    def apply(self, camera: Camera) -> bool:
        """Make the recording match the registration; True if a recording was started."""
        with self._lock:
            current = self._recordings.get(camera.camera_id)
            if current is not None and current.url == camera.stream_url:
                return False
            if current is not None:
                self._end(camera.camera_id)
            if not camera.stream_url:
                return False
            self._recordings[camera.camera_id] = self._start(camera)
            return True

    def stop(self, camera_id: str) -> LiveStatus:
        """End the camera's recording once its last segment is stored and indexed."""
        with self._lock:
            if camera_id in self._recordings:
                self._end(camera_id)
            return self._stopped.get(camera_id, LiveStatus(camera_id))

    def status(self, camera_id: str) -> LiveStatus:
        with self._lock:
            recording = self._recordings.get(camera_id)
        if recording is None:
            return self._stopped.get(camera_id, LiveStatus(camera_id))
        try:
            return recording.recorder.status(STATUS_TIMEOUT_S)
        except ActorUnavailableError:
            return LiveStatus(camera_id, recording=True, last_error="the recorder is restarting",
                              last_error_ms=now_ms())

    def close(self) -> None:
        """End every recording (the node stops; the registry keeps them for the next start)."""
        with self._lock:
            for camera_id in list(self._recordings):
                self._end(camera_id)

    def _start(self, camera: Camera) -> _Recording:
        logger.info("camera %s: recording %s", camera.camera_id, camera.masked_stream_url)
        recorder = self._cluster.live_recorder(camera.camera_id, camera.stream_url, self._config,
                                               self._embed, self._url_policy())
        ended = threading.Event()
        pump = threading.Thread(target=self._pump, args=(camera.camera_id, recorder, ended),
                                name=f"live-pump-{camera.camera_id}", daemon=True)
        pump.start()
        return _Recording(camera.stream_url, recorder, pump, ended)

    def _end(self, camera_id: str) -> None:
        """Stop the recorder, wait for its last batches, kill it (no ffmpeg outlives it)."""
        recording = self._recordings.pop(camera_id)
        try:
            recording.recorder.stop(STATUS_TIMEOUT_S)
            recording.pump.join(STOP_TIMEOUT_S)
            self._stopped[camera_id] = recording.recorder.status(STATUS_TIMEOUT_S)
        except ActorUnavailableError:
            logger.exception("camera %s: the recording did not end cleanly", camera_id)
            self._stopped[camera_id] = LiveStatus(camera_id, last_error="the recording did not end cleanly",
                                                  last_error_ms=now_ms())
        finally:
            recording.ended.set()
            recording.recorder.kill()
        logger.info("camera %s: recording ended", camera_id)

    def _pump(self, camera_id: str, recorder: RecorderHandle, ended: threading.Event) -> None:
        """Move indexed batches from the recorder into the node's index until the recording ends."""
        while not ended.is_set():
            try:
                drained = recorder.drain(DRAIN_WAIT_S)
            except ActorUnavailableError:
                if not ended.is_set():
                    logger.warning("camera %s: recorder unavailable, retrying", camera_id)
                ended.wait(DRAIN_WAIT_S)
                continue
            for batch in drained.batches:
                self._index.add(batch.records, batch.vectors)
            if drained.batches:
                self._on_indexed()
            if drained.finished:
                return
