"""An audit record is durable when `append` returns: if the bucket never got it before a kill -9,
the next start ships it, and the chain goes on unbroken."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.audit import AuditLog
from tests.memory_store import Crash, MemoryStore


def test_records_reach_the_bucket_in_order_and_the_chain_verifies(tmp_path: Path) -> None:
    store = MemoryStore()
    audit = AuditLog(store, tmp_path, "node-a")
    for i in range(5):
        audit.append("officer-a", "search", {"text": f"xe đạp {i}"})
    assert audit.flush()
    assert [r["details"]["text"] for r in audit._records()] == [f"xe đạp {i}" for i in range(5)]
    assert audit.verify().ok and audit.verify().records == 5
    audit.close()
    assert (tmp_path / "audit.journal").read_bytes() == b""  # everything shipped


def test_a_record_the_bucket_never_got_is_shipped_by_the_next_start(tmp_path: Path) -> None:
    store = MemoryStore()
    first = AuditLog(store, tmp_path, "node-a")
    first.append("officer-a", "search", {"text": "before the outage"})
    assert first.flush()

    def away(op: str, key: str) -> None:
        raise Crash("the bucket is unreachable")

    store.before_write = away
    first.append("officer-a", "search", {"text": "người vác xe đạp"})  # answered: durable locally
    assert not first.flush(timeout_s=0.3)
    assert len(list(store.list("audit/"))) == 1
    # kill -9: `first` is never closed; the next start on the same disk finds the journal
    store.before_write = None
    second = AuditLog(store, tmp_path, "node-a")
    second.append("officer-b", "search", {"text": "after the restart"})
    check = second.verify()
    assert check.ok and check.records == 3
    texts = [r["details"]["text"] for r in second._records()]
    assert texts == ["before the outage", "người vác xe đạp", "after the restart"]


def test_front_ends_sharing_a_bucket_keep_separate_chains_and_a_break_names_its_node(tmp_path: Path) -> None:
    store = MemoryStore()
    a = AuditLog(store, tmp_path / "a", "node-a")
    b = AuditLog(store, tmp_path / "b", "node-b")
    for i in range(3):
        a.append("officer-a", "search", {"text": f"a {i}"})
        b.append("officer-b", "search", {"text": f"b {i}"})
    assert a.flush() and b.flush()
    assert [r["seq"] for r in a._records()] == [0, 1, 2] == [r["seq"] for r in b._records()]
    for node in (a, b):
        check = node.verify()
        assert check.ok and check.records == 6
    key = next(o.key for o in store.list("audit/node-b/"))
    store.put_bytes(key, store.get_bytes(key).replace(b"b 0", b"b X"), "application/json")
    check = a.verify()
    assert not check.ok and "node-b" in check.reason and check.first_broken_seq == 0
    for node in (a, b):
        node.close()


def test_a_trail_written_before_per_node_chains_still_verifies(tmp_path: Path) -> None:
    store = MemoryStore()
    old = AuditLog(store, tmp_path / "old", "node-a")
    old.append("officer-a", "search", {"text": "xe đạp"})
    assert old.flush()
    old.close()
    for obj in list(store.list("audit/node-a/")):  # the layout of earlier versions: audit/{date}/
        store.put_bytes(obj.key.replace("node-a/", ""), store.get_bytes(obj.key), "application/json")
        store.delete([obj.key])
    new = AuditLog(store, tmp_path / "new", "node-b")
    new.append("officer-b", "search", {"text": "người vác xe đạp"})
    check = new.verify()
    assert check.ok and check.records == 2
    new.close()


def test_an_unsafe_node_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="node id"):
        AuditLog(MemoryStore(), tmp_path, "../other")
