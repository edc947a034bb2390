"""How one `FrameIndex` lets searches run while frames are added and shards are rebuilt.

Three parts, shared by the index and its shards (`IndexSync`):

- `turn`: writers go one at a time (adds, deletes, close, and a shard build's
  first and last steps). Holding the turn, a writer may read the shards' state
  without the view lock, since only writers change it; it does its slow work
  (encoding vectors, reading them back) there, not under the view lock.
- `view`: a readers-writer lock. Searches hold it shared for their whole run,
  so each sees whole batches only; a writer holds it exclusively just to publish
  (append records, add the prepared codes, swap in a rebuilt index), which takes
  microseconds to a few milliseconds, never a training run.
- `builds`: one background thread that builds shards' new IVF indexes off to
  the side (`indexing.shards`), one at a time so that a build takes at most one
  core from the searches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers (writers are short,
    so readers wait at most one writer's publish and the searches already running)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class IndexSync:
    """The writers' turn, the readers' view lock and the build thread of one index."""

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.view = ReadWriteLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._guard = threading.Lock()
        self._closed = False

    def submit(self, build: Callable[[], None]) -> Future[None] | None:
        """Run `build` on the build thread; None once closed."""
        with self._guard:
            if self._closed:
                return None
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="shard-build")
            try:
                future = self._executor.submit(build)
            except RuntimeError:  # the interpreter is exiting
                return None
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def settle(self) -> None:
        """Wait until no build is queued or running (builds a build queues included); a build's
        error is raised here. Call it without holding `turn` (a build's last step takes it)."""
        while True:
            with self._guard:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                future.result()

    def close(self) -> None:
        """Drop queued builds; a running one finds its shard closed and discards its work."""
        with self._guard:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def _done(self, future: Future[None]) -> None:
        with self._guard:
            self._pending.discard(future)
