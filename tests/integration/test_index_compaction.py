"""Compaction on the real bucket: after ingest and a retention deletion, the log is folded into
snapshot runs and a node loading the bucket finds the same search hits as the running one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.api.client import VigilClient
from storage import keys
from storage.timeutil import to_ms

START = datetime(2026, 11, 16, 23, 59, 52, tzinfo=UTC)  # crosses midnight: two day shards


def _hits(index: object, query: object) -> list[tuple[object, float]]:
    """Every frame of the camera with its score (ties make the order of equal scores arbitrary)."""
    from indexing.vector_index import SearchFilter

    hits = index.search(query, 50, SearchFilter(frozenset({"cam-compact"})))  # type: ignore[attr-defined]
    return sorted(((h.record, round(h.score, 5)) for h in hits), key=lambda x: x[0].time_ms)


def _top_scores(index: object, query: object) -> list[float]:
    return [round(h.score, 5) for h in index.search(query, 10)]  # type: ignore[attr-defined]


def test_a_node_loading_after_compaction_finds_the_same_hits(client: VigilClient, node: object,
                                                             video: Path) -> None:
    from indexing.stored_index import IndexLog
    from indexing.vector_index import FrameIndex

    status = client.wait_for_job(client.ingest_file(video, "cam-compact", START), timeout_s=300)
    assert status.state == "succeeded", status.error
    start = to_ms(START)
    node.delete_range("cam-compact", start + 4_000, start + 8_000)  # type: ignore[attr-defined]
    model_id, store = node.model_id, node.store  # type: ignore[attr-defined]
    report = node.compaction.compact(model_id, node.index.dim)  # type: ignore[attr-defined]
    assert report.batches >= 1 and report.tombstones >= 1
    assert not list(store.list(keys.index_log_prefix(model_id)))
    runs = [o.key for o in store.list(keys.index_snapshot_prefix(model_id))]
    assert len({k.split("/")[3] for k in runs}) >= 2  # a run per UTC day at least

    restarted = FrameIndex(node.index.dim)  # type: ignore[attr-defined]
    assert IndexLog(store, model_id).replay(restarted) == len(node.index)  # type: ignore[attr-defined]
    for text in ("xe đạp", "a red car at night"):
        query = node.query_embedder.embed_texts([text])[0]  # type: ignore[attr-defined]
        assert _hits(restarted, query) == _hits(node.index, query)  # type: ignore[attr-defined]
        assert _top_scores(restarted, query) == _top_scores(node.index, query)  # type: ignore[attr-defined]
    assert not [r for r in restarted.records()
                if r.camera_id == "cam-compact" and start + 4_000 <= r.time_ms < start + 8_000]
