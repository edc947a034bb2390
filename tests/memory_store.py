"""An `ObjectStore` in memory for unit tests, with a hook before every write (to crash or interleave)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path

from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectInfo


class Crash(Exception):
    """The simulated kill -9: raised before a write, which therefore does not happen."""


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.before_write: Callable[[str, str], None] | None = None  # (op, key); op 'put' or 'delete'
        self.before_read: Callable[[str], None] | None = None  # (key)

    def ensure_bucket(self) -> None:
        return None

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._hook("put", key)
        self.objects[key] = bytes(data)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        self.put_bytes(key, path.read_bytes(), content_type)

    def get_bytes(self, key: str) -> bytes:
        if self.before_read is not None:
            self.before_read(key)
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectNotFoundError(f"object {key!r} not found") from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.get_bytes(key)[offset:offset + length]

    def get_file(self, key: str, path: Path) -> None:
        path.write_bytes(self.get_bytes(key))

    def stat(self, key: str) -> ObjectInfo:
        return ObjectInfo(key, len(self.get_bytes(key)))

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return iter([ObjectInfo(k, len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)])

    def delete(self, keys: Iterable[str]) -> None:
        for key in list(keys):  # one by one: a crash can stop a batch delete half way
            self._hook("delete", key)
            self.objects.pop(key, None)

    def presigned_get_url(self, key: str, ttl: timedelta) -> str:
        return f"memory://{key}"

    def keys(self, prefix: str = "") -> builtins.list[str]:
        return [o.key for o in self.list(prefix)]

    def _hook(self, op: str, key: str) -> None:
        if self.before_write is not None:
            self.before_write(op, key)


class CrashAt:
    """A `before_write` hook that raises `Crash` at the n-th write (0-based)."""

    def __init__(self, n: int) -> None:
        self.n, self.writes = n, 0

    def __call__(self, op: str, key: str) -> None:
        self.writes += 1
        if self.writes - 1 == self.n:
            raise Crash(f"killed before {op} {key}")
