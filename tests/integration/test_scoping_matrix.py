"""The scoping matrix: every RPC × every role × own group / other group / missing object.

The RPCs come from the generated `vigil.v1` descriptors (tests/scoping.py), so a new RPC joins
the matrix by itself and fails it until it has a role policy in `services.api.access` and a
request builder in `CASES` below. The world is built once: two wards, a camera in each with
footage, a hold, an ingest job and an export in each, and one token per role limited to ward A
(plus a '*' admin that builds the world and reads it back).

Expectations, for a ward-A token:
- its role is not in the RPC's policy → PERMISSION_DENIED, whatever the target;
- own target → OK; another ward's target, or one that does not exist → NOT_FOUND (a hidden
  object is indistinguishable from a missing one); a list or search answers OK with nothing of
  ward B in it;
- no answer to a ward-A token ever names ward B's camera, group, segments, holds, jobs or tokens;
- a call aimed at ward B changes nothing of ward B (read back as the '*' admin).

Where "target" needs reading: RegisterCamera of a new id creates it (OK). A ward-A admin issues,
lists and revokes only ward-A tokens: CreateToken for another or an unknown group, or for '*',
is PERMISSION_DENIED, RevokeToken of a ward-B token NOT_FOUND, ListTokens shows ward-A tokens
only. IngestUri on the own camera uses a loopback URI, which the fetch policy refuses
(INVALID_ARGUMENT). Node-wide RPCs (`services.api.access.NODE_WIDE`: RunRetention, VerifyAudit,
GetAuditHead, GetStats, SwitchModel, GetModelStatus) act on every group, so a ward-A token is
PERMISSION_DENIED whatever its role; a '*' admin may call them
(`test_node_wide_rpcs_need_a_token_for_every_group`).

A cell is named `Method-role-scope`, e.g. `RegisterCamera-ingest-other`.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import itertools
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from services.api.access import NODE_WIDE, PERMISSIONS
from services.api.client import VigilClient
from services.api.timestamps import ts_from_ms
from services.security.auth import Role
from storage.media_tools import ffmpeg_exe
from storage.timeutil import to_ms
from tests.media import frame_png
from tests.scoping import Answer, Rpc, call, vigil_rpcs
from vigil.v1 import admin_pb2, cameras_pb2, common_pb2, ingest_pb2, playback_pb2, search_pb2, watch_pb2

Code = grpc.StatusCode
GROUP_A, GROUP_B, GROUP_GONE = "scoping-ward-a", "scoping-ward-b", "scoping-ward-gone"
CAM_A, CAM_B, CAM_GONE = "scoping-cam-a", "scoping-cam-b", "scoping-cam-gone"
ROLES = tuple(r.value for r in (Role.VIEWER, Role.INVESTIGATOR, Role.INGEST, Role.ADMIN))
SCOPES = ("own", "other", "missing")
TARGET = {"own": CAM_A, "other": CAM_B, "missing": CAM_GONE}
PUBLIC_URI = "http://93.184.215.14/footage.mp4"  # a global address: only the camera check refuses it
RPCS = {rpc.path: rpc for rpc in vigil_rpcs()}
# START is recent, so a retention sweep run by the matrix never deletes the world's footage.
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
SCENES_STORED = 5  # tests/media.SCENES: five 4 s scenes, one segment each
CHUNK = 1 << 20


def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True)
class Probe:
    """One cell's request, what an allowed role must get, and what must not change."""

    request: Message | list[Message]
    expect: frozenset[Code]
    check: Callable[[Any], None] = _nothing  # on the response, when the call succeeded
    observe: Callable[[], object] | None = None  # read as '*' admin before and after: must be equal
    observed: str = "ward B's camera"  # what `observe` reads, for the failure message
    cleanup: Callable[[], None] = _nothing  # as '*' admin: put back what a wrong answer changed


def expect(scope: str, own: Code = Code.OK, other: Code = Code.NOT_FOUND,
           missing: Code = Code.NOT_FOUND) -> frozenset[Code]:
    return frozenset({{"own": own, "other": other, "missing": missing}[scope]})


OK_ALWAYS = frozenset({Code.OK})
DENIED = frozenset({Code.PERMISSION_DENIED})


@dataclass
class World:
    """The objects of both wards and the tokens that probe them."""

    channel: grpc.Channel
    node: Any
    root: str  # a '*' admin token
    tokens: dict[str, str]  # role → a token limited to ward A
    token_b: str  # a ward-B viewer's token
    jobs: dict[str, str]  # camera → the job that ingested its footage
    segments: dict[str, str]  # camera → a stored segment key
    holds: dict[str, str]  # camera → a hold id
    cameras: dict[str, cameras_pb2.Camera]  # camera → its registration as built
    image: bytes
    upload: bytes
    loopback_uri: str
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def serial(self) -> int:
        return next(self._serial)

    def as_root(self, method: str, request: Message) -> Any:
        answer = call(self.channel, RPCS[f"/vigil.v1.{method}"], request, self.root)
        assert answer.code == Code.OK, f"'*' admin {method}: {answer.code.name} {answer.details}"
        return answer.response

    def ward_b_names(self) -> list[str]:
        """Strings of ward B that no answer to a ward-A token may contain."""
        return [CAM_B, GROUP_B, self.segments[CAM_B], self.holds[CAM_B], self.jobs[CAM_B]]

    def time_range(self, seconds: int = SCENES_STORED * 4) -> common_pb2.TimeRange:
        return common_pb2.TimeRange(start=ts_from_ms(to_ms(START)),
                                    end=ts_from_ms(to_ms(START + timedelta(seconds=seconds))))

    def camera(self, camera_id: str) -> cameras_pb2.Camera:
        return self.as_root("CameraService/GetCamera", cameras_pb2.GetCameraRequest(camera_id=camera_id))

    def restore_camera(self, camera_id: str) -> None:
        """Register the camera as built again if a call changed it, and wait for the group cache."""
        original = self.cameras[camera_id]
        if self.camera(camera_id) == original:
            return
        self.as_root("CameraService/RegisterCamera", cameras_pb2.RegisterCameraRequest(camera=original))
        deadline = time.monotonic() + 30
        groups = self.node.services.visibility.camera_groups
        while groups().get(camera_id) != original.group and time.monotonic() < deadline:
            time.sleep(0.2)

    def cameras_in(self, group: str) -> set[str]:
        listed = self.as_root("CameraService/ListCameras", cameras_pb2.ListCamerasRequest(group=group))
        return {c.camera_id for c in listed.cameras}

    def holds_on(self, camera_id: str) -> list[str]:
        holds = self.as_root("AdminService/ListHolds", admin_pb2.ListHoldsRequest()).holds
        return sorted(h.hold_id for h in holds if h.camera_id == camera_id)

    def fresh_hold(self, camera_id: str) -> str:
        return self.as_root("AdminService/PlaceHold", admin_pb2.PlaceHoldRequest(
            camera_id=camera_id, time_range=self.time_range(4), reason="scoping probe")).hold_id

    def release(self, hold_id: str) -> None:
        call(self.channel, RPCS["/vigil.v1.AdminService/ReleaseHold"],
             admin_pb2.ReleaseHoldRequest(hold_id=hold_id), self.root)

    def fresh_token(self, group: str) -> tuple[str, str]:
        r = self.as_root("AdminService/CreateToken", admin_pb2.CreateTokenRequest(
            subject=f"{group}-probe-{self.serial()}", role="viewer", groups=[group]))
        return r.token, r.token_hash

    def token_works(self, token: str) -> bool:
        answer = call(self.channel, RPCS["/vigil.v1.CameraService/ListCameras"],
                      cameras_pb2.ListCamerasRequest(), token)
        return answer.code == Code.OK

    def minted(self, subject: str) -> list[str]:
        return [t.token_hash for t in self.node.tokens.list() if t.subject == subject]

    def segments_of(self, camera_id: str) -> int:
        tr = common_pb2.TimeRange(start=ts_from_ms(to_ms(START - timedelta(hours=1))),
                                  end=ts_from_ms(to_ms(START + timedelta(hours=2))))
        answer = call(self.channel, RPCS["/vigil.v1.PlaybackService/GetPlaylist"],
                      playback_pb2.GetPlaylistRequest(camera_id=camera_id, time_range=tr), self.root)
        return answer.response.segments if answer.code == Code.OK else 0

    def exports_of(self, camera_id: str) -> list[str]:
        return sorted(o.key for o in self.node.store.list("exports/") if o.key.endswith(f"/{camera_id}.mp4"))

    def uploads(self, camera_id: str) -> list[Message]:
        header = ingest_pb2.IngestFileHeader(camera_id=camera_id, filename="scoping.mp4",
                                             start_time=ts_from_ms(to_ms(START)))
        chunks = [self.upload[i:i + CHUNK] for i in range(0, len(self.upload), CHUNK)]
        return [ingest_pb2.IngestFileRequest(header=header),
                *(ingest_pb2.IngestFileRequest(chunk=c) for c in chunks)]


# --- request builders, one per RPC: (world, role, scope) → Probe -------------------------------

Builder = Callable[[World, str, str], Probe]
CASES: dict[str, Builder] = {}


def case(method: str) -> Callable[[Builder], Builder]:
    def register(build: Builder) -> Builder:
        CASES[f"/vigil.v1.{method}"] = build
        return build
    return register


def _hits(scope: str) -> Callable[[search_pb2.SearchResponse], None]:
    def check(r: search_pb2.SearchResponse) -> None:
        cameras = {h.camera_id for h in r.hits}
        assert cameras == ({CAM_A} if scope == "own" else set()), cameras
    return check


def _search_filter(scope: str) -> search_pb2.SearchFilter:
    return search_pb2.SearchFilter(camera_ids={"own": [], "other": [CAM_B], "missing": [CAM_GONE]}[scope])


@case("SearchService/Search")
def _search(w: World, role: str, scope: str) -> Probe:
    return Probe(search_pb2.SearchRequest(text="a person walking a bicycle", top_k=50, frames=True,
                                          min_score=-1, filter=_search_filter(scope)),
                 OK_ALWAYS, _hits(scope))


@case("SearchService/SearchByImage")
def _search_by_image(w: World, role: str, scope: str) -> Probe:
    return Probe(search_pb2.SearchByImageRequest(image=w.image, top_k=50, frames=True, min_score=-1,
                                                 filter=_search_filter(scope)),
                 OK_ALWAYS, _hits(scope))


def _hit_ref(w: World, scope: str) -> search_pb2.HitRef:
    """A keyframe of the target camera (read as '*' admin); for a missing camera, ward A's time."""
    camera = TARGET[scope]
    hit = w.as_root("SearchService/Search", search_pb2.SearchRequest(
        text="street", top_k=1, frames=True, min_score=-1,
        filter=search_pb2.SearchFilter(camera_ids=[CAM_A if scope == "missing" else camera]))).hits[0]
    return search_pb2.HitRef(camera_id=camera, frame_time=hit.frame_time,
                             box=hit.box if hit.HasField("box") else None)


@case("SearchService/SearchSimilar")
def _search_similar(w: World, role: str, scope: str) -> Probe:
    return Probe(search_pb2.SearchSimilarRequest(hit=_hit_ref(w, scope), top_k=50, frames=True, min_score=-1,
                                                 include_same_camera=True),
                 expect(scope), _hits(scope))


@case("SearchService/Follow")
def _follow(w: World, role: str, scope: str) -> Probe:
    def check(r: search_pb2.FollowResponse) -> None:
        assert {s.camera_id for s in r.steps} == {CAM_A}, r.steps
    return Probe(search_pb2.FollowRequest(hit=_hit_ref(w, scope), min_score=-1, max_steps=50,
                                          filter=search_pb2.SearchFilter(time_range=w.time_range())),
                 expect(scope), check)


@case("PlaybackService/GetPlaylist")
def _get_playlist(w: World, role: str, scope: str) -> Probe:
    def check(r: playback_pb2.GetPlaylistResponse) -> None:
        assert r.segments == SCENES_STORED
    return Probe(playback_pb2.GetPlaylistRequest(camera_id=TARGET[scope], time_range=w.time_range()),
                 expect(scope), check)


@case("PlaybackService/GetClipUrl")
def _get_clip_url(w: World, role: str, scope: str) -> Probe:
    own = w.segments[CAM_A]
    key = {"own": own, "other": w.segments[CAM_B],
           "missing": own.replace(f"/{CAM_A}/", f"/{CAM_GONE}/")}[scope]

    def check(r: playback_pb2.GetClipUrlResponse) -> None:
        assert r.url
    return Probe(playback_pb2.GetClipUrlRequest(segment_key=key), expect(scope), check)


@case("PlaybackService/ListSegments")
def _list_segments(w: World, role: str, scope: str) -> Probe:
    def check(r: playback_pb2.ListSegmentsResponse) -> None:
        assert len(r.segments) == SCENES_STORED and w.segments[CAM_A] in {s.segment_key for s in r.segments}
    return Probe(playback_pb2.ListSegmentsRequest(camera_id=TARGET[scope], time_range=w.time_range()),
                 expect(scope), check)


@case("PlaybackService/ReadMedia")
def _read_media(w: World, role: str, scope: str) -> Probe:
    own = w.segments[CAM_A]
    key = {"own": own, "other": w.segments[CAM_B],
           "missing": own.replace(f"/{CAM_A}/", f"/{CAM_GONE}/")}[scope]

    def check(r: list[playback_pb2.MediaChunk]) -> None:
        assert r[0].content_type == "video/mp4" and r[0].data[4:8] == b"ftyp"
    return Probe(playback_pb2.ReadMediaRequest(key=key, length=1024), expect(scope), check)


@case("PlaybackService/ExportClip")
def _export_clip(w: World, role: str, scope: str) -> Probe:
    def check(r: playback_pb2.ExportClipResponse) -> None:
        assert [c.camera_id for c in r.clips] == [CAM_A]
    return Probe(playback_pb2.ExportClipRequest(camera_ids=[TARGET[scope]], time_range=w.time_range(8)),
                 expect(scope), check, observe=lambda: w.exports_of(CAM_B), observed="ward B's exports")


@case("CameraService/GetCamera")
def _get_camera(w: World, role: str, scope: str) -> Probe:
    def check(r: cameras_pb2.Camera) -> None:
        assert r == w.cameras[CAM_A]
    return Probe(cameras_pb2.GetCameraRequest(camera_id=TARGET[scope]), expect(scope), check)


@case("CameraService/ListCameras")
def _list_cameras(w: World, role: str, scope: str) -> Probe:
    group = {"own": "", "other": GROUP_B, "missing": GROUP_GONE}[scope]

    def check(r: cameras_pb2.ListCamerasResponse) -> None:
        listed = {c.camera_id for c in r.cameras}
        assert (CAM_A in listed) if scope == "own" else not listed, listed
    return Probe(cameras_pb2.ListCamerasRequest(group=group), OK_ALWAYS, check)


@case("CameraService/RegisterCamera")
def _register_camera(w: World, role: str, scope: str) -> Probe:
    camera = {
        "own": w.cameras[CAM_A],
        # the takeover: ward B's camera re-registered into ward A, with a one-day retention;
        # refused as NOT_FOUND, as every other path answers for a camera it hides
        "other": cameras_pb2.Camera(camera_id=CAM_B, name="taken over", group=GROUP_A, retention_days=1),
        "missing": cameras_pb2.Camera(camera_id=f"scoping-cam-new-{role}", name="new", group=GROUP_A,
                                      retention_days=30),
    }[scope]

    def check(r: cameras_pb2.Camera) -> None:
        assert r == camera
    return Probe(cameras_pb2.RegisterCameraRequest(camera=camera),
                 expect(scope, missing=Code.OK), check,
                 observe=lambda: w.camera(CAM_B), cleanup=lambda: w.restore_camera(CAM_B))


@case("CameraService/StopCamera")
def _stop_camera(w: World, role: str, scope: str) -> Probe:
    return Probe(cameras_pb2.StopCameraRequest(camera_id=TARGET[scope]), expect(scope),
                 observe=lambda: w.camera(CAM_B), cleanup=lambda: w.restore_camera(CAM_B))


@case("CameraService/GetCameraStatus")
def _get_camera_status(w: World, role: str, scope: str) -> Probe:
    def check(r: cameras_pb2.CameraStatus) -> None:
        assert r.camera_id == CAM_A and not r.recording
    return Probe(cameras_pb2.GetCameraStatusRequest(camera_id=TARGET[scope]), expect(scope), check)


@case("IngestService/IngestFile")
def _ingest_file(w: World, role: str, scope: str) -> Probe:
    def check(r: ingest_pb2.IngestFileResponse) -> None:
        assert len(r.job_id) == 32
    return Probe(w.uploads(TARGET[scope]), expect(scope), check, observe=lambda: w.segments_of(CAM_B),
                 observed="ward B's stored segments")


@case("IngestService/IngestUri")
def _ingest_uri(w: World, role: str, scope: str) -> Probe:
    # Own camera: a loopback URI, which the URL policy refuses (it could reach the node's own
    # services, e.g. the filer holding ward B's segments). Elsewhere the camera check refuses.
    uri = w.loopback_uri if scope == "own" else PUBLIC_URI
    return Probe(ingest_pb2.IngestUriRequest(camera_id=TARGET[scope], uri=uri,
                                             start_time=ts_from_ms(to_ms(START))),
                 expect(scope, own=Code.INVALID_ARGUMENT), observe=lambda: w.segments_of(CAM_B),
                 observed="ward B's stored segments")


def _job_probe(w: World, scope: str) -> Probe:
    job_id = {"own": w.jobs[CAM_A], "other": w.jobs[CAM_B], "missing": uuid.uuid4().hex}[scope]

    def check(r: ingest_pb2.Job | list[ingest_pb2.Job]) -> None:
        for job in r if isinstance(r, list) else [r]:
            assert job.job_id == job_id and job.camera_id == CAM_A
    return Probe(ingest_pb2.GetJobRequest(job_id=job_id), expect(scope), check)


@case("IngestService/GetJob")
def _get_job(w: World, role: str, scope: str) -> Probe:
    return _job_probe(w, scope)


@case("IngestService/WatchJob")
def _watch_job(w: World, role: str, scope: str) -> Probe:
    return _job_probe(w, scope)


@case("IngestService/ListJobs")
def _list_jobs(w: World, role: str, scope: str) -> Probe:
    def check(r: ingest_pb2.ListJobsResponse) -> None:
        assert w.jobs[CAM_A] in {j.job_id for j in r.jobs}
        assert {j.camera_id for j in r.jobs} <= w.cameras_in(GROUP_A)
    return Probe(ingest_pb2.ListJobsRequest(page_size=200), OK_ALWAYS, check)


@case("AdminService/PlaceHold")
def _place_hold(w: World, role: str, scope: str) -> Probe:
    def check(r: admin_pb2.Hold) -> None:
        assert r.camera_id == CAM_A
        w.release(r.hold_id)
    return Probe(admin_pb2.PlaceHoldRequest(camera_id=TARGET[scope], time_range=w.time_range(4),
                                            reason="scoping probe"),
                 expect(scope), check, observe=lambda: w.holds_on(CAM_B), observed="ward B's holds")


@case("AdminService/ReleaseHold")
def _release_hold(w: World, role: str, scope: str) -> Probe:
    hold_id = uuid.uuid4().hex if scope == "missing" else w.fresh_hold(TARGET[scope])
    return Probe(admin_pb2.ReleaseHoldRequest(hold_id=hold_id), expect(scope),
                 observe=lambda: w.holds_on(CAM_B), observed="ward B's holds",
                 cleanup=lambda: w.release(hold_id))


@case("AdminService/ListHolds")
def _list_holds(w: World, role: str, scope: str) -> Probe:
    def check(r: admin_pb2.ListHoldsResponse) -> None:
        assert w.holds[CAM_A] in {h.hold_id for h in r.holds}
        assert {h.camera_id for h in r.holds} <= w.cameras_in(GROUP_A)
    return Probe(admin_pb2.ListHoldsRequest(), OK_ALWAYS, check)


@case("AdminService/RunRetention")
def _run_retention(w: World, role: str, scope: str) -> Probe:
    return Probe(admin_pb2.RunRetentionRequest(), DENIED, observe=lambda: w.segments_of(CAM_B),
                 observed="ward B's stored segments")


@case("AdminService/CreateToken")
def _create_token(w: World, role: str, scope: str) -> Probe:
    subject = f"scoping-minted-{role}-{scope}"
    groups = {"own": [GROUP_A], "other": [GROUP_B], "missing": [GROUP_GONE]}[scope]

    def cleanup() -> None:
        for token_hash in w.minted(subject):
            w.node.tokens.revoke(token_hash)
    return Probe(admin_pb2.CreateTokenRequest(subject=subject, role="viewer", groups=groups),
                 expect(scope, other=Code.PERMISSION_DENIED, missing=Code.PERMISSION_DENIED),
                 observe=None if scope == "own" else lambda: w.minted(subject),
                 observed=f"the tokens of subject {subject}", cleanup=cleanup)


@case("AdminService/RevokeToken")
def _revoke_token(w: World, role: str, scope: str) -> Probe:
    if scope == "missing":
        return Probe(admin_pb2.RevokeTokenRequest(token_hash=hashlib.sha256(uuid.uuid4().bytes).hexdigest()),
                     expect(scope))
    token, token_hash = w.fresh_token(GROUP_A if scope == "own" else GROUP_B)

    def cleanup() -> None:
        if token_hash in {t.token_hash for t in w.node.tokens.list()}:
            w.node.tokens.revoke(token_hash)
    return Probe(admin_pb2.RevokeTokenRequest(token_hash=token_hash), expect(scope),
                 observe=None if scope == "own" else lambda: w.token_works(token),
                 observed="whether ward B's token works", cleanup=cleanup)


@case("AdminService/ListTokens")
def _list_tokens(w: World, role: str, scope: str) -> Probe:
    def check(r: Any) -> None:
        foreign = [(t.subject, list(t.groups)) for t in r.tokens if not set(t.groups) <= {GROUP_A}]
        assert not foreign, f"a ward-A admin is shown tokens of other groups: {foreign[:5]}"
    return Probe(admin_pb2.ListTokensRequest(), OK_ALWAYS, check)


@case("AdminService/VerifyAudit")
def _verify_audit(w: World, role: str, scope: str) -> Probe:
    return Probe(admin_pb2.VerifyAuditRequest(), DENIED)


@case("AdminService/GetAuditHead")
def _get_audit_head(w: World, role: str, scope: str) -> Probe:
    return Probe(admin_pb2.GetAuditHeadRequest(), DENIED)


@case("AdminService/GetStats")
def _get_stats(w: World, role: str, scope: str) -> Probe:
    return Probe(admin_pb2.GetStatsRequest(), DENIED)


@case("AdminService/SwitchModel")
def _switch_model(w: World, role: str, scope: str) -> Probe:
    # An empty model spec: should the scope check let it through, nothing would be switched.
    return Probe(admin_pb2.SwitchModelRequest(model=admin_pb2.ModelSpec()), DENIED)


@case("AdminService/GetModelStatus")
def _get_model_status(w: World, role: str, scope: str) -> Probe:
    return Probe(admin_pb2.GetModelStatusRequest(), DENIED)


def _watch_entries(w: World, camera_id: str) -> list[str]:
    """Ids of every watchlist entry scoped to the camera (read as '*' admin)."""
    listed = w.as_root("WatchService/ListWatches", watch_pb2.ListWatchesRequest()).entries
    return sorted(e.entry_id for e in listed if camera_id in e.camera_ids)


def _remove_watches_of(w: World, subject: str) -> None:
    for e in w.as_root("WatchService/ListWatches", watch_pb2.ListWatchesRequest()).entries:
        if e.created_by == subject:
            w.as_root("WatchService/RemoveWatch", watch_pb2.RemoveWatchRequest(entry_id=e.entry_id))


@case("WatchService/AddWatch")
def _add_watch(w: World, role: str, scope: str) -> Probe:
    def check(r: watch_pb2.WatchEntry) -> None:
        assert list(r.camera_ids) == [CAM_A]
    return Probe(watch_pb2.AddWatchRequest(text="a person carrying a bicycle", camera_ids=[TARGET[scope]]),
                 expect(scope), check, observe=lambda: _watch_entries(w, CAM_B),
                 observed="ward B's watchlists", cleanup=lambda: _remove_watches_of(w, f"scoping-{role}-a"))


@case("WatchService/ListWatches")
def _list_watches(w: World, role: str, scope: str) -> Probe:
    def check(r: watch_pb2.ListWatchesResponse) -> None:
        assert all(CAM_B not in e.camera_ids and e.created_by == f"scoping-{role}-a" for e in r.entries)
    return Probe(watch_pb2.ListWatchesRequest(), OK_ALWAYS, check)


@case("WatchService/RemoveWatch")
def _remove_watch(w: World, role: str, scope: str) -> Probe:
    entry_id = uuid.uuid4().hex
    if scope == "own" and Role(role) in PERMISSIONS["/vigil.v1.WatchService/AddWatch"]:
        entry_id = call(w.channel, RPCS["/vigil.v1.WatchService/AddWatch"], watch_pb2.AddWatchRequest(
            text="a red bicycle", camera_ids=[CAM_A]), w.tokens[role]).response.entry_id
    elif scope == "other":
        entry_id = w.as_root("WatchService/AddWatch", watch_pb2.AddWatchRequest(
            text="a red bicycle", camera_ids=[CAM_B])).entry_id
    return Probe(watch_pb2.RemoveWatchRequest(entry_id=entry_id), expect(scope),
                 observe=lambda: _watch_entries(w, CAM_B), observed="ward B's watchlists",
                 cleanup=lambda: _remove_watches_of(w, "scoping-root"))


@case("WatchService/WatchAlerts")
def _watch_alerts(w: World, role: str, scope: str) -> Probe:
    def check(r: list[watch_pb2.Alert]) -> None:
        assert all(a.camera_id == CAM_A for a in r), [a.camera_id for a in r]
    # From the first alert ever written, for one second: ward B's alerts would be in it.
    return Probe(watch_pb2.WatchAlertsRequest(cursor=f"{0:013d}-{'f' * 32}", follow_s=1.0), OK_ALWAYS, check)


# --- the world ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loopback_uri(video: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test video (moov first: http.server cannot serve ranges) from an HTTP server on loopback."""
    folder = tmp_path_factory.mktemp("scoping-http")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(video), "-c", "copy",
                    "-movflags", "+faststart", str(folder / "clip.mp4")], check=True, timeout=60)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/clip.mp4"
    httpd.shutdown()


@pytest.fixture(scope="module")
def world(server: Any, node: Any, admin_token: str, video: Path, loopback_uri: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Two wards with a camera, footage, an ingest job, a hold and an export each; ward-A tokens."""
    with VigilClient(server.address, admin_token) as admin:
        root = admin.create_token("scoping-root", "admin", ["*"])[0]
        tokens = {role: admin.create_token(f"scoping-{role}-a", role, [GROUP_A])[0] for role in ROLES}
        token_b = admin.create_token(f"{GROUP_B}-viewer", "viewer", [GROUP_B])[0]
        cameras = {cam: admin.register_camera(cameras_pb2.Camera(
            camera_id=cam, name=f"{group} gate", group=group, location=f"{group} market",
            retention_days=30)) for cam, group in ((CAM_A, GROUP_A), (CAM_B, GROUP_B))}
        jobs = {cam: admin.ingest_file(video, cam, START) for cam in cameras}
        for job_id in jobs.values():
            assert admin.wait_for_job(job_id, timeout_s=600).state == "succeeded"
        segments = {cam: admin.search("street", top_k=1, camera_ids=[cam], frames=True,
                                      min_score=-1).hits[0].segment_key for cam in cameras}
    channel = grpc.insecure_channel(server.address)
    w = World(channel=channel, node=node, root=root, tokens=tokens, token_b=token_b, jobs=jobs,
              segments=segments, holds={}, cameras=cameras, upload=video.read_bytes(),
              image=frame_png(video, 1.0, tmp_path_factory.mktemp("scoping") / "frame.png"),
              loopback_uri=loopback_uri)
    w.holds.update({cam: w.fresh_hold(cam) for cam in cameras})
    w.as_root("PlaybackService/ExportClip", playback_pb2.ExportClipRequest(
        camera_ids=[CAM_B], time_range=w.time_range(8)))
    yield w
    channel.close()


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(RPCS))
def test_every_rpc_has_a_role_policy(method: str) -> None:
    assert method in PERMISSIONS, (
        f"{method} has no role policy: add it to services.api.access.PERMISSIONS "
        "(until then every role is denied it)")


def test_every_role_policy_names_an_rpc() -> None:
    stale = sorted(set(PERMISSIONS) - set(RPCS))
    assert not stale, f"role policies for RPCs that no vigil.v1 service has: {stale}"


@pytest.mark.parametrize("method", sorted(RPCS))
def test_every_rpc_has_a_scoping_case(method: str) -> None:
    assert method in CASES, f"{method} has no scoping case: add a request builder to CASES in {__file__}"


def test_every_scoping_case_names_an_rpc() -> None:
    stale = sorted(set(CASES) - set(RPCS))
    assert not stale, f"scoping cases for RPCs that no vigil.v1 service has: {stale}"


def test_the_star_admin_sees_both_wards(world: World) -> None:
    """The world is what the matrix assumes: ward B's objects exist, hidden only by scoping."""
    assert {CAM_A, CAM_B} <= world.cameras_in(GROUP_A) | world.cameras_in(GROUP_B)
    assert world.holds_on(CAM_B) == [world.holds[CAM_B]]
    assert world.segments_of(CAM_A) == world.segments_of(CAM_B) == SCENES_STORED
    assert world.exports_of(CAM_B) and world.token_works(world.token_b)


# Cells that fail until a fix another helper is making lands: (method, role, scope) → reason.
PENDING: dict[tuple[str, str, str], str] = {}


def _cells() -> list[Any]:
    return [pytest.param(path, role, scope, id=f"{rpc.name}-{role}-{scope}",
                         marks=[pytest.mark.xfail(strict=True, reason=PENDING[rpc.name, role, scope])]
                         if (rpc.name, role, scope) in PENDING else [])
            for path, rpc in RPCS.items() for role in ROLES for scope in SCOPES]


def _ward_b_named(world: World, answer: Answer, request: Message | list[Message]) -> list[str]:
    """Ward B's names in an answer: anywhere in a response; in an error, those the request lacks."""
    if answer.code != Code.OK:
        asked = "\n".join(str(m) for m in (request if isinstance(request, list) else [request]))
        return [name for name in world.ward_b_names() if name in answer.details and name not in asked]
    messages = answer.response if isinstance(answer.response, list) else [answer.response]
    text = "\n".join(str(m) for m in messages)
    return [name for name in world.ward_b_names() if name in text]


@pytest.mark.parametrize(("method", "role", "scope"), _cells())
def test_scoping(world: World, method: str, role: str, scope: str) -> None:
    rpc: Rpc = RPCS[method]
    build = CASES.get(method)
    assert build is not None, f"{method} has no scoping case: add a request builder to CASES"
    probe = build(world, role, scope)
    allowed = Role(role) in PERMISSIONS.get(method, frozenset())
    wanted = probe.expect if allowed else frozenset({Code.PERMISSION_DENIED})
    before = probe.observe() if probe.observe is not None else None
    problems = []
    try:
        answer = call(world.channel, rpc, probe.request, world.tokens[role])
        if answer.code not in wanted:
            problems.append(f"got {answer.code.name} ({answer.details!r}), expected "
                            + " or ".join(sorted(c.name for c in wanted)))
        if leaked := _ward_b_named(world, answer, probe.request):
            problems.append(f"the answer names ward B's {leaked}")
        if answer.code == Code.OK:
            try:
                probe.check(answer.response)
            except AssertionError as exc:
                problems.append(f"the answer is wrong: {exc}")
        if probe.observe is not None and (after := probe.observe()) != before:
            problems.append(f"{probe.observed} changed: {before!r} became {after!r}")
    finally:
        probe.cleanup()
    assert not problems, f"{rpc.name} by a {GROUP_A} {role}, {scope} target: " + "; ".join(problems)


def test_a_ward_admin_cannot_mint_a_token_for_every_camera(world: World) -> None:
    subject = "scoping-escalation"
    answer = call(world.channel, RPCS["/vigil.v1.AdminService/CreateToken"],
                  admin_pb2.CreateTokenRequest(subject=subject, role="admin", groups=["*"]),
                  world.tokens["admin"])
    minted = world.minted(subject)
    for token_hash in minted:
        world.node.tokens.revoke(token_hash)
    assert answer.code == Code.PERMISSION_DENIED and not minted, (
        f"a {GROUP_A} admin asking for a '*' admin token got {answer.code.name}; minted {minted}")


@pytest.mark.parametrize("method", sorted(NODE_WIDE))
def test_node_wide_rpcs_need_a_token_for_every_group(world: World, method: str) -> None:
    """What a ward admin is refused, a '*' admin may do (SwitchModel gets an empty spec: refused
    as invalid after the scope check, so nothing is switched)."""
    request = {"RunRetention": admin_pb2.RunRetentionRequest(),
               "VerifyAudit": admin_pb2.VerifyAuditRequest(),
               "GetAuditHead": admin_pb2.GetAuditHeadRequest(),
               "GetStats": admin_pb2.GetStatsRequest(),
               "SwitchModel": admin_pb2.SwitchModelRequest(model=admin_pb2.ModelSpec()),
               "GetModelStatus": admin_pb2.GetModelStatusRequest()}[RPCS[method].name]
    answer = call(world.channel, RPCS[method], request, world.root)
    wanted = Code.INVALID_ARGUMENT if RPCS[method].name == "SwitchModel" else Code.OK
    assert answer.code == wanted, f"a '*' admin calling {method}: {answer.code.name} {answer.details}"
