"""The application services' rules, on an in-memory bucket (no Ray, no server): what a caller
sees, who may change a camera, a ward admin's tokens, holds, playback caps, search scoping, and
what goes on the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from indexing.vector_index import SearchFilter
from services.application.audit import AuditTrail, Caller
from services.application.cameras import CameraService
from services.application.holds import HoldService
from services.application.playback import PlaybackService
from services.application.search import SearchService
from services.application.tokens import TokenService, token_expiry
from services.application.visibility import Visibility
from services.cluster.live_recorders import LiveStatus
from services.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError
from services.index.search import SearchQuery, SearchResult
from services.security.auth import ALL_GROUPS, Principal, Role, TokenStore
from services.settings import ServerSettings
from storage.cameras import Camera, CameraRegistry
from storage.recordings import Recordings
from storage.retention import Holds
from storage.timeutil import DAY_S, HOUR_MS
from tests.memory_store import MemoryStore

CAM_A = Camera("cam-a", "Market", "ward-a", "Chợ Bến Thành", "", 30)
CAM_B = Camera("cam-b", "Gate", "ward-b", "Lê Lợi 1", "rtsp://nvr:s3cret@10.0.0.5/1", 30)


@dataclass
class Notes:
    """The transport's record of one call (`Touched`), and the log records appended without one."""

    recording: bool = True
    noted: dict[str, dict[str, Any]] = field(default_factory=dict)
    appended: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, action: str, details: dict[str, Any]) -> bool:
        if self.recording:
            self.noted.setdefault(action, {}).update(details)
        return self.recording

    def append(self, caller: str, action: str, details: dict[str, Any]) -> None:
        self.appended.append((caller, action, details))


class FakeLive:
    def __init__(self) -> None:
        self.applied: list[Camera] = []

    def check(self, stream_url: str) -> None:
        return None

    def apply(self, camera: Camera) -> bool:
        self.applied.append(camera)
        return bool(camera.stream_url)

    def stop(self, camera_id: str) -> LiveStatus:
        return LiveStatus(camera_id)

    def status(self, camera_id: str) -> LiveStatus:
        return LiveStatus(camera_id)


class World:
    """Two wards' cameras in an in-memory bucket, and callers of either ward or of every group."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.registry = CameraRegistry(self.store)
        for camera in (CAM_A, CAM_B):
            self.registry.put(camera)
        self.visibility = Visibility(self.registry)
        self.notes = Notes()
        self.trail = AuditTrail(self.notes)
        self.live = FakeLive()
        self.cameras = CameraService(self.visibility, self.registry, lambda: self.live, self.trail)

    def caller(self, role: Role, *groups: str) -> Caller:
        return Caller(Principal(f"{role.value}-{'-'.join(groups)}", role, frozenset(groups)), self.notes)


@pytest.fixture()
def world() -> World:
    return World()


def test_a_ward_sees_its_cameras_and_a_star_token_every_camera(world: World) -> None:
    ward_a = world.caller(Role.VIEWER, "ward-a").principal
    assert world.visibility.cameras(ward_a) == {"cam-a"}
    assert world.visibility.cameras(world.caller(Role.VIEWER, ALL_GROUPS).principal) is None
    assert world.visibility.camera(ward_a, "cam-a", "no camera cam-a") == "cam-a"
    for hidden in ("cam-b", "cam-none"):  # hidden and missing: the same answer
        with pytest.raises(NotFoundError, match=f"^no camera {hidden}$"):
            world.visibility.camera(ward_a, hidden, f"no camera {hidden}")
    with pytest.raises(InvalidArgumentError):
        world.visibility.camera(ward_a, "../cam-a", "no camera")


def test_camera_groups_are_cached_and_a_change_here_is_seen_at_once() -> None:
    store, now = MemoryStore(), [0.0]
    registry = CameraRegistry(store)
    visibility = Visibility(registry, cache_s=5.0, clock=lambda: now[0])
    ward_c = Principal("c", Role.VIEWER, frozenset({"ward-c"}))
    assert visibility.cameras(ward_c) == frozenset()
    registry.put(Camera("cam-c", group="ward-c"))  # another front end registers it
    now[0] = 4.0
    assert visibility.cameras(ward_c) == frozenset()  # still cached
    now[0] = 5.5
    assert visibility.cameras(ward_c) == {"cam-c"}
    registry.put(Camera("cam-d", group="ward-c"))
    visibility.changed()  # registered on this node
    assert visibility.cameras(ward_c) == {"cam-c", "cam-d"}


def test_a_camera_of_another_ward_is_not_taken_over_and_nothing_is_stored(world: World) -> None:
    taker = world.caller(Role.INGEST, "ward-a")
    with pytest.raises(NotFoundError) as err:
        world.cameras.register(taker, Camera("cam-b", "Mine now", "ward-a", retention_days=1))
    assert "ward-b" not in str(err.value) and "Gate" not in str(err.value)
    assert world.registry.get("cam-b") == CAM_B and world.live.applied == []
    assert world.notes.noted == {}


def test_only_an_admin_moves_a_camera_and_only_into_its_groups(world: World) -> None:
    moved = Camera("cam-b", "Gate", "ward-a", retention_days=30)
    with pytest.raises(PermissionDeniedError, match="admin"):
        world.cameras.register(world.caller(Role.INGEST, "ward-a", "ward-b"), moved)
    with pytest.raises(PermissionDeniedError, match="your own groups"):
        world.cameras.register(world.caller(Role.INGEST, "ward-b"), moved)
    assert world.cameras.register(world.caller(Role.ADMIN, ALL_GROUPS), moved).group == "ward-a"
    assert world.visibility.cameras(world.caller(Role.VIEWER, "ward-a").principal) == {"cam-a", "cam-b"}


def test_a_registration_is_audited_before_and_after_with_the_password_masked(world: World) -> None:
    changed = Camera("cam-b", "Gate 2", "ward-b", "", "rtsp://nvr:n3w@10.0.0.5/1", 7)
    world.cameras.register(world.caller(Role.INGEST, "ward-b"), changed)
    details = world.notes.noted["register_camera"]
    assert details["old"]["stream_url"] == "rtsp://nvr:***@10.0.0.5/1"
    assert details["new"]["name"] == "Gate 2" and "n3w" not in str(details)
    assert world.live.applied == [changed]


def test_a_call_no_transport_records_gets_a_record_of_its_own(world: World) -> None:
    world.notes.recording = False
    world.cameras.stop(world.caller(Role.INGEST, "ward-b"), "cam-b")
    assert world.notes.appended == [("ingest-ward-b", "stop_camera",
                                     {"camera_id": "cam-b", "segments_stored": 0})]
    assert world.registry.get("cam-b").stream_url == ""  # type: ignore[union-attr]


def test_a_ward_admin_issues_sees_and_revokes_only_its_wards_tokens(world: World) -> None:
    tokens = TokenStore(world.store)
    service = TokenService(tokens, world.trail, ttl_days=None)
    ward_admin, root = world.caller(Role.ADMIN, "ward-a"), world.caller(Role.ADMIN, ALL_GROUPS)
    mine = service.create(ward_admin, "officer-1", "viewer", ["ward-a"], None)
    for groups in (["ward-b"], [ALL_GROUPS], ["ward-a", "ward-b"]):
        with pytest.raises(PermissionDeniedError):
            service.create(ward_admin, "officer-2", "viewer", groups, None)
    theirs = service.create(root, "officer-b", "viewer", ["ward-b"], None)
    assert [t.record.token_hash for t in service.list(ward_admin)] == [mine.token_hash]
    with pytest.raises(NotFoundError, match="no such token"):
        service.revoke(ward_admin, theirs.token_hash)
    assert tokens.get(theirs.token_hash) is not None
    service.revoke(ward_admin, mine.token_hash)
    assert tokens.get(mine.token_hash) is None
    assert world.notes.noted["create_token"]["groups"] == ["ward-b"]  # the last one issued
    assert mine.token not in str(world.notes.noted)


def test_a_token_expires_when_asked_else_after_the_default_lifetime() -> None:
    assert token_expiry(None, None, 1000.0) is None
    assert token_expiry(None, 30, 1000.0) == 1000.0 + 30 * DAY_S
    assert token_expiry(5000.0, 30, 1000.0) == 5000.0
    for past in (1000.0, 10.0):
        with pytest.raises(InvalidArgumentError, match="future"):
            token_expiry(past, 30, 1000.0)
    with pytest.raises(InvalidArgumentError, match="role must be one of"):
        TokenService(TokenStore(MemoryStore()), AuditTrail(Notes()), None).create(
            Caller(Principal("root", Role.ADMIN, frozenset({ALL_GROUPS}))), "x", "superuser", ["ward-a"],
            None)


def test_a_hold_on_a_hidden_camera_is_neither_listed_nor_released(world: World) -> None:
    holds = Holds(world.store)
    service = HoldService(world.visibility, holds, world.trail)
    hold_b = service.place(world.caller(Role.INVESTIGATOR, "ward-b"), "cam-b", 0, HOUR_MS, "case 7")
    ward_a = world.caller(Role.ADMIN, "ward-a")
    with pytest.raises(NotFoundError):
        service.place(ward_a, "cam-b", 0, HOUR_MS, "not mine")
    assert service.list(ward_a) == []
    with pytest.raises(NotFoundError, match=f"no hold {hold_b.hold_id}"):
        service.release(ward_a, hold_b.hold_id)
    assert holds.get(hold_b.hold_id) == hold_b
    with pytest.raises(InvalidArgumentError):
        service.release(ward_a, "../holds")
    service.release(world.caller(Role.ADMIN, "ward-b"), hold_b.hold_id)
    assert holds.get(hold_b.hold_id) is None


def test_a_playlist_longer_than_its_cap_is_refused_after_visibility(world: World) -> None:
    playback = PlaybackService(world.visibility, Recordings(world.store), world.store, world.trail,
                               ServerSettings(max_playlist_hours=24), presign_ttl_s=600)
    ward_a = world.caller(Role.VIEWER, "ward-a")
    with pytest.raises(ResourceExhaustedError, match=r"25 h, more than the 24 h limit \(server.max_playlist"):
        playback.playlist(ward_a, "cam-a", 0, 25 * HOUR_MS, lambda: False)
    with pytest.raises(NotFoundError):  # a hidden camera: NOT_FOUND whatever the range
        playback.playlist(ward_a, "cam-b", 0, 25 * HOUR_MS, lambda: False)
    with pytest.raises(NotFoundError, match="no footage"):
        playback.playlist(ward_a, "cam-a", 0, HOUR_MS, lambda: False)
    with pytest.raises(InvalidArgumentError, match="segment_key"):
        playback.clip_url(ward_a, "segments/../auth/tokens/x.mp4")
    with pytest.raises(NotFoundError, match="no such segment"):
        playback.clip_url(ward_a, "segments/cam-b/2026/01/01/00/0-4000.mp4")


@dataclass(frozen=True)
class _Version:
    search: Any
    model_id: str = "model-1"


class _Engine:
    def __init__(self) -> None:
        self.queries: list[SearchQuery] = []

    def by_text(self, text: str, query: SearchQuery) -> SearchResult:
        self.queries.append(query)
        return SearchResult([], True)


def test_a_search_runs_inside_the_callers_cameras_only(world: World) -> None:
    engine = _Engine()

    @dataclass(frozen=True)
    class Versions:
        current: _Version = _Version(engine)

    observed: list[str] = []
    search = SearchService(world.visibility, Versions(), world.trail, ServerSettings(max_top_k=50),
                           lambda kind, _: observed.append(kind))
    ward_a = world.caller(Role.VIEWER, "ward-a")
    found = search.by_text(ward_a, "  a dog ", SearchQuery(top_k=0))
    assert engine.queries[-1].where.camera_ids == {"cam-a"} and engine.queries[-1].top_k == 10
    assert found.model_id == "model-1" and observed == ["text"]
    search.by_text(ward_a, "a dog", SearchQuery(5, SearchFilter(camera_ids=frozenset({"cam-a", "cam-b"}))))
    assert engine.queries[-1].where.camera_ids == {"cam-a"}
    asked = len(engine.queries)
    assert search.by_text(ward_a, "a dog", SearchQuery(5, SearchFilter(camera_ids=frozenset({"cam-b"})))
                          ).result.hits == []
    assert len(engine.queries) == asked  # nothing visible: no search at all
    assert world.notes.noted["search"]["text"] == "a dog"
    with pytest.raises(InvalidArgumentError, match="top_k 51"):
        search.by_text(ward_a, "a dog", SearchQuery(top_k=51))
    with pytest.raises(InvalidArgumentError, match="empty"):
        search.by_text(ward_a, "   ", SearchQuery(top_k=1))
