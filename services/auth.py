"""Bearer tokens with roles and camera-group limits; hashed at rest in the bucket.

A token is 32 random bytes (url-safe base64). Only its SHA-256 is stored, at
`auth/tokens/{sha256}.json`; the plaintext is shown once when created. On a
bucket with no tokens, the first start creates an admin token and writes it
(mode 600) to `{data_dir}/admin-token`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore

ALL_GROUPS = "*"
TOKEN_PREFIX = "auth/tokens/"


class Role(StrEnum):
    VIEWER = "viewer"
    INVESTIGATOR = "investigator"
    INGEST = "ingest"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    groups: frozenset[str] = field(default_factory=frozenset)  # {"*"}: every camera

    @property
    def all_cameras(self) -> bool:
        return ALL_GROUPS in self.groups


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    subject: str
    role: str
    groups: tuple[str, ...]
    created: float


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Tokens by hash; lookups cached briefly so a revoke takes effect within `cache_s`."""

    def __init__(self, store: ObjectStore, cache_s: float = 5.0) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._cache_s = cache_s
        self._lock = threading.Lock()

    def create(self, subject: str, role: Role, groups: list[str]) -> str:
        """Create a token; returns the plaintext, which is never stored."""
        token = secrets.token_urlsafe(32)
        record = TokenRecord(hash_token(token), subject, role.value, tuple(sorted(set(groups))), time.time())
        self._store.put_bytes(TOKEN_PREFIX + record.token_hash + ".json",
                              json.dumps(asdict(record)).encode(), "application/json")
        return token

    def revoke(self, token_hash: str) -> None:
        key = TOKEN_PREFIX + token_hash + ".json"
        if not self._store.exists(key):
            raise ObjectNotFoundError("no such token")
        self._store.delete([key])
        with self._lock:
            self._cache.clear()

    def list(self) -> list[TokenRecord]:
        records = []
        for obj in self._store.list(TOKEN_PREFIX):
            raw = json.loads(self._store.get_bytes(obj.key))
            records.append(TokenRecord(**{**raw, "groups": tuple(raw["groups"])}))
        return records

    def authenticate(self, token: str) -> Principal | None:
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and now - hit[0] < self._cache_s:
                return hit[1]
        principal = self._load(digest)
        with self._lock:
            self._cache[digest] = (now, principal)
        return principal

    def _load(self, digest: str) -> Principal | None:
        try:
            raw = json.loads(self._store.get_bytes(TOKEN_PREFIX + digest + ".json"))
        except ObjectNotFoundError:
            return None
        return Principal(raw["subject"], Role(raw["role"]), frozenset(raw["groups"]))

    def bootstrap_admin(self, data_dir: Path) -> Path | None:
        """On a bucket without tokens, create an admin token and write it to a private file."""
        if any(True for _ in self._store.list(TOKEN_PREFIX)):
            return None
        token = self.create("admin", Role.ADMIN, [ALL_GROUPS])
        path = data_dir / "admin-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return path


class RateLimiter:
    """A token bucket per subject: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, subject: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(subject, (float(self._burst), now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens < 1:
                self._buckets[subject] = (tokens, now)
                return False
            self._buckets[subject] = (tokens - 1, now)
            return True
