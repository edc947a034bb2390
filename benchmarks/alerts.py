"""Do watchlist alerts find the subject on every camera it passes, soon enough, and cheaply?

`python -m benchmarks.alerts --out benchmarks/results/alerts.json [--quick]`

1. Footage: held-out synthetic cameras (the riverside and parking layouts training never saw,
   and the demo's alley), at night. The stolen bicycle of the demo (the thief and the bike as
   in `indexing.world.demo`, the resident's photo of it) passes every camera several times,
   carried or pushed; distractors are other people carrying or pushing bicycles of other colours,
   and the usual traffic (motorbikes, people, cars, dogs). A minute of other traffic per camera
   is ingested as files first: the background entries are calibrated against.
2. Entries, added before the replay: the resident's photo (relevant: the thief's visits), and
   texts in English and Vietnamese ("a person carrying a bicycle" / "người vác xe đạp",
   "a person pushing a bicycle" / "người dắt xe đạp"; relevant: every such crossing), each at
   sensitivity 0.5 (the default) and 0.75.
3. Replay: each camera is a real ffmpeg sender (`-re`, MPEG-TS over UDP on loopback) recorded
   live by the node; alerts are followed on `WatchAlerts` and timed when they arrive.
4. Scores per entry kind and language: recall = relevant crossings with an alert during them
   (±1 s), precision = alerts that fall in a relevant crossing of their camera; latency = arrival
   minus the alert's frame time (both this machine's wall clock), p50/p99.
   Latency by stage (`stages_s`, p50/p99/max), from the recorders' per-segment stage times
   (`LiveStatus.recent`), the alert's write time and its arrival: frame → its segment closed
   (the segment's end) → listed by the recorder → stored → keyframes decoded → embedded (frames
   and regions) → alert stored (matched, written) → indexed (logged) / delivered on the stream;
   for every alert (`alerts`) and every segment (`segments`). Segment gaps, and the first and last
   segment against the senders' start and end, tell reconnects inside the replay from those
   around it.
5. Cost: 1,000 active entries in the bucket (scoped to another camera, so what fires is scope-
   checked but not written: an alert's write depends on how often entries fire, not on how many
   there are), a matcher like the writers' timed on batches of stored vectors (matrix product,
   threshold, scope checks, refreshes at the writers' cadence), against the file ingest time per
   vector (keyframe or region) measured in step 1.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness

SEED = 7
SIZE = (640, 360)
TOLERANCE_S = 1.0
QUERIES = {  # name → (kind, language, text)
    "photo": ("photo", "-", ""),
    "carry-en": ("text", "en", "a person carrying a bicycle"),
    "carry-vi": ("text", "vi", "người vác xe đạp"),
    "push-en": ("text", "en", "a person pushing a bicycle"),
    "push-vi": ("text", "vi", "người dắt xe đạp"),
}
LIVE_BATCH_VECTORS = 12  # a 4 s segment: 2 keyframes, each with its regions (measured: ~5.5 vectors each)
FOLD_S = 20.0  # watch.fold_s of the run: an entry's alerts on one camera this far apart are separate
SENSITIVITIES = (0.5, 0.75)  # each query is added at each: the server's default, and more alerts


@dataclass(frozen=True)
class Visit:
    camera_id: str
    start_s: float
    end_s: float
    thief: bool
    action: str  # carried | pushed


def scenarios(duration_s: float, seed: int = SEED) -> tuple[Any, Any, list[Visit]]:
    """(replayed scenario, background scenario, bicycle visits of the replay); `seed` draws the
    cameras, the thief and the traffic (the live run uses SEED)."""
    from indexing.world.demo import THIEF_ID, demo_scenario, thief_labels
    from indexing.world.script import Camera, Crossing, Scenario, traffic
    from indexing.world.truth import Action, ActorKind, ActorLabel, Colour, Gender, Layout, Lighting

    rng = random.Random(seed)
    carried, pushed = thief_labels(seed)
    style = next(e.style for e in demo_scenario(seed).events if e.actor_id == THIEF_ID)
    cameras = (Camera("cam-song-1", Layout.RIVERSIDE, Lighting.NIGHT, rng.getrandbits(32)),
               Camera("cam-baixe-1", Layout.PARKING, Lighting.NIGHT, rng.getrandbits(32)),
               Camera("cam-hem-12", Layout.ALLEY, Lighting.NIGHT, rng.getrandbits(32)))
    others = [c for c in Colour if c not in (carried.colour, Colour.BLACK)]
    events, visits = [], []
    for i, cam in enumerate(cameras):
        t, n = 20.0 + 15.0 * i, 0
        while t < duration_s - 20.0:
            thief = n % 2 == 0
            label = ((carried if n % 4 == 0 else pushed) if thief else ActorLabel(
                ActorKind.BICYCLE, Action.CARRIED if n % 4 == 1 else Action.PUSHED, colour=rng.choice(others),
                person_colour=rng.choice(others), gender=rng.choice(list(Gender))))
            event = Crossing(cam.camera_id, THIEF_ID if thief else f"rider-{i}-{n}", label, t, 11.0, y=0.9,
                             direction=1 if n % 3 else -1, style=style if thief else rng.getrandbits(32))
            events.append(event)
            visits.append(Visit(cam.camera_id, t, t + 11.0, thief, label.action.value))
            t, n = t + 45.0, n + 1
        busy = [(v.start_s - 2, v.end_s + 2) for v in visits if v.camera_id == cam.camera_id]
        events += [e for e in traffic(rng, cam.camera_id, duration_s, f"{cam.camera_id}-t", gap_s=(6.0, 12.0))
                   if all(e.end_s < lo or e.start_s > hi for lo, hi in busy)]
    replay = Scenario(f"alerts-{seed}-{int(duration_s)}", cameras, duration_s, 10, tuple(events))
    bg_events = tuple(e for cam in cameras for e in traffic(rng, cam.camera_id, 60.0, f"{cam.camera_id}-bg"))
    background = Scenario(f"alerts-bg-{seed}", cameras, 60.0, 10, bg_events)
    return replay, background, visits


def is_relevant(name: str, visit: Visit) -> bool:
    if name == "photo":
        return visit.thief
    return visit.action == ("carried" if name.startswith("carry") else "pushed")


def _sender(video: Path, port: int) -> subprocess.Popen[bytes]:
    from storage.media_tools import ffmpeg_exe

    return subprocess.Popen([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-i",
                             str(video), "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])


class _Tail(threading.Thread):
    """Collects alerts from WatchAlerts with their arrival time."""

    def __init__(self, channel: Any, follow_s: float) -> None:
        super().__init__(daemon=True)
        self._channel, self._follow_s = channel, follow_s
        self.alerts: list[tuple[Any, float]] = []

    def run(self) -> None:
        from services.api.watch_client import tail_alerts

        for alert in tail_alerts(self._channel, "", (), follow_s=self._follow_s):
            self.alerts.append((alert, time.time()))


def _score(name: str, entry_id: str, alerts: list[tuple[Any, float]], visits: list[Visit],
           t0: dict[str, float]) -> dict[str, Any]:
    mine = [(a, at) for a, at in alerts if a.entry_id == entry_id]
    latencies = np.array([at - a.frame_time.ToMilliseconds() / 1000 for a, at in mine])
    return {**score(name, [(a.camera_id, a.frame_time.ToMilliseconds() / 1000 - t0[a.camera_id])
                           for a, _ in mine], visits),
            "latency_s": {"p50": float(np.percentile(latencies, 50)),
                          "p99": float(np.percentile(latencies, 99)),
                          "max": float(latencies.max())} if latencies.size else None,
            "scores": sorted(round(a.score, 2) for a, _ in mine)}


def score(name: str, alerts: list[tuple[str, float]], visits: list[Visit]) -> dict[str, Any]:
    """Recall and precision of an entry's alerts, each (camera, seconds into the replay)."""
    relevant = [v for v in visits if is_relevant(name, v)]
    hit: set[int] = set()
    true_alerts = on_other_bicycles = 0
    false: list[tuple[str, float, str]] = []
    for camera_id, s in alerts:
        during = [v for v in visits if v.camera_id == camera_id
                  and v.start_s - TOLERANCE_S <= s <= v.end_s + TOLERANCE_S]
        found = [relevant.index(v) for v in during if v in relevant]
        hit.update(found)
        true_alerts += bool(found)
        on_other_bicycles += bool(during) and not found
        if not found:
            false.append((camera_id, round(s, 1), "other bicycle" if during else "elsewhere"))
    return {"alerts": len(alerts), "relevant_visits": len(relevant), "visits_alerted": len(hit),
            "recall": len(hit) / len(relevant) if relevant else None,
            "precision": true_alerts / len(alerts) if alerts else None,
            "false_alerts_on_other_bicycles": on_other_bicycles,
            "false_alerts_elsewhere": len(alerts) - true_alerts - on_other_bicycles,
            "false_alerts": sorted(false, key=lambda f: f[1]),  # (camera, s into the replay, where)
            "cameras_alerted": sorted({relevant[i].camera_id for i in hit}),
            "cameras_passed": sorted({v.camera_id for v in relevant}),
            "visits_alerted_by_action": {a: _share([relevant[i] for i in hit], relevant, a)
                                         for a in sorted({v.action for v in relevant})}}


def _share(hit: list[Visit], relevant: list[Visit], action: str) -> str:
    return f"{sum(v.action == action for v in hit)} / {sum(v.action == action for v in relevant)}"


def _wait_listening(node: Any, cameras: list[str], timeout_s: float = 300.0) -> None:
    """Until every recorder is up (its actor answers: under load it takes seconds to start),
    and a little longer for its ffmpeg to listen: footage sent before is lost (UDP)."""
    deadline = time.monotonic() + timeout_s
    while any(node.live.status(c).last_error == "the recorder is restarting" for c in cameras):
        if time.monotonic() > deadline:
            raise TimeoutError(f"live recorders not started within {timeout_s} s")
        time.sleep(0.5)
    time.sleep(1.5)


def _live_status(s: Any, duration_s: float, t0: float, sent_s: float) -> dict[str, Any]:
    """A recorder's final status; segment gaps (s after the sender started, length) and where
    the recording began and ended against the sender."""
    recent = sorted(s.recent, key=lambda g: g.start_ms)
    gaps = [(round(b.start_ms / 1000 - t0, 1), round((b.start_ms - a.end_ms) / 1000, 1))
            for a, b in itertools.pairwise(recent) if b.start_ms - a.end_ms > 100]
    return {"segments_stored": s.segments_stored, "keyframes_indexed": s.keyframes_indexed,
            "vectors_indexed": s.vectors_indexed,
            "expected_keyframes": int(duration_s / 2), "queue_depth": s.queue_depth,
            "reconnects": s.reconnects, "last_error": s.last_error,
            "first_segment_start_s": round(recent[0].start_ms / 1000 - t0, 2) if recent else None,
            "last_segment_end_s": round(recent[-1].end_ms / 1000 - t0, 2) if recent else None,
            "sender_ended_s": round(sent_s - t0, 2), "gaps_s": gaps,
            "slowest_listed": [(round(g.end_ms / 1000 - t0, 1), round((g.listed_ms - g.end_ms) / 1000, 2))
                               for g in sorted(recent, key=lambda g: g.end_ms - g.listed_ms)[:3]]}


STAGES = ("closed", "listed", "stored", "decoded", "embedded", "alert_stored", "delivered")


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.array(values)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3),
            "max": round(float(a.max()), 3), "n": int(a.size)}


def _stages(recent: dict[str, list[Any]], alerts: list[tuple[Any, float]]) -> dict[str, Any]:
    """Seconds spent in each stage (see the module's step 4), per alert and per segment."""
    per_segment: dict[str, list[float]] = {k: [] for k in ("listed", "stored", "decoded", "embedded",
                                                           "indexed", "end_to_indexed")}
    for timings in recent.values():
        for g in timings:
            t = g.times
            marks = [g.end_ms, g.listed_ms, t.stored_ms, t.decoded_ms, t.embedded_ms, t.indexed_ms]
            if not all(marks):
                continue
            for name, a, b in zip(("listed", "stored", "decoded", "embedded", "indexed"), marks, marks[1:],
                                  strict=False):
                per_segment[name].append((b - a) / 1000)
            per_segment["end_to_indexed"].append((t.indexed_ms - g.end_ms) / 1000)
    per_alert: dict[str, list[float]] = {k: [] for k in (*STAGES, "total", "unexplained")}
    seen = set()
    for a, arrived in alerts:
        if a.alert_id in seen:
            continue
        seen.add(a.alert_id)
        frame_ms = a.frame_time.ToMilliseconds()
        g = next((g for g in recent.get(a.camera_id, []) if g.start_ms <= frame_ms < g.end_ms), None)
        written_ms = a.written.ToMilliseconds()
        if g is None or not all((g.listed_ms, g.times.stored_ms, g.times.decoded_ms, g.times.embedded_ms)):
            per_alert["unexplained"].append(arrived - frame_ms / 1000)
            continue
        marks = [frame_ms, g.end_ms, g.listed_ms, g.times.stored_ms, g.times.decoded_ms, g.times.embedded_ms,
                 written_ms, round(arrived * 1000)]
        for name, x, y in zip(STAGES, marks, marks[1:], strict=False):
            per_alert[name].append((y - x) / 1000)
        per_alert["total"].append((marks[-1] - frame_ms) / 1000)
    return {"alerts": {k: _percentiles(v) for k, v in per_alert.items()},
            "segments": {k: _percentiles(v) for k, v in per_segment.items()}}


def _oracle(node: Any, name: str, entry_id: str, visits: list[Visit], t0: dict[str, float]) -> dict[str, Any]:
    """What the stored vectors of the replay score for the entry (its calibration): the best
    calibrated score in each relevant visit, and the best ones elsewhere: are misses the model's,
    or the pipeline's?"""
    from indexing.watch import calibrated_score
    from storage.watchlists import WatchStore

    vector = WatchStore(node.store).vector(node.model_id, entry_id)
    if vector is None:
        return {}
    relevant = [v for v in visits if is_relevant(name, v)]
    best: dict[int, float] = {}
    elsewhere: list[float] = []
    for r in node.index.records():
        if r.camera_id not in t0 or r.time_ms < t0[r.camera_id] * 1000:
            continue
        stored = node.index.vector(r.camera_id, r.time_ms, r.box)
        if stored is None:
            continue
        z = calibrated_score(vector, float(np.asarray(stored, np.float32) @ vector.vector), r.box is not None)
        s = r.time_ms / 1000 - t0[r.camera_id]
        inside = [i for i, v in enumerate(relevant) if v.camera_id == r.camera_id
                  and v.start_s - TOLERANCE_S <= s <= v.end_s + TOLERANCE_S]
        for i in inside:
            best[i] = max(best.get(i, -99.0), z)
        if not inside:
            elsewhere.append(z)
    return {"visit_best_z": [round(best.get(i, float("nan")), 2) for i in range(len(relevant))],
            "top_z_elsewhere": [round(z, 2) for z in sorted(elsewhere)[-8:]],
            "vectors_elsewhere": len(elsewhere)}


def _cost(node: Any, model_id: str, cameras: list[str], ingest_s_per_vector: float,
          batch: int) -> dict[str, Any]:
    """A writer's matching work per vector (keyframe or region) with 1,000 active entries,
    against file ingest's wall time per vector."""
    from indexing.frame_columns import FrameRecord
    from indexing.watch import WatchMatcher, calibrate
    from storage.watchlists import EntryKind, WatchEntry, WatchStore, new_entry_id

    store, rng = WatchStore(node.store), np.random.default_rng(SEED)
    sample = node.index.sample(4096).astype(np.float32)
    for i in range(1000):  # scoped to another camera: every step but the alert's write (which depends
        # on how often entries fire, not on how many there are) is timed
        q = rng.normal(0, 1, sample.shape[1]).astype(np.float32)
        entry = WatchEntry(new_entry_id(), EntryKind.TEXT, f"cost probe {i}", "bench", ("*",),
                           cameras=("cost-probe-elsewhere",), created_ms=0)
        store.put_vector(calibrate(entry.entry_id, model_id, q / np.linalg.norm(q), sample))
        store.put_entry(entry)
    # the change token a writer reads before every batch is timed on its own (refresh_ms) and
    # counted once per live batch below, not once per timed batch as well
    matcher = WatchMatcher(node.store, model_id, refresh_s=float("inf"))
    t = time.perf_counter()
    matcher.refresh()  # a writer's first: every entry and vector read
    first_refresh_s, refresh = time.perf_counter() - t, []
    for _ in range(5):
        t = time.perf_counter()
        matcher.refresh(full=False)  # a due refresh with no change: one small GET
        refresh.append(time.perf_counter() - t)
    now = int(time.time() * 1000)
    batches = [sample[i:i + batch] for i in range(0, len(sample) - batch + 1, batch)]
    records = [[FrameRecord(cameras[j % len(cameras)], now + j, now + j + 1, "s", now, now + 1, "t")
                for j in range(batch)]] * len(batches)
    matcher.match(records[0], batches[0])
    t = time.perf_counter()
    alerts = sum(len(matcher.match(r, b)) for r, b in zip(records, batches, strict=True))
    match_s = (time.perf_counter() - t) / (len(batches) * batch)
    refresh_s = float(np.median(refresh))
    # a writer reads the change token before every batch; a live batch is one segment's vectors
    per_vector = match_s + refresh_s / LIVE_BATCH_VECTORS
    return {"entries": 1000, "batch": batch, "match_ms_per_vector": match_s * 1000,
            "first_refresh_ms": first_refresh_s * 1000, "refresh_ms": refresh_s * 1000,
            "ingest_ms_per_vector": ingest_s_per_vector * 1000,
            "cost_ratio_of_ingest": per_vector / ingest_s_per_vector, "probe_alerts": alerts}


def rendered(scenario: Any, folder: Path) -> dict[str, Path]:
    """The scenario's videos, rendered once into `folder` (a complete rendering is reused)."""
    from indexing.world.video import rendered_once

    return rendered_once(scenario, folder / scenario.name, *SIZE)


def run(duration_s: float, tmp: Path, footage: Path) -> dict[str, Any]:
    from indexing.world.photo import resident_photo
    from services.api.client import VigilClient
    from services.api.server import BackgroundServer
    from services.api.watch_client import add_watch
    from services.node.app import Vigil
    from services.security.auth import Role
    from services.settings import load_settings
    from storage.keys import ALL_GROUPS
    from vigil.v1 import cameras_pb2

    replay, background, visits = scenarios(duration_s)
    t = time.perf_counter()
    videos, bg_videos = rendered(replay, footage), rendered(background, footage)
    render_s = time.perf_counter() - t
    photo = io.BytesIO()
    resident_photo(SEED).save(photo, format="JPEG", quality=85)
    settings = load_settings(data_dir=tmp / "data", ingest={"segment_seconds": 4.0},
                             fetch={"camera_allow": ["127.0.0.1/32"]}, watch={"fold_s": FOLD_S},
                             server={"port": 0, "metrics_port": 0})
    results: dict[str, Any] = {"duration_s": duration_s, "cameras": len(videos), "render_s": render_s,
                               "segment_seconds": settings.ingest.segment_seconds,
                               "fold_s": settings.watch.fold_s, "visits": len(visits)}
    with Vigil(settings) as node, BackgroundServer(node) as server:
        token = node.tokens.create("bench", Role.ADMIN, [ALL_GROUPS])
        with VigilClient(server.address, token) as c:
            for cam in videos:
                c.register_camera(cameras_pb2.Camera(camera_id=cam, group="ward-1", retention_days=30))
            start, t, vectors = datetime.now(UTC) - timedelta(minutes=20), time.perf_counter(), 0
            for cam, video in bg_videos.items():
                vectors += c.wait_for_job(c.ingest_file(video, cam, start), timeout_s=1800).vectors
            ingest_s_per_vector = (time.perf_counter() - t) / max(vectors, 1)  # frames and regions
            entries = {(name, s): add_watch(c.channel, text=text or None, sensitivity=s,
                                            image=None if text else photo.getvalue())
                       for name, (_, _, text) in QUERIES.items() for s in SENSITIVITIES}
            tail = _Tail(c.channel, duration_s + 90)
            tail.start()
            free = _harness.udp_listen_ports()
            ports = {cam: next(free) for cam in videos}
            for cam in videos:
                c.register_camera(cameras_pb2.Camera(camera_id=cam, group="ward-1", retention_days=30,
                                                     stream_url=f"udp://127.0.0.1:{ports[cam]}"))
            _wait_listening(node, list(videos))
            t0, senders, sent = {}, {}, {}
            results["load_average_before"] = os.getloadavg()
            for cam, video in videos.items():
                t0[cam] = time.time()
                senders[cam] = _sender(video, ports[cam])
            for cam, sender in senders.items():
                sender.wait(timeout=duration_s + 120)
                sent[cam] = time.time()
            results["load_average_after"] = os.getloadavg()
            time.sleep(30.0)  # the last segments are closed, stored, indexed and matched
            for cam in videos:
                c.stop_camera(cam)
            statuses = {cam: node.live.status(cam) for cam in videos}  # in-process: with stage times
            results["live"] = {cam: _live_status(s, duration_s, t0[cam], sent[cam])
                               for cam, s in statuses.items()}
            tail.join(timeout=duration_s + 120)
            results["stages_s"] = _stages({cam: list(s.recent) for cam, s in statuses.items()}, tail.alerts)
        results["entries"] = {f"{name}@{s}": {"kind": QUERIES[name][0], "language": QUERIES[name][1],
                                              "text": QUERIES[name][2], "sensitivity": s,
                                              "calibrated": e.calibrated,
                                              **_score(name, e.entry_id, tail.alerts, visits, t0),
                                              "oracle": _oracle(node, name, e.entry_id, visits, t0)}
                              for (name, s), e in entries.items()}
        results["cost"] = _cost(node, node.model_id, list(videos), ingest_s_per_vector,
                                settings.ray.embed_batch)
    return results


def main() -> None:
    import logging
    import tempfile

    p = _harness.parser(__doc__.splitlines()[0])
    p.add_argument("--footage", type=Path, default=Path(tempfile.gettempdir()) / "vigil-bench-alerts-footage",
                   help="where the rendered footage is kept and reused")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of live replay (default 600, or 120 with --quick)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
        results = run(args.duration or (120.0 if args.quick else 600.0), Path(tmp), args.footage)
    _harness.write(args.out, __doc__.splitlines()[0], results, args.quick)


if __name__ == "__main__":
    main()
