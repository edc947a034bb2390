"""A shard's full vectors as float16 rows in a node-local file, read through `np.memmap`.

The compressed shard tier keeps only PQ codes in RAM and re-ranks its best
candidates exactly against these rows. The file is a cache: the durable copy
of every vector is the bucket's index log, so a starting node rebuilds it.
Row `i` holds the vector of shard frame id `i`; rows are never reused (a
deleted frame's row stays until the shard is rebuilt). The file grows by
doubling (sparse until written) and is remapped only when it grows, so the
small batches ingest adds cost no syscall beyond the page writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

INITIAL_ROWS = 4096


class VectorFile:
    """float16 rows by id in `path`, which this object owns (created empty, deleted by `close`)."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.rows = 0  # one past the highest id written
        self._map: np.memmap | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    @property
    def disk_bytes(self) -> int:
        """Bytes the rows written so far take on disk (the file is sparse beyond them)."""
        return self.rows * self.dim * 2

    def reserve(self, rows: int) -> None:
        """Make room for rows below `rows` now, so that writing them does not grow the file: a
        writer reserves before it takes the lock searches wait for (readers keep the old map)."""
        if self._map is None or rows > len(self._map):
            self._grow(rows)

    def write(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if ids.size == 0:
            return
        top = int(ids.max()) + 1
        if self._map is None or top > len(self._map):
            self._grow(top)
        assert self._map is not None
        self._map[ids] = vectors.astype(np.float16)
        self.rows = max(self.rows, top)

    def read(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids` as float32 (pages come from the OS page cache, or the disk)."""
        if self._map is None or ids.size == 0:
            return np.zeros((ids.size, self.dim), dtype=np.float32)
        return _to_float32(np.asarray(self._map)[ids])

    def close(self) -> None:
        self._map = None
        self.path.unlink(missing_ok=True)

    def _grow(self, rows: int) -> None:
        capacity = max(rows, INITIAL_ROWS, 2 * (0 if self._map is None else len(self._map)))
        # no flush: the old and new maps share the page cache (a flush wrote up to 150 MB while
        # searches waited, 1.7 s on a loaded machine); the file is a cache, never read after a crash
        os.truncate(self.path, capacity * self.dim * 2)
        self._map = np.memmap(self.path, dtype=np.float16, mode="r+", shape=(capacity, self.dim))


def _to_float32(half: np.ndarray) -> np.ndarray:
    """float16 → float32 by bit shifts, exact for finite values (zeros and subnormals included):
    numpy's own cast is scalar code, twice as slow (352 × 256 values: 150 µs against 75 µs)."""
    bits = half.view(np.uint16).astype(np.uint32)
    sign = (bits & 0x8000) << 16
    bits &= 0x7FFF
    bits <<= 13  # exponent and mantissa into float32's places: the value is now 2^-112 of the true one
    bits |= sign
    out = bits.view(np.float32)
    out *= np.float32(2.0**112)
    return out
