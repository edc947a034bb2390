"""An audit record is durable when `append` returns: if the bucket never got it before a kill -9,
the next start ships it, and the chain goes on unbroken. The chain is keyed (HMAC) and anchored on
the node: a rewritten, deleted or truncated record is reported; an unkeyed trail of earlier
versions still verifies."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.security.audit import ANCHOR_FILE, GENESIS, KEY_FILE, AuditLog, key_id, load_key
from tests.memory_store import Crash, MemoryStore

SHARED_KEY = "k" * 40


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
    shared = load_key(tmp_path / "unused", SHARED_KEY)  # setting audit.key on both front ends
    a = AuditLog(store, tmp_path / "a", "node-a", key=shared)
    b = AuditLog(store, tmp_path / "b", "node-b", key=shared)
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


def _unkeyed_trail(store: MemoryStore, folder: str, texts: list[str]) -> None:
    """Records as versions before keyed chains wrote them: a plain SHA-256 chain, no key_id."""
    prev = GENESIS
    for seq, text in enumerate(texts):
        body = {"seq": seq, "node": "node-a", "time": f"2026-11-0{seq + 1}T10:00:00+00:00",
                "caller": "officer-a", "action": "search", "details": {"text": text}, "prev_hash": prev}
        prev = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        store.put_bytes(f"{folder}{body['time'][:10]}/{seq:012d}.json",
                        json.dumps({**body, "hash": prev}, ensure_ascii=False).encode())


def test_a_trail_written_before_per_node_chains_still_verifies(tmp_path: Path) -> None:
    store = MemoryStore()
    _unkeyed_trail(store, "audit/", ["xe đạp"])  # the layout of earlier versions: audit/{date}/
    new = AuditLog(store, tmp_path / "new", "node-b")
    new.append("officer-b", "search", {"text": "người vác xe đạp"})
    check = new.verify()
    assert check.ok and check.records == 2 and check.unkeyed_nodes == ("",)  # checked, and named
    new.close()


def test_an_unkeyed_trail_goes_on_keyed_and_its_old_records_cannot_be_rewritten(tmp_path: Path) -> None:
    store = MemoryStore()
    _unkeyed_trail(store, "audit/node-a/", ["xe đạp", "xe máy"])
    node = AuditLog(store, tmp_path, "node-a")  # the upgraded node continues its chain, keyed
    node.append("officer-a", "search", {"text": "người vác xe đạp"})
    check = node.verify()
    assert check.ok and check.records == 3 and check.unkeyed_nodes == ()  # a keyed record covers them
    key = "audit/node-a/2026-11-01/000000000000.json"  # re-hashed without a key, as before
    _unkeyed_trail(store, "audit/node-a/", ["someone else", "xe máy"])
    check = node.verify()
    assert not check.ok and check.first_broken_seq == 2 and "does not follow" in check.reason
    assert b"someone else" in store.get_bytes(key)
    node.close()


def _trail(tmp_path: Path, n: int = 5) -> tuple[MemoryStore, AuditLog]:
    store = MemoryStore()
    audit = AuditLog(store, tmp_path, "node-a")
    for i in range(n):
        audit.append("officer-a", "search", {"text": f"xe đạp {i}"})
    assert audit.flush()
    return store, audit


def _rewrite(store: MemoryStore, seq: int, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Replace record `seq` in whatever object holds it (one record or a run of them)."""
    for obj in list(store.list("audit/")):
        records = [json.loads(line) for line in store.get_bytes(obj.key).splitlines()]
        if any(r["seq"] == seq for r in records):
            store.put_bytes(obj.key, b"".join(json.dumps(change(r) if r["seq"] == seq else r).encode()
                                              + b"\n" for r in records))


def _rehashed(record: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if k != "hash"}
    data = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    digest = (hmac.new(key, data, hashlib.sha256) if key else hashlib.sha256(data)).hexdigest()
    return {**body, "hash": digest}


def test_records_are_keyed_and_the_key_stays_on_the_node(tmp_path: Path) -> None:
    store, audit = _trail(tmp_path, 2)
    key_file = tmp_path / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert all(key not in store.get_bytes(o.key).decode() for o in store.list(""))
    assert {r["key_id"] for r in audit._records()} == {key_id(key.encode())}
    audit.close()


def test_a_record_rewritten_and_re_hashed_without_the_key_is_reported(tmp_path: Path) -> None:
    store, audit = _trail(tmp_path)
    _rewrite(store, 2, lambda r: _rehashed({**r, "caller": "someone-else"}, b"a guessed key"))
    check = audit.verify()
    assert not check.ok and check.first_broken_seq == 2 and "altered" in check.reason
    _rewrite(store, 2, lambda r: _rehashed({k: v for k, v in r.items() if k != "key_id"}))
    check = audit.verify()  # downgraded to an unkeyed record: a rewrite too
    assert not check.ok and check.first_broken_seq == 2 and "unkeyed" in check.reason
    audit.close()


def test_a_deleted_record_is_reported(tmp_path: Path) -> None:
    store, audit = _trail(tmp_path)
    for obj in list(store.list("audit/")):
        lines = store.get_bytes(obj.key).splitlines()
        store.put_bytes(obj.key, b"\n".join(line for line in lines if json.loads(line)["seq"] != 3))
    check = audit.verify()
    assert not check.ok and check.first_broken_seq == 3 and "missing" in check.reason
    audit.close()


def test_a_truncated_tail_is_reported_against_the_anchor_and_survives_a_restart(tmp_path: Path) -> None:
    store, audit = _trail(tmp_path)
    head = audit.head()
    assert head is not None and head.seq == 4 and head.node == "node-a"
    anchor = json.loads((tmp_path / ANCHOR_FILE).read_text())
    assert anchor == {"node": "node-a", "seq": 4, "hash": head.hash, "time": head.time}
    assert (tmp_path / ANCHOR_FILE).stat().st_mode & 0o777 == 0o600
    audit.close()
    for obj in list(store.list("audit/")):  # the last two records go, the rest is a valid chain
        records = [json.loads(line) for line in store.get_bytes(obj.key).splitlines()]
        store.put_bytes(obj.key, b"".join(json.dumps(r).encode() + b"\n" for r in records if r["seq"] < 3))
    restarted = AuditLog(store, tmp_path, "node-a")
    check = restarted.verify()
    assert not check.ok and check.first_broken_seq == 3 and "deleted" in check.reason
    restarted.append("officer-a", "search", {"text": "after the truncation"})
    check = restarted.verify()
    assert not check.ok and check.first_broken_seq == 3
    assert restarted._records()[-1]["seq"] == 5  # continues after the anchor: the gap stays visible
    restarted.close()


def test_verify_checks_a_notarised_head(tmp_path: Path) -> None:
    _, audit = _trail(tmp_path)
    head = audit.head()
    assert head is not None
    assert audit.verify((head.seq, head.hash)).ok
    check = audit.verify((head.seq, "0" * 64))
    assert not check.ok and check.first_broken_seq == head.seq and "notarised" in check.reason
    check = audit.verify((head.seq + 10, head.hash))
    assert not check.ok and "deleted" in check.reason
    audit.close()


def test_a_chain_keyed_by_another_nodes_own_key_is_listed_not_checked(tmp_path: Path) -> None:
    store = MemoryStore()
    a = AuditLog(store, tmp_path / "a", "node-a")
    b = AuditLog(store, tmp_path / "b", "node-b")  # each front end generated its own key
    a.append("officer-a", "search", {"text": "a"})
    b.append("officer-b", "search", {"text": "b"})
    assert b.flush()
    check = a.verify()
    assert check.ok and check.records == 1 and check.unverified_nodes == ("node-b",)
    a.close()
    b.close()


def test_a_short_configured_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        load_key(tmp_path / KEY_FILE, "short")


def test_an_unsafe_node_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="node id"):
        AuditLog(MemoryStore(), tmp_path, "../other")
