"""SearchSimilar and Follow on an index built by hand: a red subject crosses three cameras of two
wards over green streets (`tests.colour_embedder`: "red" footage scores exact numbers).

The trail logic on its own (visits per camera, the best ones, in time order), then the search
service: scoping (a ward sees its cameras' steps only; a hit on a hidden camera is answered as a
missing one), the window, the photo seed, query expansion, limits and the audit details.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from indexing.frame_columns import Box, FrameRecord
from indexing.vector_index import FrameHit, FrameIndex, SearchFilter
from services.application.audit import AuditTrail, Caller
from services.application.follow import FollowQuery, expanded, trail
from services.application.search import SearchService
from services.application.visibility import Visibility
from services.errors import InvalidArgumentError, NotFoundError
from services.index.search import FrameRef, SearchEngine, SearchQuery
from services.security.auth import Principal, Role
from services.settings import SearchSettings, ServerSettings
from storage.cameras import Camera, CameraRegistry
from storage.keys import ALL_GROUPS
from tests.colour_embedder import DIM, ColourEmbedder
from tests.memory_store import MemoryStore
from tests.unit.test_application_services import Notes

T0 = 1_790_000_000_000
S = 1000
GAP_MS = 6000
RED, ORANGE_RED, ORANGE, GREEN = (230, 20, 20), (230, 120, 20), (230, 200, 20), (20, 230, 20)
Colour = tuple[int, int, int]
# camera → (first second, last second, colour) of the subject's stays; green street otherwise.
# Keyframes every 2 s over 0..400 s. cam-a and cam-b are ward A's, cam-c ward B's.
STAYS: dict[str, list[tuple[int, int, Colour]]] = {
    "cam-a": [(10, 16, RED), (300, 304, RED)],  # the subject, and later back again
    "cam-b": [(60, 66, RED)],
    "cam-c": [(120, 124, RED)],
    "cam-d": [],  # ward A: a camera the subject never passes
}
GROUPS = {"cam-a": "ward-a", "cam-b": "ward-a", "cam-c": "ward-b", "cam-d": "ward-a"}


def _record(camera: str, t: int, box: Box | None = None) -> FrameRecord:
    return FrameRecord(camera, t, t + 2 * S, f"segments/{camera}/{t}.mp4", t, t + 2 * S,
                       f"thumbnails/{camera}/{t}.jpg", box)


def _colour(camera: str, second: int, stays: dict[str, list[tuple[int, int, Colour]]]) -> Colour:
    return next((c for first, last, c in stays[camera] if first <= second <= last), GREEN)


def _index(stays: dict[str, list[tuple[int, int, Colour]]]) -> FrameIndex:
    embedder, index = ColourEmbedder(), FrameIndex(DIM)
    for camera in stays:
        times = range(0, 400, 2)
        images = [np.full((4, 4, 3), _colour(camera, t, stays), dtype=np.uint8) for t in times]
        index.add([_record(camera, T0 + t * S) for t in times], embedder.embed_images(images))
    return index


@dataclass(frozen=True)
class _Version:
    search: SearchEngine
    model_id: str = "colours"


@dataclass(frozen=True)
class _Versions:
    current: _Version


class World:
    def __init__(self, stays: dict[str, list[tuple[int, int, Colour]]] = STAYS,
                 min_score: float | None = 0.85, appearance_z: float | None = None) -> None:
        registry = CameraRegistry(MemoryStore())
        for camera in stays:
            registry.put(Camera(camera, camera, GROUPS[camera], "", "", 30))
        self.notes = Notes()
        self.observed: list[str] = []
        engine = SearchEngine(ColourEmbedder(), _index(stays),
                              SearchSettings(clip_gap_ms=GAP_MS, appearance_z=appearance_z), min_score)
        self.search = SearchService(Visibility(registry), _Versions(_Version(engine)), AuditTrail(self.notes),
                                    ServerSettings(max_top_k=50), lambda kind, _: self.observed.append(kind))

    def caller(self, *groups: str) -> Caller:
        return Caller(Principal(f"viewer-{'-'.join(groups)}", Role.VIEWER, frozenset(groups)), self.notes)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def _steps(steps: list) -> list[tuple[str, int, int]]:  # type: ignore[type-arg]
    """(camera, start s, end s) of each step, relative to T0."""
    return [(s.camera_id, (s.start_ms - T0) // S, (s.end_ms - T0) // S) for s in steps]


SEED = FrameRef("cam-a", T0 + 12 * S)
WHOLE_DAY = SearchFilter(start_ms=T0, end_ms=T0 + 400 * S)


# --- the trail, pure ----------------------------------------------------------------------------

def _hit(camera: str, second: int, score: float) -> FrameHit:
    return FrameHit(_record(camera, T0 + second * S), score)


def test_hits_become_visits_per_camera_best_first_then_in_time_order() -> None:
    hits = [_hit("cam-b", 62, 0.91), _hit("cam-a", 10, 0.99), _hit("cam-a", 12, 0.97),
            _hit("cam-b", 60, 0.95), _hit("cam-a", 300, 0.93), _hit("cam-c", 120, 0.90)]
    assert _steps(trail(hits, GAP_MS, 10)) == [
        ("cam-a", 10, 14), ("cam-b", 60, 64), ("cam-c", 120, 122), ("cam-a", 300, 302)]
    best_three = trail(hits, GAP_MS, 3)  # the weakest visit (cam-c, 0.90) goes, not the latest
    assert _steps(best_three) == [("cam-a", 10, 14), ("cam-b", 60, 64), ("cam-a", 300, 302)]
    assert [round(s.score, 2) for s in best_three] == [0.99, 0.95, 0.93]
    assert [s.best.record.time_ms - T0 for s in best_three] == [10 * S, 60 * S, 300 * S]
    assert trail([], GAP_MS, 10) == []


def test_visits_at_the_same_time_are_ordered_by_camera() -> None:
    hits = [_hit("cam-b", 60, 0.99), _hit("cam-a", 60, 0.90)]
    assert [s.camera_id for s in trail(hits, GAP_MS, 10)] == ["cam-a", "cam-b"]


def test_visits_are_ordered_by_when_the_subject_is_seen_best() -> None:
    """cam-b's visit starts first (a look-alike at 50 s), but the subject is best seen there
    at 56 s, after cam-a's 52 s."""
    hits = [_hit("cam-b", 50, 0.91), _hit("cam-b", 54, 0.92), _hit("cam-b", 56, 0.99),
            _hit("cam-a", 52, 0.98)]
    assert _steps(trail(hits, GAP_MS, 10)) == [("cam-a", 52, 54), ("cam-b", 50, 58)]


def test_an_expanded_query_is_a_unit_vector_between_its_views() -> None:
    seed, other = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 1.0], dtype=np.float32)
    assert np.allclose(expanded(seed, [other]), [2 ** -0.5, 2 ** -0.5])
    assert np.allclose(expanded(seed, []), seed)


# --- Follow ---------------------------------------------------------------------------------------

def test_a_trail_from_a_hit_crosses_the_wards_cameras_in_time_order(world: World) -> None:
    followed = world.search.follow(world.caller("ward-a"), SEED, FollowQuery(WHOLE_DAY, max_steps=0))
    assert _steps(followed.trail.steps) == [("cam-a", 10, 18), ("cam-b", 60, 68), ("cam-a", 300, 306)]
    assert followed.model_id == "colours" and not followed.trail.no_good_match
    assert all(s.score > 0.99 for s in followed.trail.steps)
    details = world.notes.noted["follow"]
    assert details["hit"] == {"camera_id": "cam-a", "time_ms": SEED.time_ms, "box": None}
    assert details["returned"] == [["cam-a", T0 + 10 * S, T0 + 18 * S], ["cam-b", T0 + 60 * S, T0 + 68 * S],
                                   ["cam-a", T0 + 300 * S, T0 + 306 * S]]
    assert details["max_steps"] == 10 and "follow" in world.observed


def test_every_group_sees_the_other_wards_step_too(world: World) -> None:
    followed = world.search.follow(world.caller(ALL_GROUPS), SEED, FollowQuery(WHOLE_DAY, max_steps=10))
    assert [s.camera_id for s in followed.trail.steps] == ["cam-a", "cam-b", "cam-c", "cam-a"]


def test_a_trail_keeps_to_its_window_and_cameras(world: World) -> None:
    ward_a = world.caller("ward-a")
    window = SearchFilter(start_ms=T0, end_ms=T0 + 100 * S)
    assert _steps(world.search.follow(ward_a, SEED, FollowQuery(window, 10)).trail.steps) == [
        ("cam-a", 10, 18), ("cam-b", 60, 68)]
    only_b = SearchFilter(camera_ids=frozenset({"cam-b", "cam-c"}), start_ms=T0, end_ms=T0 + 400 * S)
    assert _steps(world.search.follow(ward_a, SEED, FollowQuery(only_b, 10)).trail.steps) == [
        ("cam-b", 60, 68)]
    hidden_only = SearchFilter(camera_ids=frozenset({"cam-c"}))
    nothing = world.search.follow(ward_a, SEED, FollowQuery(hidden_only, 10)).trail
    assert nothing.steps == [] and not nothing.no_good_match


def test_without_a_window_a_trail_from_a_hit_spans_an_hour_either_side(world: World) -> None:
    steps = world.search.follow(world.caller("ward-a"), SEED, FollowQuery(SearchFilter(), 10)).trail.steps
    assert len(steps) == 3
    assert world.notes.noted["follow"]["filter"] == {
        "camera_ids": [], "start_ms": SEED.time_ms - 3_600_000, "end_ms": SEED.time_ms + 3_600_001}


def test_a_photo_starts_the_same_trail(world: World) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), RED).save(buf, "PNG")
    followed = world.search.follow(world.caller("ward-a"), buf.getvalue(), FollowQuery(SearchFilter(), 10))
    assert _steps(followed.trail.steps) == [("cam-a", 10, 18), ("cam-b", 60, 68), ("cam-a", 300, 306)]
    assert "image_sha256" in world.notes.noted["follow"]


def test_nothing_above_the_threshold_is_no_good_match(world: World) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (20, 20, 230)).save(buf, "PNG")  # blue: on no camera
    followed = world.search.follow(world.caller("ward-a"), buf.getvalue(), FollowQuery(SearchFilter(), 10))
    assert followed.trail.steps == [] and followed.trail.no_good_match


def test_a_hit_on_a_hidden_camera_is_answered_as_one_that_does_not_exist(world: World) -> None:
    ward_a = world.caller("ward-a")
    hidden, missing = FrameRef("cam-c", T0 + 120 * S), FrameRef("cam-zz", T0 + 120 * S)
    for ref in (hidden, missing):
        with pytest.raises(NotFoundError) as follow_error:
            world.search.follow(ward_a, ref, FollowQuery(SearchFilter(), 10))
        with pytest.raises(NotFoundError) as similar_error:
            world.search.similar(ward_a, ref, SearchQuery(top_k=5))
        assert str(follow_error.value) == str(similar_error.value) == (
            f"no stored keyframe of camera {ref.camera_id!r} at 2026-09-21T14:15:20+00:00; "
            "name a hit from a search answer")
    with pytest.raises(NotFoundError, match="no stored keyframe of camera 'cam-a' at"):
        world.search.follow(ward_a, FrameRef("cam-a", T0 + 1), FollowQuery(SearchFilter(), 10))
    with pytest.raises(NotFoundError, match=r"no stored keyframe \(region 0.1,0.1,0.5,0.5\) of camera"):
        world.search.similar(ward_a, FrameRef("cam-a", SEED.time_ms, Box(0.1, 0.1, 0.5, 0.5)),
                             SearchQuery(top_k=5))


def test_limits_are_those_of_search(world: World) -> None:
    ward_a = world.caller("ward-a")
    with pytest.raises(InvalidArgumentError, match=r"max_steps 51 is out of range 1\.\.50"):
        world.search.follow(ward_a, SEED, FollowQuery(SearchFilter(), 51))
    with pytest.raises(InvalidArgumentError, match="image is empty"):
        world.search.follow(ward_a, b"", FollowQuery(SearchFilter(), 10))
    with pytest.raises(InvalidArgumentError, match="top_k 51"):
        world.search.similar(ward_a, SEED, SearchQuery(top_k=51))


def test_an_expanded_query_finds_a_view_the_seed_alone_misses() -> None:
    """cam-b sees the subject orange-red (0.92 like the seed's red), cam-d orange (0.81: below
    0.85); red and orange-red together point close enough to orange (0.88)."""
    stays = {"cam-a": [(10, 16, RED)], "cam-b": [(60, 66, ORANGE_RED)], "cam-d": [(90, 94, ORANGE)]}
    w = World(stays)
    query = FollowQuery(WHOLE_DAY, 10)
    plain = w.search.follow(w.caller("ward-a"), SEED, query).trail.steps
    assert [s.camera_id for s in plain] == ["cam-a", "cam-b"]
    wider = w.search.follow(w.caller("ward-a"), SEED, FollowQuery(WHOLE_DAY, 10, expand=True)).trail.steps
    assert [s.camera_id for s in wider] == ["cam-a", "cam-b", "cam-d"]
    assert w.notes.noted["follow"]["expand"] is True


def test_without_a_calibration_the_cut_is_placed_against_ordinary_footage() -> None:
    """No model threshold: the appearance cut (3 standard deviations above the red query's
    cosines with the stored footage, mostly green street) keeps the subject's visits only."""
    w = World(min_score=None, appearance_z=3.0)
    followed = w.search.follow(w.caller("ward-a"), SEED, FollowQuery(WHOLE_DAY, 10)).trail
    assert _steps(followed.steps) == [("cam-a", 10, 18), ("cam-b", 60, 68), ("cam-a", 300, 306)]
    similar = w.search.similar(w.caller("ward-a"), SEED, SearchQuery(top_k=10)).result
    assert _steps(similar.hits) == [("cam-b", 60, 68)]


def test_with_no_cut_at_all_every_camera_is_one_long_visit() -> None:
    """No threshold and no appearance cut: every keyframe passes, so each camera's footage is one
    visit; the trail is still the best visits, ordered by their best keyframe."""
    w = World(min_score=None, appearance_z=None)
    steps = w.search.follow(w.caller("ward-a"), SEED, FollowQuery(WHOLE_DAY, 10)).trail.steps
    assert _steps(steps) == [("cam-d", 0, 400), ("cam-a", 0, 400), ("cam-b", 0, 400)]
    assert [(s.best.record.time_ms - T0) // S for s in steps] == [0, 10, 60]  # cam-d: all green alike


# --- SearchSimilar -------------------------------------------------------------------------------

def test_similar_finds_the_subject_on_the_other_cameras_of_the_ward(world: World) -> None:
    found = world.search.similar(world.caller("ward-a"), SEED, SearchQuery(top_k=10))
    assert _steps(found.result.hits) == [("cam-b", 60, 68)]
    details = world.notes.noted["search"]
    assert details["hit"] == {"camera_id": "cam-a", "time_ms": SEED.time_ms, "box": None}
    assert details["returned"] == [["cam-b", T0 + 60 * S, T0 + 68 * S]]
    assert details["include_same_camera"] is False and "similar" in world.observed


def test_similar_may_include_the_hits_own_camera_and_every_group_sees_more(world: World) -> None:
    same = world.search.similar(world.caller("ward-a"), SEED, SearchQuery(top_k=10), same_camera=True)
    assert sorted(_steps(same.result.hits)) == [("cam-a", 10, 18), ("cam-a", 300, 306), ("cam-b", 60, 68)]
    every = world.search.similar(world.caller(ALL_GROUPS), SEED, SearchQuery(top_k=10, frames=True))
    assert {h.camera_id for h in every.result.hits} == {"cam-b", "cam-c"}


def test_a_regions_stored_vector_is_found_by_its_box_within_a_printed_precision() -> None:
    index, box = FrameIndex(DIM), Box(0.125, 0.25, 0.375, 0.5)
    vectors = ColourEmbedder().embed_images([np.full((4, 4, 3), c, dtype=np.uint8) for c in (RED, GREEN)])
    index.add([_record("cam-a", T0), _record("cam-a", T0, box), _record("cam-a", T0 + 2000, box)],
              np.concatenate([vectors, vectors[1:]]))
    assert np.allclose(index.vector("cam-a", T0), vectors[0])  # the whole keyframe
    assert np.allclose(index.vector("cam-a", T0, Box(0.1250, 0.2500, 0.3750, 0.5004)), vectors[1])
    assert index.vector("cam-a", T0 + 2000) is None  # only a region is stored at that time
    assert index.vector("cam-a", T0, Box(0.13, 0.25, 0.375, 0.5)) is None
    assert index.vector("cam-b", T0) is None and index.vector("cam-a", T0 + 1000, box) is None


def test_an_excluded_camera_never_answers_a_search() -> None:
    index = _index(STAYS)
    query = ColourEmbedder().embed_texts(["red"])[0]
    hits = index.search(query, 50, SearchFilter(exclude_camera_ids=frozenset({"cam-a"})))
    assert len(hits) == 50 and "cam-a" not in {h.record.camera_id for h in hits}
    both = SearchFilter(camera_ids=frozenset({"cam-a", "cam-b"}), exclude_camera_ids=frozenset({"cam-a"}))
    assert {h.record.camera_id for h in index.search(query, 50, both)} == {"cam-b"}
