"""A partitioned index: shard servers (in this process, standing for nodes) loaded from the
bucket, a router that searches only the shards a filter leaves and merges their top-k. What a
user notices: the same hits as one node holding everything, replicas answering when a node
dies, and a response that names the days not searched when no replica is left."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from PIL import Image

from indexing.frame_columns import FrameKey, FrameRecord
from indexing.index_codec import Tombstone
from indexing.index_snapshots import Compactor
from indexing.shards import ShardKey
from indexing.stored_index import IndexLog
from indexing.vector_index import FrameIndex, SearchFilter
from services.cluster.index_writers import FeedBatch
from services.cluster.local import LocalCluster
from services.cluster.shard_servers import (
    LocalShardServers,
    ServerAnswer,
    ShardServer,
    assignment,
    placement,
    stored_shards,
)
from services.index.routed_frames import RoutedFrames
from services.index.router import ShardRouter, partitioned
from services.index.search import SearchEngine, SearchQuery
from services.index.searchable import Unsearched
from services.settings import RaySettings, SearchSettings
from storage.timeutil import DAY_MS
from tests.memory_store import MemoryStore

MODEL, DIM, DAYS, PER_DAY = "m1", 16, 6, 60
DAY0 = 20_400
CAMERAS = ("cam-a", "cam-b", "cam-c")


def _record(camera: str, t: int) -> FrameRecord:
    return FrameRecord(camera, t, t + 1000, f"segments/{camera}/{t}.mp4", t, t + 1000,
                       f"thumbs/{camera}/{t}.jpg")


@pytest.fixture
def bucket() -> tuple[MemoryStore, FrameIndex]:
    """The version's log in a bucket (one batch per camera and day), and one index holding it all."""
    store, rng = MemoryStore(), np.random.default_rng(7)
    log, whole = IndexLog(store, MODEL), FrameIndex(DIM)
    for day in range(DAY0, DAY0 + DAYS):
        for camera in CAMERAS:
            records = [_record(camera, day * DAY_MS + 60_000 * i) for i in range(PER_DAY)]
            vectors = rng.standard_normal((PER_DAY, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            log.append(f"{camera}-{day}", records, vectors)
            whole.add(records, vectors)
    return store, whole


def _cluster(store: MemoryStore, nodes: list[str], replicas: int) -> tuple[LocalShardServers, ShardRouter]:
    servers = LocalShardServers(lambda node: ShardServer(store, MODEL, DIM), nodes)
    router = ShardRouter(servers, lambda: stored_shards(store, MODEL), replicas, dim=DIM)
    router.refresh()
    return servers, router


def _queries(n: int = 8) -> np.ndarray:
    q = np.random.default_rng(1).standard_normal((n, DIM)).astype(np.float32)
    normed: np.ndarray = q / np.linalg.norm(q, axis=1, keepdims=True)
    return normed


FILTERS = [SearchFilter(), SearchFilter(camera_ids=frozenset({"cam-b"})),
           SearchFilter(start_ms=(DAY0 + 2) * DAY_MS + 3_600_000, end_ms=(DAY0 + 4) * DAY_MS)]


def _ids(hits: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(h.record.camera_id, h.record.time_ms) for h in hits]


@pytest.mark.parametrize("nodes", [1, 2, 4])
def test_a_router_over_n_servers_answers_what_one_index_holding_everything_answers(
        bucket: tuple[MemoryStore, FrameIndex], nodes: int) -> None:
    store, whole = bucket
    servers, router = _cluster(store, [f"node-{i}" for i in range(nodes)], replicas=1)
    held = [s.stats() for s in (servers.join(n) for n in servers.members())]
    assert sum(s.frames for s in held) == len(whole)  # each shard on exactly one server
    assert max(len(s.shards) for s in held) == -(-DAYS // nodes)  # none holds more than its share
    for where in FILTERS:
        for q in _queries():
            found = router.find(q, 10, where)
            assert found.unsearched == ()
            assert _ids(found.hits) == _ids(whole.search(q, 10, where))


# 4 Ray node ids on which the first bounded-load placement filled three servers before the last
# day shard and gave it one replica (shards per server 3, 4, 4, 4: the 4-node Ray test's failure)
STARVING = ["2a7ae8fdf2c674b9892c30f3b9c61c38ec1d870c7ec25bac60b9a59e",
            "3632a27f81cdd84faab058fd0cddaf2b17e787b6272ea308fcffb450",
            "2a1dafdedbd794f3cb1a333c9347942acdcb867ef79ec53b4ac8515d",
            "b49cd70ce86998ce6a47827a848215e9995cdeaad8d0a806359dee1e"]


def test_every_shard_gets_its_replicas_on_distinct_servers_none_over_its_share() -> None:
    rng = np.random.default_rng(5)
    cases = [(STARVING, 8, 2)] + [([f"{rng.integers(1 << 62):056x}" for _ in range(int(m))], int(n), int(r))
                                  for m, n, r in zip(rng.integers(1, 9, 300), rng.integers(0, 40, 300),
                                                     rng.integers(1, 4, 300), strict=True)]
    for servers, shards, replicas in cases:
        keys = [ShardKey(g, DAY0 + d) for d in range(shards) for g in ("", "lobby")[: 1 + shards % 2]]
        where = placement(keys, servers, replicas)
        r = min(replicas, len(servers))
        assert all(len(set(owners)) == len(owners) == r for owners in where.values()), (servers, shards)
        held = [len(ks) for ks in assignment(keys, servers, replicas).values()]
        assert sum(held) == len(keys) * r and max(held) <= -(-len(keys) * r // len(servers))
        assert placement(reversed(keys), reversed(servers), replicas) == where  # the same in every router

def test_a_search_goes_only_to_the_servers_holding_the_days_it_asks_for(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, _ = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3", "n4"], replicas=1)
    asked: list[str] = []

    def counted(node: str, search: Callable[..., ServerAnswer]) -> Callable[..., ServerAnswer]:
        def call(*args: object) -> ServerAnswer:
            asked.append(node)
            return search(*args)
        return call

    for node in servers.members():
        server = servers.join(node)
        server.search = counted(node, server.search)  # type: ignore[method-assign]
    day = DAY0 + 3
    router.find(_queries(1)[0], 10, SearchFilter(start_ms=day * DAY_MS, end_ms=(day + 1) * DAY_MS))
    assert asked == router.owners(ShardKey("", day)) and len(asked) == 1


def test_with_two_replicas_a_dead_node_loses_no_hit(bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3"], replicas=2)
    servers.leave("n2")  # mid-service: the router has not refreshed
    for where in FILTERS:
        for q in _queries():
            found = router.find(q, 10, where)
            assert found.unsearched == ()
            assert _ids(found.hits) == _ids(whole.search(q, 10, where))


def test_with_no_replica_left_the_answer_names_the_days_not_searched_and_nothing_else_is_wrong(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3"], replicas=1)
    lost = sorted(k.day for k in servers.join("n2").held())
    assert lost, "n2 holds some days"
    servers.leave("n2")
    q = _queries(1)[0]
    found = router.find(q, 10, SearchFilter())
    assert found.unsearched == tuple(Unsearched("", d) for d in lost)
    kept = [h for h in whole.search(q, 1000) if h.record.time_ms // DAY_MS not in lost][:10]
    assert _ids(found.hits) == _ids(kept)
    # the search engine says so too, for the CLI and the API to print
    engine = SearchEngine(_Vector(q), router, SearchSettings(), None)
    assert engine.by_text("anything", SearchQuery(top_k=5, frames=True)).unsearched == found.unsearched


def test_after_a_node_leaves_and_another_joins_the_shards_are_reloaded_from_the_bucket(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3"], replicas=1)
    servers.leave("n2")
    router.refresh()
    assert {k for n in ["n1", "n3"] for k in servers.join(n).held()} == stored_shards(store, MODEL)
    q = _queries(1)[0]
    assert router.find(q, 10, SearchFilter()).unsearched == ()
    assert _ids(router.find(q, 10, SearchFilter()).hits) == _ids(whole.search(q, 10))
    servers.join("n4")
    plan = router.refresh()
    assert plan == {n: sorted(ks, key=lambda k: k.day) for n, ks in assignment(
        stored_shards(store, MODEL), ["n1", "n3", "n4"], 1).items()}
    assert _ids(router.find(q, 10, SearchFilter()).hits) == _ids(whole.search(q, 10))


def test_a_restarted_server_holding_nothing_is_never_taken_for_an_empty_shard(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2"], replicas=2)
    servers.join("n1").assign([])  # what a restarted actor holds until the next refresh
    q = _queries(1)[0]
    found = router.find(q, 10, SearchFilter())
    assert found.unsearched == () and _ids(found.hits) == _ids(whole.search(q, 10))
    servers.join("n2").assign([])
    assert len(router.find(q, 10, SearchFilter()).unsearched) == DAYS


def test_deletions_in_the_bucket_and_in_the_feed_are_honoured(bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, _ = bucket
    day = DAY0 + 1
    IndexLog(store, MODEL).add_tombstones([Tombstone("cam-a", day * DAY_MS, (day + 1) * DAY_MS)])
    servers, router = _cluster(store, ["n1", "n2"], replicas=1)
    q = _queries(1)[0]
    one_day = SearchFilter(start_ms=day * DAY_MS, end_ms=(day + 1) * DAY_MS)
    assert {h.record.camera_id for h in router.find(q, 500, one_day).hits} == {"cam-b", "cam-c"}
    key = ShardKey("", day)
    owner = router.owners(key)[0]
    servers.join(owner).apply(key, FeedBatch(1, [], np.zeros((0, 0), np.float32),
                                             deleted=Tombstone("cam-b", day * DAY_MS, (day + 1) * DAY_MS)))
    assert {h.record.camera_id for h in router.find(q, 500, one_day).hits} == {"cam-c"}


def test_stored_vectors_and_samples_come_from_the_shards_servers(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3"], replicas=2)
    t = (DAY0 + 4) * DAY_MS + 60_000 * 7
    expected = whole.vector("cam-c", t)
    assert expected is not None
    servers.leave(router.owners(ShardKey("", DAY0 + 4))[0])
    got = router.vector("cam-c", t)
    assert got is not None and np.allclose(got, expected)
    assert router.vector("cam-c", t + 1) is None
    assert router.sample(100).shape == (100, DIM)


class _Vector:
    """An embedder whose every text is one vector."""

    def __init__(self, v: np.ndarray) -> None:
        self.v, self.dim = v, DIM

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.v] * len(texts))

    def embed_images(self, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
        return np.stack([self.v] * len(images))


def test_the_embedded_mode_is_one_local_shard_server_following_the_writers(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    cluster = LocalCluster(store, RaySettings(num_cpus=1))
    router = partitioned(cluster.shard_servers(MODEL, DIM), stored_shards(store, MODEL), 1, DIM)
    q = _queries(1)[0]
    assert _ids(router.find(q, 10, SearchFilter()).hits) == _ids(whole.search(q, 10))
    # a keyframe acknowledged by a writer (any front end) is found after the next poll,
    # on a day that had no shard before
    day = DAY0 + DAYS + 3
    record = _record("cam-new", day * DAY_MS + 5000)
    cluster.index_writers(MODEL).append("b1", [record], q[None, :])
    router.poll()
    found = router.find(q, 1, SearchFilter())
    assert _ids(found.hits) == [("cam-new", record.time_ms)] and found.unsearched == ()


def test_after_compaction_a_server_reads_only_its_own_shards_snapshots(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    store, whole = bucket
    Compactor(store, MODEL, DIM).compact()  # every batch folded into per-shard snapshot runs
    extra = _record("cam-a", (DAY0 + 2) * DAY_MS + 123)  # and one batch logged since
    q = _queries(1)[0]
    IndexLog(store, MODEL).append("late", [extra], q[None, :])
    whole.add([extra], q[None, :])
    read: list[str] = []
    store.before_read = read.append
    _, router = _cluster(store, ["n1", "n2", "n3"], replicas=1)
    snapshot_reads = [k for k in read if "/snapshots/" in k]
    assert len(snapshot_reads) == len(set(snapshot_reads)) == DAYS  # each run read once, by its owner
    assert stored_shards(store, MODEL) == {ShardKey("", d) for d in range(DAY0, DAY0 + DAYS)}
    for where in FILTERS:
        assert _ids(router.find(q, 10, where).hits) == _ids(whole.search(q, 10, where))


def test_a_partitioned_front_end_answers_what_is_indexed_from_the_servers_alone(
        bucket: tuple[MemoryStore, FrameIndex]) -> None:
    """`RoutedFrames` holds nothing: what ingest, retention and model switches ask of the index
    is answered by the servers, replicas kept alike, and a server lost leaves the answers whole."""
    store, whole = bucket
    servers, router = _cluster(store, ["n1", "n2", "n3"], replicas=2)
    frames = RoutedFrames(router, DIM)
    assert len(frames) == len(whole) and frames.shard_keys() == whole.shard_keys()
    assert sorted(frames.records(), key=_key) == sorted(whole.records(), key=_key)
    some = whole.records([ShardKey("", DAY0 + 1)])[:3]
    absent = FrameKey("cam-a", (DAY0 + 1) * DAY_MS - 1)
    assert frames.indexed([r.key for r in some] + [absent]) == [True, True, True, False]
    # a model switch re-embeds into the log directly (no writer feeds it to the servers): added
    # through the routed frames it is searchable at once, on a new day too
    q = _queries(1)[0]
    late = [_record("cam-a", (DAY0 + 1) * DAY_MS + 7), _record("cam-z", (DAY0 + DAYS + 2) * DAY_MS)]
    IndexLog(store, MODEL).append("reembed-late", late, np.stack([q, q]))
    frames.add(late, np.stack([q, q]))  # the new day's server loads it from the log as it is assigned
    assert frames.add(late, np.stack([q, q])) == 0
    assert frames.indexed([r.key for r in late]) == [True, True]
    found = router.find(q, 2, SearchFilter())
    assert sorted(_ids(found.hits)) == sorted((r.camera_id, r.time_ms) for r in late)
    # retention (a tombstone logged, as the writers do): deleted on both replicas at once, so
    # losing either answers without them, as does a server that comes back and loads the bucket
    day1 = (DAY0 + 1) * DAY_MS
    IndexLog(store, MODEL).add_tombstones([Tombstone("cam-a", day1, day1 + DAY_MS)])
    gone = frames.delete_range("cam-a", day1, day1 + DAY_MS)
    whole.add(late, np.stack([q, q]))
    assert gone == whole.delete_range("cam-a", day1, day1 + DAY_MS) > 0
    for node in ["n1", "n2"]:
        servers.leave(node)
        assert frames.indexed([late[0].key]) == [False] and len(frames) == len(whole)
        assert set(_ids(router.find(q, 10, SearchFilter()).hits)) == set(_ids(whole.search(q, 10)))
        servers.join(node)
        router.poll()


def _key(r: FrameRecord) -> tuple[str, int, object]:
    return r.camera_id, r.time_ms, r.box
