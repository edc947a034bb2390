"""The interceptor's limits: each client address is rate-limited before its token is looked at,
a token cache miss reads the bucket off the event loop, and caches and limiters stay bounded.
Every call, refused or not, leaves one audit record."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.api.access import AuthInterceptor
from services.security.audit import AuditLog
from services.security.auth import RateLimiter, Role, TokenStore
from tests.memory_store import MemoryStore

METHOD = "/vigil.v1.CameraService/GetCamera"


class Aborted(Exception):
    pass


@dataclass(frozen=True)
class CallDetails:
    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class FakeContext:
    """What the interceptor uses of a servicer context: the peer and abort."""

    def __init__(self, peer: str) -> None:
        self._peer = peer
        self.code: grpc.StatusCode | None = None

    def peer(self) -> str:
        return self._peer

    async def abort(self, code: grpc.StatusCode, details: str = "") -> None:
        self.code = code
        raise Aborted(details)


async def _servicer(request: Any, context: Any) -> str:
    return "camera"


def _call(interceptor: AuthInterceptor, token: str | None, peer: str = "ipv4:10.0.0.7:51000") -> str:
    """One unary call through the interceptor; the status code's name."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    details = CallDetails(METHOD, metadata)

    async def continuation(_: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(_servicer)

    async def run() -> str:
        handler = await interceptor.intercept_service(continuation, details)
        context = FakeContext(peer)
        try:
            await handler.unary_unary(None, context)
        except Aborted:
            assert context.code is not None
            return context.code.name
        return "OK"

    return asyncio.run(run())


def test_a_client_address_is_limited_before_its_token_is_looked_at(tmp_path: Path) -> None:
    store = MemoryStore()
    reads: list[str] = []
    tokens = TokenStore(store)
    viewer = tokens.create("officer-a", Role.VIEWER, ["ward-a"])
    store.before_read = reads.append
    audit = AuditLog(store, tmp_path, "node-a")
    interceptor = AuthInterceptor(tokens, RateLimiter(100, 100), audit, peers=RateLimiter(0.001, 3))
    assert _call(interceptor, None) == "UNAUTHENTICATED"
    assert _call(interceptor, "forged", peer="ipv4:10.0.0.7:51001") == "UNAUTHENTICATED"
    assert _call(interceptor, viewer, peer="ipv4:10.0.0.7:51002") == "OK"  # same address, new port
    lookups = len([k for k in reads if k.startswith("auth/")])
    assert _call(interceptor, "another-forged") == "RESOURCE_EXHAUSTED"
    assert _call(interceptor, viewer) == "RESOURCE_EXHAUSTED"
    assert len([k for k in reads if k.startswith("auth/")]) == lookups  # refused before any lookup
    assert _call(interceptor, viewer, peer="ipv4:10.0.0.8:40000") == "OK"  # another address
    assert audit.flush()
    records = [r for r in audit._records() if "rpc" in r]
    assert [(r["outcome"], r["token_id"], r["peer"]) for r in records] == [
        ("UNAUTHENTICATED", "none", "ipv4:10.0.0.7:51000"),
        ("UNAUTHENTICATED", "unknown", "ipv4:10.0.0.7:51001"),
        ("OK", tokens.list()[0].token_hash, "ipv4:10.0.0.7:51002"),
        ("RESOURCE_EXHAUSTED", "unknown", "ipv4:10.0.0.7:51000"),
        ("RESOURCE_EXHAUSTED", "unknown", "ipv4:10.0.0.7:51000"),
        ("OK", tokens.list()[0].token_hash, "ipv4:10.0.0.8:40000"),
    ]
    audit.close()


def test_a_token_cache_miss_reads_the_bucket_off_the_event_loop() -> None:
    store = MemoryStore()
    tokens = TokenStore(store)
    viewer = tokens.create("officer-a", Role.VIEWER, ["ward-a"])
    readers: list[str] = []
    store.before_read = lambda key: readers.append(threading.current_thread().name)
    interceptor = AuthInterceptor(tokens, RateLimiter(100, 100))
    assert _call(interceptor, viewer) == "OK"
    assert readers and threading.main_thread().name not in readers  # asyncio.run's loop is on main
    assert _call(interceptor, viewer) == "OK"
    assert len(readers) == 1  # the second call was answered from the cache


def test_the_rate_limiter_forgets_the_least_recently_seen_beyond_its_size() -> None:
    limiter = RateLimiter(0.001, 1, max_keys=100)
    assert limiter.allow("ipv4:10.0.0.1") and not limiter.allow("ipv4:10.0.0.1")
    for i in range(1000):
        limiter.allow(f"ipv4:10.1.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100
    assert limiter.allow("ipv4:10.0.0.1")  # forgotten: back with a full bucket, as if idle


def test_the_token_cache_is_bounded_unknown_tokens_included() -> None:
    tokens = TokenStore(MemoryStore(), max_cached=100)
    for i in range(1000):
        assert tokens.authenticate(f"forged-{i}") is None
    assert not tokens.cached("forged-0") and tokens.cached("forged-999")
    assert sum(tokens.cached(f"forged-{i}") for i in range(1000)) == 100


@pytest.mark.parametrize("peer,address", [("ipv4:10.0.0.7:51000", "ipv4:10.0.0.7"),
                                          ("ipv6:[::1]:51000", "ipv6:[::1]"),
                                          ("unix:/run/vigil.sock", "unix:/run/vigil.sock")])
def test_a_client_address_is_its_peer_without_the_port(peer: str, address: str) -> None:
    from services.api.access import peer_address

    assert peer_address(peer) == address
