"""An upload that meets a full disk on the node: a clear RESOURCE_EXHAUSTED error that says so,
and nothing left behind in the upload folder (no Ray, no server; the disk filling is simulated
by the spool's file raising ENOSPC, as the kernel does)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import services.application.ingest as ingest_module
from services.application.audit import Caller
from services.application.ingest import IngestService
from services.errors import status_for
from services.security.auth import Principal, Role
from storage.cameras import Camera
from storage.errors import DiskFullError
from tests.ingest_service import ingest_service


class FillingFile:
    """A file on a disk with `room` bytes left: the write that does not fit fails with ENOSPC."""

    def __init__(self, fd: int, room: int) -> None:
        self._f = open(fd, "wb")  # noqa: SIM115 (closed by __exit__)
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._f.write(data)

    def __enter__(self) -> FillingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"\0" * size


def _service(tmp_path: Path) -> IngestService:
    return ingest_service(tmp_path, Camera("cam-a", "Market", "ward-a", "", "", 30))[0]


def test_an_upload_that_fills_the_disk_is_refused_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_module, "open", lambda fd, mode: FillingFile(fd, 3 * 1024), raising=False)
    caller = Caller(Principal("ingest-a", Role.INGEST, frozenset({"ward-a"})))
    with pytest.raises(DiskFullError) as err:
        asyncio.run(_service(tmp_path).upload(caller, "cam-a", 0, "clip.mp4", _chunks(4, 1024)))
    code, message = status_for(err.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "disk is full" in message and "not stored" in message
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_are_not_reported_as_a_full_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, mode: str) -> Any:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ingest_module, "open", broken, raising=False)
    caller = Caller(Principal("ingest-a", Role.INGEST, frozenset({"ward-a"})))
    with pytest.raises(OSError) as err:
        asyncio.run(_service(tmp_path).upload(caller, "cam-a", 0, "clip.mp4", _chunks(1, 10)))
    assert not isinstance(err.value, DiskFullError) and err.value.errno == errno.EIO
