"""Bearer tokens with roles and camera-group limits; hashed at rest in the bucket.

A token is 32 random bytes (url-safe base64). Only its SHA-256 is stored, at
`auth/tokens/{sha256}.json`; the plaintext is shown once when created. The hash
is the token's id (`vigil token list`, `vigil token revoke`).

Subjects and groups are validated when a token is created (strict patterns, no
whitespace or control characters, '*' only alone). A token may carry an expiry
(unix seconds); once it passes, the token is refused with UNAUTHENTICATED
saying so. Records written before expiry existed have none and never expire.

On a bucket with no tokens, the first start creates an admin token and writes it
(mode 600) to `{data_dir}/admin-token`. That bootstrap token never expires: it is
the node operator's way in. Issue named admin tokens with an expiry and revoke it
(`vigil token revoke`) where that matters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from services.errors import UnauthenticatedError
from storage.errors import ObjectNotFoundError
from storage.keys import ALL_GROUPS, TOKENS_PREFIX, token_key, validate_groups
from storage.object_store import ObjectStore

SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+:-]{0,99}")


NO_TOKEN = "none"  # the token id audited for a call or scrape that carried no token


class Role(StrEnum):
    VIEWER = "viewer"
    INVESTIGATOR = "investigator"
    INGEST = "ingest"
    ADMIN = "admin"
    METRICS = "metrics"  # scrapes the metrics port (every camera's counts); no RPC


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    groups: frozenset[str] = field(default_factory=frozenset)  # {"*"}: every camera
    token_id: str = ""  # the token's SHA-256 (what `vigil token revoke` takes); "" without a token

    @property
    def all_cameras(self) -> bool:
        return ALL_GROUPS in self.groups

    def manages(self, groups: tuple[str, ...] | list[str]) -> bool:
        """May this caller issue, see or revoke a token for `groups`? Only within its own groups
        (a ward admin never mints a token for another ward, nor for every camera)."""
        return self.all_cameras or (bool(groups) and set(groups) <= self.groups)


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    subject: str
    role: str
    groups: tuple[str, ...]
    created: float
    expires: float | None = None  # unix seconds; None: never

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (time.time() if now is None else now) >= self.expires


class TokenExpiredError(UnauthenticatedError):
    """The token exists but its expiry has passed."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_subject(subject: str) -> str:
    """Who a token is for, as the audit trail records it: 1-100 letters, digits, '_.@+:-'."""
    if not SUBJECT.fullmatch(subject):
        raise ValueError(f"subject {subject[:80]!r} is invalid: use 1-100 letters, digits, "
                         "'_', '.', '@', '+', ':' or '-', starting with a letter or digit")
    return subject


def _utc(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%dT%H:%M:%SZ}"


def _record(raw: dict[str, Any]) -> TokenRecord:
    return TokenRecord(raw["token_hash"], raw["subject"], raw["role"], tuple(raw["groups"]),
                       float(raw["created"]), raw.get("expires"))


class TokenStore:
    """Tokens by hash; lookups cached briefly so a revoke takes effect within `cache_s`."""

    def __init__(self, store: ObjectStore, cache_s: float = 5.0,
                 clock: Callable[[], float] = time.time, max_cached: int = 10_000) -> None:
        self._store = store
        self._clock = clock  # wall time, for expiry
        # loaded, who, expires; least recently used first, at most max_cached (unknown tokens too)
        self._cache: OrderedDict[str, tuple[float, Principal | None, float | None]] = OrderedDict()
        self._cache_s, self._max_cached = cache_s, max_cached
        self._lock = threading.Lock()

    def create(self, subject: str, role: Role, groups: list[str], expires: float | None = None) -> str:
        """Create a token that expires at `expires` (unix seconds; None: never); returns the
        plaintext, which is never stored. ValueError names an invalid subject, group or expiry."""
        now = self._clock()
        if expires is not None and expires <= now:
            raise ValueError(f"expiry {_utc(expires)} is not in the future")
        token = secrets.token_urlsafe(32)
        record = TokenRecord(hash_token(token), validate_subject(subject), role.value,
                             validate_groups(groups), now, expires)
        self._store.put_bytes(token_key(record.token_hash),
                              json.dumps(asdict(record)).encode(), "application/json")
        return token

    def revoke(self, token_hash: str) -> None:
        key = token_key(token_hash)
        if not self._store.exists(key):
            raise ObjectNotFoundError("no such token")
        self._store.delete([key])
        with self._lock:
            self._cache.clear()

    def get(self, token_hash: str) -> TokenRecord | None:
        """The record of one token by its hash (the id `vigil token list` shows), or None."""
        try:
            return _record(json.loads(self._store.get_bytes(token_key(token_hash))))
        except ObjectNotFoundError:
            return None

    def list(self) -> list[TokenRecord]:
        """Every token's record (never the token), oldest first; expired ones included."""
        records = []
        for obj in self._store.list(TOKENS_PREFIX):
            try:
                records.append(_record(json.loads(self._store.get_bytes(obj.key))))
            except ObjectNotFoundError:
                continue  # revoked meanwhile
        return sorted(records, key=lambda r: (r.created, r.token_hash))

    def authenticate(self, token: str) -> Principal | None:
        """The token's caller; None for an unknown or revoked token.

        Raises TokenExpiredError (UNAUTHENTICATED) once the token's expiry has passed.
        """
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is None or now - hit[0] >= self._cache_s:
            hit = (now, *self._load(digest))
            with self._lock:
                self._cache[digest] = hit
                _bound(self._cache, self._max_cached)
        _, principal, expires = hit
        if expires is not None and self._clock() >= expires:
            raise TokenExpiredError(f"this token expired at {_utc(expires)}; ask an admin for a new one")
        return principal

    def cached(self, token: str) -> bool:
        """True when `authenticate(token)` answers from the cache, without reading the bucket."""
        digest = hash_token(token)
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None:
                self._cache.move_to_end(digest)
        return hit is not None and time.monotonic() - hit[0] < self._cache_s

    def _load(self, digest: str) -> tuple[Principal | None, float | None]:
        try:
            raw = json.loads(self._store.get_bytes(token_key(digest)))
        except ObjectNotFoundError:
            return None, None
        return (Principal(raw["subject"], Role(raw["role"]), frozenset(raw["groups"]), digest),
                raw.get("expires"))

    def bootstrap_admin(self, data_dir: Path) -> Path | None:
        """On a bucket without tokens, create an admin token and write it to a private file."""
        if any(True for _ in self._store.list(TOKENS_PREFIX)):
            return None
        token = self.create("admin", Role.ADMIN, [ALL_GROUPS])
        path = data_dir / "admin-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return path


class RateLimiter:
    """A token bucket per key (a token, a client address): `rate` requests per second, bursts up
    to `burst`. At most `max_keys` buckets: the least recently seen is forgotten (it comes back
    full, as it would have refilled)."""

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self._rate, self._burst, self._max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self._burst), now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            _bound(self._buckets, self._max_keys)
            return allowed


def _bound(cache: OrderedDict[str, Any], size: int) -> None:
    """Forget the least recently used entries beyond `size`."""
    while len(cache) > size:
        cache.popitem(last=False)
