"""The serving process's heap: Python objects on glibc malloc, and freed pages given back.

A node builds its index from millions of keyframe records: each snapshot run or
ingest batch is decoded to Python objects, copied into int32 columns
(`indexing.frame_columns`) and dropped. CPython's own allocator keeps small
objects in 1 MiB arenas and returns an arena to the OS only when every object in
it is gone, so the few long-lived objects created meanwhile (a cache entry, a
dict slot, a small array) pin whole arenas: loading 1M frames left ≈ 120 B per
frame of empty pools, more than the index itself (`benchmarks/search.py`). Under
``PYTHONMALLOC=malloc`` the objects live in glibc's heap, whose free pages
`trim` returns page by page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable, Sequence

ENV = "PYTHONMALLOC"


def use_system_malloc(module: str, argv: Sequence[str]) -> None:
    """Re-run this process as ``python -m module *argv`` with PYTHONMALLOC=malloc (the
    allocator is chosen at interpreter start); a PYTHONMALLOC already set is respected."""
    if ENV in os.environ:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], {**os.environ, ENV: "malloc"})


def trim() -> None:
    """Give the heap's free pages back to the OS (glibc `malloc_trim`; a no-op elsewhere)."""
    if (malloc_trim := _malloc_trim()) is not None:
        malloc_trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    libc = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
