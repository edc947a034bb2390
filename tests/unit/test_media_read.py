"""Media bytes through Vigil (PlaybackService.open_media/read_media, the console's video and
downloads): only the footage of a camera the caller sees, a byte range at a time, audited."""

from __future__ import annotations

from typing import Any

import pytest

from services.application.audit import AuditTrail, Caller
from services.application.playback import MEDIA_CHUNK, PlaybackService
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError, OutOfRangeError
from services.security.auth import Principal, Role
from services.settings import ServerSettings
from storage.cameras import Camera, CameraRegistry
from storage.keys import media_camera
from storage.recordings import Recordings
from tests.memory_store import MemoryStore

pytestmark = pytest.mark.unit
SEGMENT_A = "segments/cam-a/2026/01/01/00/0-4000.mp4"
SEGMENT_B = "segments/cam-b/2026/01/01/00/0-4000.mp4"
THUMB_A = "thumbnails/cam-a/2026/01/01/00/2000.jpg"
EXPORT_A = "exports/0123456789abcdef0123456789abcdef/cam-a.mp4"


class Notes:
    def __init__(self) -> None:
        self.noted: dict[str, dict[str, Any]] = {}

    def __call__(self, action: str, details: dict[str, Any]) -> bool:
        self.noted.setdefault(action, {}).update(details)
        return True

    def append(self, caller: str, action: str, details: dict[str, Any]) -> None:
        raise AssertionError("every call here is recorded by its transport")


@pytest.fixture()
def setup() -> tuple[PlaybackService, MemoryStore, Notes]:
    store = MemoryStore()
    registry = CameraRegistry(store)
    registry.put(Camera("cam-a", "Market", "ward-a", "", "", 30))
    registry.put(Camera("cam-b", "Bridge", "ward-b", "", "", 30))
    for key in (SEGMENT_A, SEGMENT_B, THUMB_A, EXPORT_A):
        store.put_bytes(key, bytes(range(256)) * (3 * MEDIA_CHUNK // 256 + 7))
    notes = Notes()
    service = PlaybackService(Visibility(registry), Recordings(store), store, AuditTrail(notes),
                              ServerSettings(), presign_ttl_s=600)
    return service, store, notes


def _caller(notes: Notes, *groups: str) -> Caller:
    return Caller(Principal("viewer", Role.VIEWER, frozenset(groups)), notes)


def test_media_keys_name_their_camera_and_nothing_else_is_media() -> None:
    assert media_camera(SEGMENT_A) == "cam-a"
    assert media_camera(THUMB_A) == "cam-a"
    assert media_camera(EXPORT_A) == "cam-a"
    assert media_camera(EXPORT_A.replace(".mp4", ".json")) == "cam-a"
    for other in ("auth/tokens/" + "0" * 64 + ".json", "segments/cam-a/2026/01/01/00/0-4000.json",
                  "segments/../auth/2026/01/01/00/0-4000.mp4", "exports/x/../cam-a.mp4", "cameras/cam-a.json",
                  SEGMENT_A + "\n", "index/active.json"):
        assert media_camera(other) is None, other


def test_a_range_of_a_visible_segment_is_read_in_chunks_and_audited(
        setup: tuple[PlaybackService, MemoryStore, Notes]) -> None:
    service, store, notes = setup
    whole = store.objects[SEGMENT_A]
    media = service.open_media(_caller(notes, "ward-a"), SEGMENT_A, 100, 2 * MEDIA_CHUNK)
    assert (media.content_type, media.total_size, media.offset, media.end) == (
        "video/mp4", len(whole), 100, 100 + 2 * MEDIA_CHUNK)
    got, position = b"", media.offset
    while position < media.end:
        chunk = service.read_media(media, position)
        assert 0 < len(chunk) <= MEDIA_CHUNK
        got, position = got + chunk, position + len(chunk)
    assert got == whole[100:100 + 2 * MEDIA_CHUNK]
    assert notes.noted["media_read"] == {"key": SEGMENT_A, "camera_id": "cam-a", "offset": 100,
                                         "bytes": 2 * MEDIA_CHUNK}
    tail = service.open_media(_caller(notes, "ward-a"), THUMB_A, len(whole) - 10, 0)
    assert (tail.content_type, tail.end - tail.offset) == ("image/jpeg", 10)


def test_another_wards_or_a_missing_object_is_not_found_and_a_bad_range_refused(
        setup: tuple[PlaybackService, MemoryStore, Notes]) -> None:
    service, store, notes = setup
    ward_a = _caller(notes, "ward-a")
    for key in (SEGMENT_B, SEGMENT_A.replace("0-4000", "0-4001"), "auth/tokens/" + "0" * 64 + ".json"):
        with pytest.raises(NotFoundError, match="no such media"):
            service.open_media(ward_a, key, 0, 0)
    with pytest.raises(OutOfRangeError, match="past the end"):
        service.open_media(ward_a, SEGMENT_A, len(store.objects[SEGMENT_A]), 0)
    with pytest.raises(InvalidArgumentError, match="must not be negative"):
        service.open_media(ward_a, SEGMENT_A, -1, 0)
    assert "media_read" not in notes.noted


def test_a_playlist_for_a_proxy_uses_its_path_and_only_a_same_origin_path(
        setup: tuple[PlaybackService, MemoryStore, Notes]) -> None:
    service, _, notes = setup
    ward_a = _caller(notes, "ward-a")
    for bad in ("http://evil.example/?k=", "//evil.example/", "media?key=", '/m"x'):
        with pytest.raises(InvalidArgumentError, match="url_prefix"):
            service.playlist(ward_a, "cam-a", 0, 1000, lambda: False, url_prefix=bad)
