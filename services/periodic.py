"""A background task run every N seconds until stopped (retention sweeps)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    def __init__(self, interval_s: float, task: Callable[[], object], name: str) -> None:
        self._interval_s, self._task, self._name = interval_s, task, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                logger.info("%s: %s", self._name, self._task())
            except Exception:
                logger.exception("%s failed; retrying in %.0f s", self._name, self._interval_s)
