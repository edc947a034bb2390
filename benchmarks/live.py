"""How many live 1080p cameras does one node hold, measured with live streams?

    python -m benchmarks.live [--quick] [--model NAME] --out FILE.json

K real live streams against one node: each camera is an ffmpeg sender on
loopback (1080p H.264 at a city camera's bitrate, GOP 2 s, MPEG-TS over UDP,
paced in real time: a pre-encoded clip looped by stream copy, so the senders
cost little of the machine the node runs on) recorded by the node's live
recorders (segments, thumbnails, embedding, index), as in production.

A trial with K cameras waits until every camera has stored its first segment,
then holds for `--hold-s` (120 s) and passes when
- no segment is lost: every camera's stored segments cover the window with no
  gap (a stream that stalled, or a segment not stored, shows as one) and no
  camera reconnected, and
- the ingest lag stays below one segment length: at every sample (each second)
  `now - end of the camera's last stored segment - segment length` (an upper
  bound of how long after its end a segment was stored and indexed) is below
  `ingest.segment_seconds`.
A trial fails early once a camera is three segment lengths behind, and is not
run (failed) when the machine lacks the memory for K recorders: each camera's
recorder is its own Ray worker process, ≈ `RECORDER_GB` resident.

K is searched by doubling from `--min-k` (1) until a trial fails (or `--max-k`), then by
bisection between the largest K held and the smallest that failed, until they
are within an eighth of each other (or 1), at most `--max-trials` trials.
`--model NAME` runs an open_clip architecture with random weights (the compute
of the pretrained one), e.g. ViT-B-32; default: the bundled model. The node's
settings are the defaults (`VIGIL_RAY__EMBEDDERS`, `VIGIL_RAY__EMBED_BATCH`,
segment length), recorded in the output with the machine's load average.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import _harness

CLIP_S = 60  # the sender's clip, looped
GAP_S = 1.0  # a jump between consecutive segments larger than this is a lost segment
BEHIND_SEGMENTS = 3.0  # a camera this many segment lengths behind ends the trial (failed)
SAMPLE_S = 1.0
RECORDER_GB = 0.25  # resident memory of one camera's recorder (a Ray worker process): 180 MB measured


@dataclass
class Trial:
    cameras: int
    held: bool = False
    reason: str = ""
    hold_s: float = 0.0
    start_up_s: float = 0.0  # until every camera had stored its first segment
    max_lag_s: float = 0.0  # the largest sampled ingest lag, any camera
    max_queue_depth: int = 0
    lost_segments: int = 0
    reconnects: int = 0
    segments_stored: int = 0
    keyframes_indexed: int = 0
    load_average: list[float] = field(default_factory=list)


def _sender(clip: Path, port: int) -> subprocess.Popen[bytes]:
    """A live 1080p camera: the clip looped and paced in real time, MPEG-TS over loopback UDP."""
    from storage.media_tools import ffmpeg_exe

    return subprocess.Popen(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-readrate_initial_burst",
         "0", "-stream_loop", "-1", "-i", str(clip), "-map", "0:v:0", "-c", "copy", "-f", "mpegts",
         f"udp://127.0.0.1:{port}?pkt_size=1316"], stdin=subprocess.DEVNULL)


def _lost(segments: list[Any], start_ms: int, end_ms: int) -> int:
    """Gaps in a camera's stored segments over [start_ms, end_ms) (a missing start or end counts)."""
    spans = sorted((s.start_ms, s.end_ms) for s in segments)
    if not spans:
        return 1
    gaps = sum(int(b[0] - a[1] > GAP_S * 1000) for a, b in itertools.pairwise(spans))
    return gaps + int(spans[0][0] > start_ms + GAP_S * 1000) + int(spans[-1][1] < end_ms - GAP_S * 1000)


def _available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


def trial(node: Any, clip: Path, k: int, hold_s: float, tag: str, ports: Iterator[int],
          log: Callable[[str], None]) -> Trial:
    from storage.cameras import Camera

    segment_s = node.settings.ingest.segment_seconds
    result = Trial(k)
    if (free_gb := _available_gb()) < k * RECORDER_GB:  # the machine is shared: never run it out
        result.reason = f"{k} recorders need ≈ {k * RECORDER_GB:.0f} GB; {free_gb:.1f} GB available"
        log(f"K={k}: not run: {result.reason}")
        return result
    ids = [f"cam-live-{tag}-k{k}-{i}" for i in range(k)]
    senders: list[subprocess.Popen[bytes]] = []
    t0 = time.time()
    try:
        for cam in ids:
            port = next(ports)
            node.live.apply(Camera(cam, group="bench-live", stream_url=f"udp://127.0.0.1:{port}"))
            senders.append(_sender(clip, port))
        deadline = time.monotonic() + 90 + 5 * k  # recorder actors start a few at a time
        while True:
            statuses = [node.live.status(c) for c in ids]
            if all(s.last_segment_end_ms for s in statuses):
                break
            if time.monotonic() > deadline:
                stuck = [s for s in statuses if not s.last_segment_end_ms]
                errors = "; ".join(sorted({s.last_error or "no error" for s in stuck}))
                result.reason = f"{len(stuck)} cameras stored no segment in time ({errors})"[:400]
                return result
            time.sleep(SAMPLE_S)
        result.start_up_s = time.time() - t0
        reconnects0 = {s.camera_id: s.reconnects for s in statuses}
        window_start = time.time()
        while (now := time.time()) < window_start + hold_s:
            statuses = [node.live.status(c) for c in ids]
            for s in statuses:
                lag = now - (s.last_segment_end_ms or 0) / 1000 - segment_s
                result.max_lag_s = max(result.max_lag_s, lag)
                result.max_queue_depth = max(result.max_queue_depth, s.queue_depth)
            if result.max_lag_s > BEHIND_SEGMENTS * segment_s:
                result.reason = f"a camera fell {result.max_lag_s:.0f} s behind"
                break
            time.sleep(SAMPLE_S)
        window_end = time.time()
        result.hold_s = window_end - window_start
        statuses = [node.live.status(c) for c in ids]
        result.reconnects = sum(s.reconnects - reconnects0[s.camera_id] for s in statuses)
        result.segments_stored = sum(s.segments_stored for s in statuses)
        result.keyframes_indexed = sum(s.keyframes_indexed for s in statuses)
        # the window minus its last two segment lengths: those may still be on their way
        lo, hi = int(window_start * 1000), int((window_end - 2 * segment_s) * 1000)
        result.lost_segments = sum(_lost(list(node.recordings.segments(c, lo, hi)), lo, hi) for c in ids)
        result.load_average = list(os.getloadavg())
        if not result.reason:
            if result.lost_segments or result.reconnects:
                result.reason = f"{result.lost_segments} segments lost, {result.reconnects} reconnects"
            elif result.max_lag_s >= segment_s:
                result.reason = f"ingest lag {result.max_lag_s:.1f} s ≥ one segment ({segment_s:.0f} s)"
        result.held = not result.reason
        return result
    finally:
        for s in senders:
            s.terminate()
        stoppers = [threading.Thread(target=node.live.stop, args=(c,)) for c in ids]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(120)
        for s in senders:
            s.wait(10)
        log(f"K={k}: {'held' if result.held else 'failed: ' + result.reason} "
            f"(max lag {result.max_lag_s:.1f} s, queue ≤ {result.max_queue_depth}, "
            f"{time.time() - t0:.0f} s)")


def search(run: Callable[[int], Trial], max_k: int, max_trials: int,
           min_k: int = 1) -> tuple[int, list[Trial]]:
    """The largest K that held: doubling from `min_k`, then bisection (bounded by `max_trials`)."""
    trials: list[Trial] = []
    held, failed = 0, None
    k = min_k
    while len(trials) < max_trials and k <= max_k:
        trials.append(run(k))
        if not trials[-1].held:
            failed = k
            break
        held, k = k, k * 2
    hi = failed if failed is not None else min(k, max_k + 1)
    while len(trials) < max_trials and hi - held > max(1, held // 8):
        k = (held + hi) // 2
        trials.append(run(k))
        held, hi = (k, hi) if trials[-1].held else (held, k)
    return held, trials


def run(tmp: Path, model: str | None, hold_s: float, max_k: int, max_trials: int,
        regions: str | None, min_k: int = 1) -> dict[str, Any]:
    from services.node.app import Vigil
    from services.settings import load_settings

    clip = _harness.city_camera_footage(tmp / "clip-1080p.mp4", "1920x1080", CLIP_S, fps=25)
    overrides: dict[str, Any] = {"fetch": {"camera_allow": ["127.0.0.1/32"]},
                                 "server": {"port": 0, "metrics_port": 0}}  # beside other nodes
    if model:
        overrides["model"] = {"name": model}
    if regions is not None:
        overrides["ingest"] = {"regions": regions}
    with Vigil(load_settings(data_dir=tmp / "data", **overrides)) as node:
        tag, ports = str(int(time.time())), _harness.udp_listen_ports()

        def one(k: int) -> Trial:
            return trial(node, clip, k, hold_s, tag, ports, lambda line: print(line, flush=True))

        best, trials = search(one, max_k, max_trials, min_k)
        return {"model": model or "vigil-tiny (bundled)", "cores": os.cpu_count(),
                "stream": "1920x1080 H.264, 25 fps, GOP 2 s, ≈ 3-4 Mbit/s, MPEG-TS over loopback UDP",
                "segment_seconds": node.settings.ingest.segment_seconds,
                "embedders": node.settings.ray.embedders, "embed_batch": node.settings.ray.embed_batch,
                "regions": str(getattr(node.settings.ingest, "regions", "off")),
                "regions_per_keyframe": getattr(node.settings.ingest, "regions_per_keyframe", 0),
                "hold_s": hold_s, "min_k": min_k, "max_k": max_k, "max_trials": max_trials,
                "cameras_held": best, "trials": [asdict(t) for t in trials]}


def main() -> None:
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--model", default=None, help="an open_clip architecture, run with random "
                        "weights (default: the bundled model)")
    parser.add_argument("--hold-s", type=float, default=None, help="seconds each trial holds "
                        "(default 120; 20 with --quick)")
    parser.add_argument("--regions", default=None, help="ingest.regions for the node ('off', 'motion', "
                        "'grid', 'motion+grid'; default: the setting's)")
    parser.add_argument("--min-k", type=int, default=1, help="the first K tried (the doubling's start)")
    parser.add_argument("--max-k", type=int, default=64, help="the most cameras tried")
    parser.add_argument("--max-trials", type=int, default=10, help="the most trials in the search")
    args = parser.parse_args()
    hold_s = args.hold_s or (20.0 if args.quick else 120.0)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-live-") as tmp:
        result = run(Path(tmp), args.model, hold_s, args.max_k, 4 if args.quick else args.max_trials,
                     args.regions, args.min_k)
    _harness.write(args.out, "live cameras one node holds", result, args.quick)


if __name__ == "__main__":
    main()
