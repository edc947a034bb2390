"""Index writers: one per shard (camera group × UTC day) of an index version.

Every acknowledged batch of vectors, and every deletion (retention), goes
through its shard's writer, a named actor that runs its calls one at a time:
it writes the batch (or tombstone) to the bucket's index log (the
acknowledgement) and keeps the last few changes in a feed. Front ends follow
the feeds (`IndexFollower`), so a keyframe ingested through one `vigil serve`
is searchable on every other one within a poll interval, without re-reading
the bucket.

A writer that dies is restarted with an empty feed under a new epoch; a
follower that sees a new epoch (or fell behind the feed) reloads the version
from the bucket, where every acknowledged batch already is. Writers hold no
state that the bucket does not, so losing one loses nothing.

This module is the writers' logic in plain Python; where the writers run (Ray
actors, or objects in this process) is the cluster's business: `ShardWriters`
hands its calls to a `Dispatch`, `IndexFollower` reads the feeds a `FeedsFn`
lists.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from indexing.frame_columns import FrameRecord
from indexing.index_codec import Tombstone
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, one_group
from indexing.watch import WatchMatcher
from storage.object_store import ObjectStore
from storage.timeutil import DAY_MS

logger = logging.getLogger(__name__)
WRITER_PREFIX = "vigil-index-writer"


@dataclass(frozen=True)
class FeedBatch:
    """One acknowledged change of a shard: frames added, or a deletion (retention)."""

    seq: int
    records: list[FrameRecord]
    vectors: np.ndarray
    deleted: Tombstone | None = None

    def apply(self, index: FrameIndex) -> int:
        """Apply to a front end's index; returns frames added."""
        if self.deleted is not None:
            t = self.deleted
            index.delete_range(t.camera_id, t.start_ms, t.end_ms)
            return 0
        return index.add(self.records, self.vectors)


@dataclass(frozen=True)
class FeedReply:
    """What a writer appended after a follower's position; `complete` is False on a gap."""

    epoch: str
    batches: list[FeedBatch]
    complete: bool


@dataclass(frozen=True)
class FeedPosition:
    epoch: str = ""
    seq: int = 0


@dataclass(frozen=True)
class Append:
    """A batch of frames for one shard's log."""

    batch_id: str
    records: list[FrameRecord]
    vectors: np.ndarray


@dataclass(frozen=True)
class Delete:
    """A deletion of one camera's frames in one shard."""

    tombstone: Tombstone


WriterCall = Append | Delete
ShardCalls = Sequence[tuple[ShardKey, WriterCall]]
Dispatch = Callable[[ShardCalls], None]  # runs each call on its shard's writer; returns once all are done


def writer_name(model_id: str, key: ShardKey) -> str:
    return f"{WRITER_PREFIX}-{model_id}-{key.day}-{key.group}"


def writer_prefix(model_id: str) -> str:
    """What the names of one index version's writers start with."""
    return f"{WRITER_PREFIX}-{model_id}-"


class ShardWriter:
    """Appends one shard's batches to the bucket log, in order, and feeds them to front ends."""

    def __init__(self, store: ObjectStore, model_id: str, feed_size: int) -> None:
        self.model_id = model_id
        self._log = IndexLog(store, model_id)
        self._watch = WatchMatcher(store, model_id)  # every acknowledged vector passes here once
        self._epoch = uuid.uuid4().hex
        self._seq = 0
        self._feed: deque[FeedBatch] = deque(maxlen=feed_size)
        self._lock = threading.Lock()  # one call at a time, as an actor runs them

    def apply(self, call: WriterCall) -> int:
        """Persist the change (acknowledged once this returns); returns its feed sequence number."""
        with self._lock:
            if isinstance(call, Delete):
                self._log.add_tombstones([call.tombstone])
                change = FeedBatch(0, [], np.zeros((0, 0), np.float32), deleted=call.tombstone)
            else:
                self._watch.match(call.records, call.vectors)  # alerts stored before the acknowledgement
                self._log.append(call.batch_id, call.records, call.vectors)
                change = FeedBatch(0, call.records, call.vectors)
            self._seq += 1
            self._feed.append(replace(change, seq=self._seq))
            return self._seq

    def head(self) -> FeedPosition:
        """Where the feed is now: a follower that marks this misses nothing appended later."""
        with self._lock:
            return FeedPosition(self._epoch, self._seq)

    def since(self, position: FeedPosition) -> FeedReply:
        """Batches after `position`; incomplete when the epoch changed or the feed moved past it."""
        with self._lock:
            if position.epoch != self._epoch:
                return FeedReply(self._epoch, list(self._feed), complete=position.epoch == "" and
                                 (not self._feed or self._feed[0].seq == 1))
            batches = [b for b in self._feed if b.seq > position.seq]
            complete = position.seq >= self._seq or (bool(batches) and batches[0].seq == position.seq + 1)
            return FeedReply(self._epoch, batches, complete)


class ShardWriters:
    """The driver side: splits a batch by shard and waits until every writer has acknowledged."""

    def __init__(self, dispatch: Dispatch, group_of: Callable[[str], str] = one_group,
                 on_append: Callable[[], None] | None = None) -> None:
        self._dispatch, self._group_of, self._on_append = dispatch, group_of, on_append

    def append(self, batch_id: str, records: Sequence[FrameRecord], vectors: np.ndarray) -> None:
        rows: dict[ShardKey, list[int]] = {}
        for i, r in enumerate(records):
            rows.setdefault(ShardKey.of(self._group_of(r.camera_id), r.time_ms), []).append(i)
        self._dispatch([(key, Append(batch_id, [records[i] for i in idx], vectors[idx]))
                        for key, idx in rows.items()])
        if self._on_append is not None:
            self._on_append()

    def delete_range(self, camera_id: str, start_ms: int, end_ms: int) -> None:
        """Persist the deletion of the camera's frames in [start_ms, end_ms), per day shard."""
        group = self._group_of(camera_id)
        days = range(start_ms // DAY_MS, (end_ms - 1) // DAY_MS + 1)
        self._dispatch([(ShardKey(group, day), Delete(Tombstone(camera_id, start_ms, end_ms)))
                        for day in days])


class Feed(Protocol):
    """One writer's feed, as a follower reads it."""

    def head(self) -> FeedPosition: ...

    def since(self, position: FeedPosition) -> FeedReply: ...


FeedsFn = Callable[[], Mapping[str, Feed]]  # writer name → feed, for every writer of one index version


class IndexFollower:
    """Keeps a front end's in-memory index up to date with every shard writer's feed.

    `mark()` before loading the bucket, `poll()` after and then periodically: a
    batch appended while the bucket was being read is in the feed after the mark.
    """

    def __init__(self, feeds: FeedsFn, index: FrameIndex, reload: Callable[[], int]) -> None:
        self._feeds, self._index, self._reload = feeds, index, reload
        self._positions: dict[str, FeedPosition] = {}

    def mark(self) -> None:
        """Remember where every writer's feed is now."""
        for name, feed in sorted(self._feeds().items()):
            self._positions[name] = feed.head()

    def poll(self) -> int:
        """Add what the writers appended since the last poll; returns frames added."""
        added, gap = 0, False
        for name, feed in sorted(self._feeds().items()):
            position = self._positions.get(name, FeedPosition())
            reply = feed.since(position)
            for batch in reply.batches:
                added += batch.apply(self._index)
            gap |= not reply.complete
            same_epoch = reply.epoch == position.epoch
            last = reply.batches[-1].seq if reply.batches else position.seq if same_epoch else 0
            self._positions[name] = FeedPosition(reply.epoch, last)
        if gap:
            logger.warning("an index writer restarted or its feed moved on: reloading from the bucket")
            added += self._reload()
        return added
