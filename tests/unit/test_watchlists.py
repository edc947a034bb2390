"""Watchlist logic without servers: calibration, matching in scope, folding, the alert cursor,
webhook signatures and retries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
import pytest

from indexing.frame_columns import Box, FrameRecord
from indexing.watch import MIN_BACKGROUND, WatchMatcher, calibrate, calibrated_score, z_threshold
from services.application.audit import Caller
from services.application.watchlists import WatchlistService
from services.application.webhooks import WebhookDelivery, signature, verify
from services.errors import InvalidArgumentError
from services.security.auth import Principal, Role
from services.settings import WatchSettings
from storage.cameras import Camera, CameraRegistry
from storage.timeutil import now_ms
from storage.url_policy import CheckedUrl, UrlPolicy
from storage.watchlists import (
    Alert,
    EntryKind,
    EntryVector,
    WatchEntry,
    WatchStore,
    cursor_at,
    cursor_ms,
    in_daily_window,
)
from tests.memory_store import MemoryStore

DIM = 256
MODEL = "m1"
T0 = 1_700_000_000_000


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)
    return out


def background(n: int = 2000, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=(n, DIM)))


def record(camera: str, time_ms: int, box: Box | None = None) -> FrameRecord:
    return FrameRecord(camera, time_ms, time_ms + 1000, f"seg-{camera}", time_ms, time_ms + 2000,
                       f"thumb-{camera}-{time_ms}", box)


def entry(entry_id: str = "a" * 32, groups: tuple[str, ...] = ("*",), **kw: object) -> WatchEntry:
    fields: dict[str, object] = {"created_ms": T0, "fold_s": 60.0, "sensitivity": 0.5, **kw}
    return WatchEntry(entry_id, EntryKind.TEXT, "a red bicycle", "alice", groups, **fields)  # type: ignore[arg-type]


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    registry = CameraRegistry(s)
    registry.put(Camera("cam-a", group="ward-a"))
    registry.put(Camera("cam-b", group="ward-b"))
    return s


def add(store: MemoryStore, e: WatchEntry, query: np.ndarray) -> None:
    ws = WatchStore(store)
    ws.put_vector(calibrate(e.entry_id, MODEL, query, background()))
    ws.put_entry(e)


def test_one_sensitivity_means_the_same_background_rate_for_queries_of_different_scales() -> None:
    # Two queries whose raw cosines with footage sit at different levels: the same z threshold
    # lets through about the same small fraction of background frames for both.
    bg = background(5000)
    near = unit(bg[:50].mean(axis=0))  # a "popular" direction: high cosines everywhere
    far = unit(np.random.default_rng(9).normal(size=DIM))
    rates = []
    for q in (near, far):
        v = calibrate("e", MODEL, q, bg[:2500])
        held_out = bg[2500:] @ q
        rates.append(float(np.mean([calibrated_score(v, c) >= z_threshold(0.5) for c in held_out])))
    assert abs(rates[0] - rates[1]) < 0.005
    assert max(rates) < 0.01


def scored(cosines: np.ndarray) -> np.ndarray:
    """Unit vectors whose cosine with the first axis is `cosines`."""
    out = np.zeros((len(cosines), DIM), np.float32)
    out[:, 0], out[:, 1] = cosines, np.sqrt(1 - cosines**2)
    return out


def test_one_sensitivity_lets_through_the_same_share_of_background_whatever_its_shape() -> None:
    # A photo's cosines with street footage are roughly normal; a phrase's may be skewed with a long
    # upper tail (a few things nearly match it). Read from a mean and a standard deviation, the
    # same threshold would let through twenty times more of the skewed background; read from the
    # tail, about the same small share of each.
    rng, q = np.random.default_rng(5), np.eye(DIM, dtype=np.float32)[0]
    rates = []
    for draw in (lambda n: rng.normal(0.25, 0.03, n), lambda n: 0.1 + rng.exponential(0.02, n)):
        v = calibrate("e", MODEL, q, scored(draw(20_000)))
        held_out = draw(200_000)
        rates.append(float(np.mean([calibrated_score(v, c) >= z_threshold(0.5) for c in held_out])))
    assert all(0.0005 < r < 0.0025 for r in rates), rates  # 3 on this scale: about 1 in 700
    assert max(rates) / min(rates) < 1.6, rates


def test_regions_are_scored_against_a_background_of_regions(store: MemoryStore) -> None:
    # Crops sit closer to the query than whole frames do: a crop as close as crops usually are
    # does not alert, though it would against the whole frames' background.
    q = unit(np.random.default_rng(1).normal(size=DIM))
    frames, crops = background(500, seed=3), unit(background(500, seed=4) + 0.4 * q)
    ws = WatchStore(store)
    ws.put_vector(calibrate("a" * 32, MODEL, q, frames, crops))
    ws.put_entry(entry())
    typical_crop = crops[np.argsort(crops @ q)[len(crops) // 2]]
    box = Box(0.2, 0.2, 0.4, 0.6)
    matcher = WatchMatcher(store, MODEL)
    assert matcher.match([record("cam-a", T0 + 1, box)], typical_crop[None]) == []
    assert len(matcher.match([record("cam-b", T0 + 1)], typical_crop[None])) == 1


def test_sensitivity_outside_0_1_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"sensitivity 1\.5"):
        z_threshold(1.5)


def test_a_frame_like_the_query_alerts_with_its_box_and_a_distractor_does_not(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry(), q)
    matcher = WatchMatcher(store, MODEL)
    distractor = unit(np.random.default_rng(2).normal(size=DIM))
    box = Box(0.1, 0.2, 0.5, 0.6)
    alerts = matcher.match([record("cam-a", T0 + 1000, box), record("cam-a", T0 + 2000)],
                           np.stack([q, distractor]))
    assert len(alerts) == 1
    assert alerts[0].camera_id == "cam-a" and alerts[0].box == (0.1, 0.2, 0.5, 0.6)
    assert alerts[0].score > z_threshold(0.5)
    assert alerts[0].thumbnail_key == f"thumb-cam-a-{T0 + 1000}"


def test_repeats_on_one_camera_within_the_window_fold_into_one_alert(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry(), q)
    matcher = WatchMatcher(store, MODEL)
    times = [T0 + i * 10_000 for i in range(5)]  # 0..40 s: one window
    first = matcher.match([record("cam-a", t) for t in times], np.stack([q] * 5))
    other_camera = matcher.match([record("cam-b", T0 + 5000)], q[None])
    later = matcher.match([record("cam-a", T0 + 70_000)], q[None])  # past the 60 s window
    assert [a.time_ms for a in first] == [T0]
    assert len(other_camera) == 1
    assert len(later) == 1 and later[0].folded == 4


def test_an_entry_matches_only_its_scope_and_its_creators_groups(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry("b" * 32, groups=("ward-a",)), q)  # the creator sees ward-a only
    add(store, entry("c" * 32, cameras=("cam-b",)), q)  # an admin's entry scoped to cam-b
    matcher = WatchMatcher(store, MODEL)
    alerts = matcher.match([record("cam-a", T0 + 1), record("cam-b", T0 + 1)], np.stack([q, q]))
    assert {(a.entry_id[0], a.camera_id) for a in alerts} == {("b", "cam-a"), ("c", "cam-b")}


def test_a_camera_registered_after_the_matcher_read_the_groups_is_matched_with_its_group(
        store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry("b" * 32, groups=("ward-a",)), q)  # the creator sees ward-a only
    matcher = WatchMatcher(store, MODEL)
    assert len(matcher.match([record("cam-a", T0 + 1)], q[None])) == 1  # groups read now
    CameraRegistry(store).put(Camera("cam-a2", group="ward-a"))  # registered, ingested at once
    CameraRegistry(store).put(Camera("cam-b2", group="ward-b"))
    alerts = matcher.match([record("cam-a2", T0 + 2), record("cam-b2", T0 + 2)], np.stack([q, q]))
    assert [a.camera_id for a in alerts] == ["cam-a2"]


def test_expired_entries_and_footage_outside_the_daily_window_do_not_alert(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry("d" * 32, expires_ms=T0 + 1000), q)
    night = (22 * 60, 6 * 60)
    add(store, entry("e" * 32, window_min=night), q)
    matcher = WatchMatcher(store, MODEL, clock_ms=lambda: T0 + 2000)  # "d" has expired
    noon = T0 - T0 % 86_400_000 + 86_400_000 + 12 * 3_600_000
    alerts = matcher.match([record("cam-a", noon)], q[None])
    assert alerts == []
    assert in_daily_window(noon - 13 * 3_600_000, night)  # 23:00 is in a window past midnight


def test_an_entry_stops_alerting_when_it_expires_with_nothing_else_changed(store: MemoryStore) -> None:
    """The matcher keeps its arrays between batches while the bucket is unchanged; an entry's
    expiry on the clock still takes it out at once."""
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry("d" * 32, expires_ms=T0 + 1000), q)
    now = [T0]
    matcher = WatchMatcher(store, MODEL, clock_ms=lambda: now[0])
    assert len(matcher.match([record("cam-a", T0)], q[None])) == 1
    now[0] = T0 + 1000
    assert matcher.match([record("cam-b", T0 + 1)], q[None]) == []


def test_footage_recorded_before_the_entry_was_added_is_watched_when_it_is_ingested(
        store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry(), q)
    assert len(WatchMatcher(store, MODEL).match([record("cam-a", T0 - 86_400_000)], q[None])) == 1


def test_an_entry_without_enough_background_is_not_matched_yet(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    ws = WatchStore(store)
    ws.put_vector(calibrate("a" * 32, MODEL, q, background(MIN_BACKGROUND - 1)))
    ws.put_entry(entry())
    assert WatchMatcher(store, MODEL).match([record("cam-a", T0 + 1)], q[None]) == []


def test_a_removed_entry_stops_matching_at_the_next_refresh(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    add(store, entry(), q)
    matcher = WatchMatcher(store, MODEL)
    assert matcher.match([record("cam-a", T0 + 1)], q[None])
    WatchStore(store).remove_entry("a" * 32)
    matcher.refresh()
    assert matcher.match([record("cam-b", T0 + 1)], q[None]) == []
    assert not [k for k in store.objects if "/" + "a" * 32 in k and "alerts" not in k]


def test_a_due_refresh_lists_entries_only_after_a_change(store: MemoryStore) -> None:
    q = unit(np.random.default_rng(1).normal(size=DIM))
    matcher = WatchMatcher(store, MODEL)
    matcher.refresh()
    listed: list[str] = []
    original = store.list

    def counting(prefix: str) -> Any:
        listed.append(prefix)
        return original(prefix)

    store.list = counting  # type: ignore[method-assign]
    matcher.refresh(full=False)
    assert not [p for p in listed if p.startswith("watch/")]  # nothing changed: one small GET
    add(store, entry(), q)  # a new entry rewrites the change token
    matcher.refresh(full=False)
    assert [p for p in listed if p.startswith("watch/entries/")]
    assert len(matcher.match([record("cam-a", T0 + 1)], q[None])) == 1


def _alert(i: int) -> Alert:
    return Alert(f"{i:032x}", "a" * 32, "cam-a", T0 + i, 5.0, 0.9, "t", "s")


def test_the_cursor_resumes_after_the_last_alert_without_loss_or_repeat() -> None:
    store = MemoryStore()
    ws, clock = WatchStore(store), iter(range(T0, T0 + 10**9, 700_000))  # 11.7 min per write: hours apart
    written = [ws.put_alert(_alert(i), settle_ms=10**9, clock_ms=lambda: next(clock)) for i in range(12)]
    first = list(ws.alerts_after(cursor_at(T0 - 1), until_ms=T0 + 10**9))
    assert [a.alert_id for a in first] == [a.alert_id for a in written]
    resumed = list(ws.alerts_after(first[4].cursor, until_ms=T0 + 10**9))
    assert [a.alert_id for a in resumed] == [a.alert_id for a in written[5:]]
    assert cursor_ms(first[4].cursor) == written[4].written_ms
    from_the_start = list(ws.alerts_after(cursor_at(0), until_ms=T0 + 10**9))  # one listing, not 470k
    assert [a.alert_id for a in from_the_start] == [a.alert_id for a in written]


def test_alerts_newer_than_the_settle_time_wait_for_the_next_read() -> None:
    store = MemoryStore()
    ws = WatchStore(store)
    ws.put_alert(_alert(1), settle_ms=1000, clock_ms=lambda: T0)
    assert list(ws.alerts_after(cursor_at(T0 - 1), until_ms=T0 - 1)) == []
    assert len(list(ws.alerts_after(cursor_at(T0 - 1), until_ms=T0))) == 1


def test_a_slow_alert_write_is_written_again_under_a_fresh_key() -> None:
    store = MemoryStore()
    ticks = iter([T0, T0 + 5000, T0 + 5001, T0 + 5002])  # first PUT took 5 s
    stored = WatchStore(store).put_alert(_alert(1), settle_ms=1000, clock_ms=lambda: next(ticks))
    assert stored.written_ms == T0 + 5001
    alerts = list(WatchStore(store).alerts_after(cursor_at(T0 - 1), until_ms=T0 + 10_000))
    assert len(alerts) == 2 and len({a.alert_id for a in alerts}) == 1  # readers drop the repeat by id


def test_a_cursor_not_handed_out_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'nope' is not one this server handed out"):
        cursor_ms("nope")


def test_webhook_signature_verifies_and_a_changed_body_does_not() -> None:
    header = signature(b"k", b'{"a":1}', 1700000000)
    assert verify(b"k", b'{"a":1}', header)
    assert not verify(b"k", b'{"a":2}', header)
    assert not verify(b"other", b'{"a":1}', header)


class _Audit:
    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []

    def append(self, caller: str, action: str, details: dict[str, object]) -> object:
        self.records.append(details)
        return None


def test_webhook_retries_with_backoff_then_gives_up_and_audits_without_the_secret() -> None:
    store, audit, sleeps = MemoryStore(), _Audit(), list[float]()
    statuses = iter([500, 503, 200])
    sent: list[dict[str, str]] = []

    def send(checked: CheckedUrl, body: bytes, headers: dict[str, str], timeout: float) -> int:
        sent.append(headers)
        return next(statuses)

    e = entry(webhook_url="http://203.0.113.5/hook", webhook_secret="s3cret")
    policy = UrlPolicy.from_settings([], [], webhook_allow=["203.0.113.0/24"])
    delivery = WebhookDelivery(WatchStore(store), WatchSettings(webhook_attempts=3), lambda: policy,
                               audit, send=send, sleep=sleeps.append)
    assert delivery.deliver(_alert(1), e)
    assert sleeps == [0.5, 1.0]
    assert all(h["X-Vigil-Signature"].startswith("t=") and ",v1=" in h["X-Vigil-Signature"] for h in sent)
    assert audit.records[-1]["delivered"] is True and audit.records[-1]["attempts"] == 3
    assert "s3cret" not in repr(audit.records) and "s3cret" not in repr(e)
    statuses = iter([500] * 3)
    assert not delivery.deliver(_alert(2), e)
    assert audit.records[-1]["delivered"] is False and audit.records[-1]["error"] == "HTTP 500"


def test_a_webhook_to_loopback_is_refused_with_the_setting_to_change() -> None:
    audit = _Audit()
    delivery = WebhookDelivery(WatchStore(MemoryStore()), WatchSettings(), lambda: UrlPolicy(), audit,
                               send=lambda *a: 200, sleep=lambda s: None)
    assert not delivery.deliver(_alert(1), entry(webhook_url="http://127.0.0.1:9/hook"))
    assert "fetch.webhook_allow" in str(audit.records[-1]["error"])


class _SeesAll:
    def sees(self, principal: object, camera_id: str) -> bool:
        return True


def _service(store: MemoryStore, clock: Any, poll_s: float = 0.05) -> WatchlistService:
    return WatchlistService(_SeesAll(), WatchStore(store), None, None,  # type: ignore[arg-type]
                            WatchSettings(poll_s=poll_s), UrlPolicy, lambda key: f"https://thumbs/{key}",
                            clock_ms=clock)


CALLER = Caller(Principal("alice", Role.INVESTIGATOR, frozenset({"*"})))


async def _first(stream: Any, n: int) -> list[Alert]:
    return [(await asyncio.wait_for(anext(stream), 30)).alert for _ in range(n)]


async def _all(stream: Any) -> list[Alert]:
    return [view.alert async for view in stream]


def test_an_alert_is_streamed_as_soon_as_it_is_stored_and_its_cursor_loses_and_repeats_nothing() -> None:
    store, now = MemoryStore(), [T0 + 10_000]
    ws = WatchStore(store)
    settled = ws.put_alert(_alert(1), settle_ms=1000, clock_ms=lambda: T0 + 5_000)
    young = ws.put_alert(_alert(2), settle_ms=1000, clock_ms=lambda: T0 + 10_000)  # just stored
    service = _service(store, lambda: now[0])
    first = asyncio.run(_first(service.alerts(CALLER, cursor_at(T0)), 2))
    assert [a.alert_id for a in first] == [settled.alert_id, young.alert_id]  # the young one at once
    assert first[0].cursor == settled.cursor  # settled: resume right after it
    # an alert whose write began before the young one's and ended after the read (another writer)
    late = ws.put_alert(_alert(3), settle_ms=1000, clock_ms=iter([T0 + 9_500, T0 + 9_600]).__next__)
    now[0] = T0 + 20_000
    resumed = asyncio.run(_first(service.alerts(CALLER, first[1].cursor), 1))
    assert [a.alert_id for a in resumed] == [late.alert_id]
    again = asyncio.run(_all(service.alerts(CALLER, resumed[0].cursor, follow_s=0.5)))
    assert again == []  # and nothing after it: the young alert is not repeated
    with pytest.raises(InvalidArgumentError, match="'1700000000000-x' is not one this server"):
        asyncio.run(_first(service.alerts(CALLER, "1700000000000-x"), 1))
    with pytest.raises(InvalidArgumentError, match=r"at most 64 '\.'-separated alert ids"):
        asyncio.run(_first(service.alerts(CALLER, f"{cursor_at(T0)}.nothex"), 1))


def test_a_ring_of_the_bell_wakes_an_open_stream_before_its_next_poll() -> None:
    store = MemoryStore()
    service = _service(store, now_ms, poll_s=10.0)  # a poll would come 10 s later

    async def follow() -> Alert:
        stream = service.alerts(CALLER, "")
        pending = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.2)  # the stream has read the (empty) bucket and waits
        stored = await asyncio.to_thread(WatchStore(store).put_alert, _alert(4), 1000)
        service.bell.ring()
        got = await asyncio.wait_for(pending, 5.0)
        assert got.alert.alert_id == stored.alert_id
        return got.alert

    assert asyncio.run(follow()).entry_id == "a" * 32


def test_a_webhook_gets_an_alert_as_soon_as_it_is_stored_and_only_once() -> None:
    store, now, posted = MemoryStore(), [T0 + 10_000], list[str]()
    ws = WatchStore(store)
    ws.put_entry(entry(webhook_url="http://203.0.113.5/hook", webhook_secret="s3cret"))

    def send(checked: CheckedUrl, body: bytes, headers: dict[str, str], timeout: float) -> int:
        posted.append(json.loads(body)["alert_id"])
        return 200

    policy = UrlPolicy.from_settings([], [], webhook_allow=["203.0.113.0/24"])
    delivery = WebhookDelivery(ws, WatchSettings(), lambda: policy, _Audit(), send=send,
                               sleep=lambda s: None, clock_ms=lambda: now[0])
    assert delivery.run_once() == 0  # the cursor starts from now
    stored = ws.put_alert(_alert(1), settle_ms=1000, clock_ms=lambda: now[0] + 1)
    now[0] += 2
    assert delivery.run_once() == 1 and posted == [stored.alert_id]  # 1 ms old: not waiting to settle
    assert delivery.run_once() == 0
    now[0] += 5000
    assert delivery.run_once() == 0 and posted == [stored.alert_id]


def test_a_vector_stored_by_the_previous_version_is_read_and_scored() -> None:
    # Written before the tail calibration: a mean and a standard deviation, used as centre and
    # scale until the next recalibration rewrites it.
    q = unit(np.random.default_rng(2).normal(size=DIM))
    new = json.loads(calibrate("e", MODEL, q, background(500)).to_json())
    for old, now in {"background_mean": "background_centre", "background_std": "background_scale",
                     "region_mean": "region_centre", "region_std": "region_scale"}.items():
        new[old] = new.pop(now)
    old_vector = EntryVector.from_json(json.dumps(new).encode())
    assert calibrated_score(old_vector, float(q @ q)) > 10
