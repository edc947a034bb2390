"""A background task run every N seconds until stopped (retention sweeps, index following)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Periodic:
    def __init__(self, interval_s: float, task: Callable[[], object], name: str,
                 quiet: bool = False) -> None:
        self._interval_s, self._task, self._name, self._quiet = interval_s, task, name, quiet
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
                result = self._task()
                if not self._quiet:
                    logger.info("%s: %s", self._name, result)
            except Exception:
                logger.exception("%s failed; retrying in %.0f s", self._name, self._interval_s)
