"""Who may change a camera, what its audit record keeps, range caps, and work that stops when the
caller has gone: pure rules, no server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.api.calls import caller_gone
from services.application.cameras import camera_audit, may_change
from services.application.playback import within_cap
from services.errors import NotFoundError, PermissionDeniedError, ResourceExhaustedError
from services.security.auth import Principal, Role
from storage import keys
from storage.cameras import Camera
from storage.errors import AbandonedError
from storage.object_store import ObjectInfo
from storage.recordings import Recordings
from storage.timeutil import HOUR_MS
from tests.memory_store import MemoryStore

B_CAMERA = Camera("cam-b", "Gate", "ward-b", "Lê Lợi 1", "rtsp://nvr:s3cret@10.0.0.5/1", 30)


def _who(role: Role, *groups: str) -> Principal:
    return Principal("someone", role, frozenset(groups))


def test_a_new_camera_id_may_be_registered_by_anyone_allowed_to_register() -> None:
    may_change(_who(Role.INGEST, "ward-a"), None, Camera("cam-new", group="ward-a"))


def test_a_camera_of_another_group_is_taken_and_nothing_of_it_is_told() -> None:
    for role in (Role.INGEST, Role.ADMIN):  # an admin of ward A only does not see ward B either
        with pytest.raises(NotFoundError) as err:
            may_change(_who(role, "ward-a"), B_CAMERA, Camera("cam-b", group="ward-a", retention_days=1))
        message = str(err.value)
        assert "cam-b" in message and not any(s in message for s in ("ward-b", "Gate", "Lê Lợi", "nvr"))
    other = Camera("cam-c", "Other", "ward-c", "Elsewhere", "", 7)
    with pytest.raises(NotFoundError) as err_c:
        may_change(_who(Role.INGEST, "ward-a"), other, Camera("cam-c", group="ward-a"))
    assert str(err_c.value) == message.replace("cam-b", "cam-c")  # the same words for every hidden camera


def test_only_an_admin_moves_a_camera_between_groups() -> None:
    moved = Camera("cam-b", "Gate", "ward-a", retention_days=30)
    with pytest.raises(PermissionDeniedError, match="admin"):
        may_change(_who(Role.INGEST, "ward-a", "ward-b"), B_CAMERA, moved)
    may_change(_who(Role.ADMIN, "*"), B_CAMERA, moved)
    may_change(_who(Role.INGEST, "ward-b"), B_CAMERA, Camera("cam-b", "Gate 2", "ward-b", retention_days=7))


def test_a_camera_audit_record_masks_the_stream_password() -> None:
    assert camera_audit(B_CAMERA) == {"group": "ward-b", "name": "Gate", "location": "Lê Lợi 1",
                                      "retention_days": 30, "stream_url": "rtsp://nvr:***@10.0.0.5/1",
                                      "live": True}
    assert camera_audit(None) is None


def test_a_range_past_its_cap_names_the_setting() -> None:
    with pytest.raises(ResourceExhaustedError) as err:
        within_cap(0, 25 * HOUR_MS, 24, "server.max_playlist_hours")
    assert str(err.value) == ("time_range covers 25 h, more than the 24 h limit "
                              "(server.max_playlist_hours); ask for shorter ranges")
    within_cap(0, 25 * HOUR_MS, 25, "server.max_playlist_hours")


class _Context:
    """The parts of a gRPC servicer context that `caller_gone` reads."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining, self.callbacks = remaining, []

    def time_remaining(self) -> float | None:
        return self.remaining

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self.callbacks.append(callback)

    def end(self) -> None:
        for callback in self.callbacks:
            callback(self)


def test_the_caller_is_gone_once_the_rpc_ended_or_its_deadline_passed() -> None:
    context = _Context(None)
    gone = caller_gone(context)  # type: ignore[arg-type]
    assert not gone()
    context.end()  # cancelled or disconnected
    assert gone()
    assert caller_gone(_Context(0.0))()  # type: ignore[arg-type]
    assert not caller_gone(_Context(3600.0))()  # type: ignore[arg-type]


class _CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lists: list[str] = []

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self.lists.append(prefix)
        return super().list(prefix)


def test_a_listing_stops_at_the_next_hour_once_the_caller_is_gone() -> None:
    store = _CountingStore()
    start = 1_795_507_200_000  # an hour boundary
    with pytest.raises(AbandonedError):
        list(Recordings(store).segments("cam-1", start, start + 24 * HOUR_MS,
                                        stop=lambda: len(store.lists) >= 3))
    assert store.lists == [keys.segment_key("cam-1", t, t).rsplit("/", 1)[0] + "/"
                           for t in (start - HOUR_MS, start, start + HOUR_MS)]
    store.lists.clear()
    assert list(Recordings(store).segments("cam-1", start, start + 24 * HOUR_MS)) == []
    assert len(store.lists) == 25  # without a stop check: every hour, and the one before
