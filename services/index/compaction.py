"""When the node compacts its index versions: after `min_batches` appends of its own, and on a
timer for batches other writers (live recorders, other front ends) logged.

Compaction itself is `indexing.index_snapshots.Compactor`; it is safe to run on
several nodes at once, so this only keeps one run at a time per node.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from indexing.index_snapshots import CompactionReport, Compactor
from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)
Versions = Callable[[], list[tuple[str, int]]]  # (model id, vector dim) of each version written


class IndexCompaction:
    def __init__(self, store: ObjectStore, versions: Versions, min_batches: int) -> None:
        self._store, self._versions, self._min_batches = store, versions, min_batches
        self._running = threading.Lock()
        self._appends = 0
        self._count_lock = threading.Lock()

    def note_append(self) -> None:
        """Count a batch this node logged; start a compaction in the background every `min_batches`."""
        with self._count_lock:
            self._appends += 1
            due = self._appends >= self._min_batches
            if due:
                self._appends = 0
        if due:
            threading.Thread(target=self._run_logged, name="index-compaction", daemon=True).start()

    def run_if_due(self) -> dict[str, CompactionReport]:
        """Compact each version whose backlog reached `min_batches` (skipped if a run is in progress)."""
        if not self._running.acquire(blocking=False):
            return {}
        try:
            return {model_id: self.compact(model_id, dim) for model_id, dim in self._versions()
                    if Compactor(self._store, model_id, dim).backlog() >= self._min_batches}
        finally:
            self._running.release()

    def compact(self, model_id: str, dim: int) -> CompactionReport:
        report = Compactor(self._store, model_id, dim).compact()
        logger.info("index %s compacted: %s", model_id, report)
        return report

    def _run_logged(self) -> None:
        try:
            self.run_if_due()
        except Exception:
            logger.exception("index compaction failed; the next one retries")
