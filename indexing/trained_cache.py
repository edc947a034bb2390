"""Shards' trained IVF indexes kept in the bucket, so a restarted node does not train them again.

Training an IVF-PQ shard (coarse centroids and PQ codebooks) is most of the
cost of building its index, on one thread, every shard again on every restart:
with the list rule of issue #19 (2,048 lists for 143k-250k vectors) a 143k
shard's build took 35-48 s against 11 s with the earlier 512 lists
(`benchmarks.ood_sweep`). A shard's build saves its trained, empty index
(`faiss.serialize_index`, ≈ 2.4 MB for 2,048 lists × 256-d with PQ32) here, one
object per shard, tier and list count (`storage.keys.index_trained_key`, under
the index version's prefix, so a model's codebooks never serve another model);
a later build of the same shard loads it instead of training, when the shard has
not grown past its retrain size since (`VectorShard._load_trained` checks that,
and that the index matches the policy). Encoding the same vectors with the same
trained index gives the same codes, so a restarted node answers as the node
that trained it did.

It is a cache: a missing or unreadable object means training again, never an
error; concurrent writers (front ends training the same shard) overwrite each
other with equally valid indexes. Object layout: a JSON header line (format,
size trained at), then the FAISS bytes.

The list count is part of the key, so a shard whose `ShardPolicy.nlist` now
gives another count (a grown shard, more cameras, or a node upgraded to a new
list rule: the rule of issue #19 gives a 143k-vector shard 2,048 lists where
the √n rule gave 512) finds no object and trains again, once; it never loads
an index with the old count. Saving a shard's index deletes that shard's
indexes of the same tier with other list counts, so the bucket keeps one per
shard and tier and an upgrade leaves no stale objects behind once each shard
has been built again.
"""

from __future__ import annotations

import json
import logging

from indexing.shards import ShardKey, ShardTier, TrainedIndex
from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

logger = logging.getLogger(__name__)

FORMAT = 1


class TrainedCache:
    """`indexing.shards.TrainedStore` on an object store, for one index version (model)."""

    def __init__(self, store: ObjectStore, model_id: str) -> None:
        self._store = store
        self.model_id = model_id

    def load(self, key: ShardKey, tier: ShardTier, nlist: int) -> TrainedIndex | None:
        try:
            data = self._store.get_bytes(self._key(key, tier, nlist))
        except ObjectNotFoundError:
            return None
        head, _, body = data.partition(b"\n")
        try:
            header = json.loads(head)
            if header.get("format") != FORMAT:
                return None
            return TrainedIndex(int(header["trained_on"]), body)
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("trained index of shard %s (%s, %d lists) is unreadable; training again",
                           key, tier.value, nlist)
            return None

    def save(self, key: ShardKey, tier: ShardTier, nlist: int, trained: TrainedIndex) -> None:
        header = json.dumps({"format": FORMAT, "trained_on": trained.trained_on}).encode()
        saved = self._key(key, tier, nlist)
        self._store.put_bytes(saved, header + b"\n" + trained.data)
        folder, _, _ = saved.rpartition("/")
        try:  # the same shard and tier with other list counts: never loaded again
            stale = [o.key for o in self._store.list(folder + "/")
                     if o.key != saved and o.key.rpartition("/")[2].startswith(f"{tier.value}-")
                     and o.key.endswith(".faiss")]
            if stale:
                self._store.delete(stale)
        except Exception:  # a cache: stale objects waste bytes, never answer
            logger.warning("could not delete the older trained indexes of shard %s", key, exc_info=True)

    def _key(self, key: ShardKey, tier: ShardTier, nlist: int) -> str:
        return keys.index_trained_key(self.model_id, key.day, key.group, f"{tier.value}-{nlist}")
