"""How fast does footage go through the whole ingest pipeline, and what limits it?

    python -m benchmarks.ingest [--quick] --out FILE.json
    python -m benchmarks.ingest --views wide --seconds 600 --sizes 1080p --regions off motion+grid --out F

For 720p and 1080p H.264 (2 s GOP, city-camera bitrate): the whole pipeline
over gRPC from a client in another process (upload → ffmpeg segmenting → S3 →
keyframe decode → Ray embedders → index) as × real time, and per core; the
keyframe-decode-alone and embedder-alone rates on the same frames (embedder
alone: on `EMBED_SAMPLE` keyframes spread over the video, with their crops); the ratio
of pipeline to embedder-alone keyframe rates (goal ≥ 0.8); the store-alone
rate (the job's object-store work alone: segments cut and stored, thumbnails
PUT, with the pipeline's concurrency, in the same bucket) and the job's rate
over the slowest of the three (`job_over_slowest_stage`); how many of the
machine's cores were busy (every process: node, Ray actors, ffmpeg, the S3
server) while decoding alone, embedding alone, storing alone and during the job
(`machine_busy_cores`: at the core count, the stages share the cores, not
wait for each other); the machine's bound (`machine_bound_keyframes_per_s`:
the slowest stage alone, or the three stages' busy core-seconds alone spread
over every core, whichever is slower: where the stages share the cores, no
pipeline can go faster) and the job's rate over it (`job_over_machine_bound`);
and how many live
cameras of that kind one node sustains (real-time factor, with one keyframe
per 2 s).

The embedder pool is the node's (`VIGIL_RAY__EMBEDDERS`, `VIGIL_RAY__EMBED_BATCH`,
recorded in the output): on 2 cores, two one-thread embedders fed batches of
16 keep both cores busy where one two-thread embedder loses time whenever the
other work takes a core.

`--seconds N` sets the videos' length (default 120, 30 with `--quick`; the goal
is judged on 600: a 10-minute file), `--sizes 1080p` picks the sizes, and
`--regions METHOD` sets `ingest.regions` (region crops embedded beside each
keyframe; 'off' for whole keyframes only): with regions the embedder-alone rate
embeds the same crops the pipeline does. The pipeline's rate is given from the
job's acknowledgement to its end (`job_keyframes_per_s`: segmenting, storing,
decoding, embedding, indexing; the goal is `job_over_slowest_alone` ≥ 0.8, the
job's rate over the slower of decode-alone and embedder-alone) and with the gRPC
upload too. `stages_s` is where the job's time went, per stage, summed over the
threads that run it (wall seconds, in the node's process): decode (the keyframe
iterator), region proposals, embedding (waiting for the actors), the wait for
segments to be committed, thumbnail PUTs, segment stores (ffmpeg's cut runs
beside), the index log's append.

`--views wide` ingests a wide street of the synthetic world instead of the test
pattern (`indexing.world.wide`: the incident's first camera at night, small
subjects in crowds, 10 frames/s, rendered once for every node of the run): the
footage where region crops are many per keyframe (the test pattern is a close
view for the proposer: about one image per keyframe). `--regions off motion+grid`
runs one node after the other on the same videos and gives each one's job rate
over the first's (`job_rate_over_first`: #16's ingest cost of regions).

`--model NAME` runs it with an open_clip architecture instead of the bundled
model, with random weights (no download: the compute, hence every rate here, is
the same as with the pretrained weights), e.g. `--model ViT-B-32`, the size of
model a city would run on real footage. The bundled model embeds a keyframe in
≈ 2-3 ms, less than decoding it takes, so with it the ratio is bounded by
decoding, not by the pipeline. Warm-up
first: one embedding call, and a short ingest on the same UTC day, which starts
that day's index-writer actor (once per shard per day in production).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import _harness

SIZES = {"720p": "1280x720", "1080p": "1920x1080"}
VIEWS = ("test-pattern", "wide")
DAY = datetime(2026, 11, 23, tzinfo=UTC)
EMBED_RUNS = 3  # embedder-alone time: the median of this many runs (the machine may be shared)
EMBED_SAMPLE = 96  # embedder-alone rate: on this many keyframes (and their crops), evenly spread


def _seconds(fn: Any, *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


class _Stages:
    """Wall seconds per pipeline stage, summed over the threads running it (a benchmark's probe:
    it wraps the node's pipeline objects, which know nothing of it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def wrap(self, obj: Any, attr: str, stage: str) -> None:
        fn = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - t0)

        setattr(obj, attr, timed)

    def add(self, stage: str, dt: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + dt

    def take(self) -> dict[str, float]:
        with self._lock:
            taken, self.seconds = self.seconds, {}
        return {k: round(v, 3) for k, v in sorted(taken.items())}


def _probe_stages(pipeline: Any, stages: _Stages) -> None:
    import services.ingest.pipeline as module

    decode = getattr(module, "iter_keyframes")  # noqa: B009  (replaced below: the name is not exported)

    def timed_keyframes(*args: Any, **kwargs: Any) -> Iterator[Any]:
        frames = decode(*args, **kwargs)
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            stages.add("decode", time.perf_counter() - t0)
            if frame is None:
                return
            yield frame

    setattr(module, "iter_keyframes", timed_keyframes)  # noqa: B010
    for obj, attr, stage in ((pipeline, "_embed_rgb", "embed (a thread per batch in flight)"),
                             (pipeline, "_put_thumbnail", "thumbnail PUTs (4 threads)"),
                             (pipeline._recordings, "store_segment", "segment stores (4 threads)"),
                             (pipeline._journal, "append", "index log append"),
                             (pipeline._regions, "propose", "region proposals")):
        if hasattr(obj, attr):
            stages.wrap(obj, attr, stage)
    covering = module._Stored.covering
    setattr(module._Stored, "covering",  # noqa: B010
            lambda self, t: _timed(stages, "wait for segments", covering, self, t))


def _timed(stages: _Stages, stage: str, fn: Any, *args: Any) -> Any:
    t0 = time.perf_counter()
    try:
        return fn(*args)
    finally:
        stages.add(stage, time.perf_counter() - t0)


def footage(view: str, tmp: Path, sizes: list[str], seconds: int) -> dict[str, Path]:
    """One video per size: the test pattern (a close view for the region proposer) or a wide
    street of the synthetic world."""
    if view == "wide":
        return {name: _harness.wide_street_footage(tmp / f"{name}.mp4", SIZES[name], seconds)
                for name in sizes}
    return {name: _harness.city_camera_footage(tmp / f"{name}.mp4", SIZES[name], seconds, fps=25)
            for name in sizes}


def run(videos: dict[str, Path], tmp: Path, model: str | None, regions: str | None) -> dict[str, Any]:
    from indexing.keyframes import iter_keyframes
    from indexing.regions import with_crops
    from services.api.server import BackgroundServer
    from services.node.app import Vigil
    from services.security.auth import Role
    from services.settings import load_settings
    from storage.keys import ALL_GROUPS
    from storage.media import probe

    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"cores": os.cpu_count(), "model": model or "vigil-tiny (bundled)"}
    overrides: dict[str, Any] = {"server": {"port": 0, "metrics_port": 0}}  # beside other nodes
    if model:
        overrides["model"] = {"name": model}
    if regions is not None:
        overrides["ingest"] = {"regions": regions}
    with Vigil(load_settings(data_dir=tmp / "data", **overrides)) as node, BackgroundServer(node) as server, \
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as remote:
        token = node.tokens.create("bench", Role.ADMIN, [ALL_GROUPS])
        ingest = node.settings.ingest
        results.update(embedders=node.settings.ray.embedders, embed_batch=node.settings.ray.embed_batch,
                       regions=str(getattr(ingest, "regions", "off")),
                       regions_per_keyframe=getattr(ingest, "regions_per_keyframe", 0))
        node.pool.embed([next(iter_keyframes(next(iter(videos.values())), 0.0, 320)).rgb])  # warm-up
        stages = _Stages()
        _probe_stages(node.pipeline, stages)
        warm_up = _harness.city_camera_footage(tmp / "warm-up.mp4", "640x360", 6, fps=25)
        # starts the day's writer
        remote.submit(_ingest, server.address, token, warm_up, "cam-warm-up", DAY).result()
        for i, (name, video) in enumerate(videos.items()):
            info = probe(video)
            t0, busy0 = time.perf_counter(), _harness.machine_busy_s()
            keyframes = list(iter_keyframes(video, info.start_s, ingest.thumbnail_width))
            decode_s = time.perf_counter() - t0
            busy = {"decode alone": (_harness.machine_busy_s() - busy0) / decode_s}
            frames = [k.rgb for k in keyframes]
            boxes: list[list[Any]] = [[] for _ in frames]
            if results["regions"] != "off":  # the crops the pipeline embeds too (a fresh camera)
                proposer = ingest.region_proposer()
                boxes = [proposer.propose(f"cam-alone-{i}", f) for f in frames]
            sample = range(0, len(frames), max(1, len(frames) // EMBED_SAMPLE))  # evenly spread
            images = with_crops([frames[j] for j in sample], [boxes[j] for j in sample])
            busy0 = _harness.machine_busy_s()
            runs = [_seconds(node.pool.embed, images) for _ in range(EMBED_RUNS)]
            busy["embed alone"] = (_harness.machine_busy_s() - busy0) / sum(runs)
            embed_s = statistics.median(runs) * len(frames) / len(sample)  # the sample's rate, for all
            busy0 = _harness.machine_busy_s()
            store_s = _store_alone(node, video, keyframes, f"cam-store-alone-{i}",
                                   DAY + timedelta(hours=i + 12), tmp / f"cut-{i}")
            busy["store alone"] = (_harness.machine_busy_s() - busy0) / store_s
            stages.take()
            cpu0, busy0 = time.process_time(), _harness.machine_busy_s()
            upload_s, pipeline_s = remote.submit(_ingest, server.address, token, video, f"cam-bench-{i}",
                                                 DAY + timedelta(hours=i + 1)).result()
            busy["upload and job"] = (_harness.machine_busy_s() - busy0) / pipeline_s
            realtime = info.duration_s / pipeline_s
            job_s = pipeline_s - upload_s
            decode_rate, embed_rate = len(frames) / decode_s, len(frames) / embed_s
            job_rate, store_rate = len(frames) / job_s, len(frames) / store_s
            bound = machine_bound(len(frames), {"decode alone": decode_s, "embed alone": embed_s,
                                                "store alone": store_s}, busy, os.cpu_count() or 1)
            results[name] = {
                "keyframes": len(frames),
                "images_embedded_per_keyframe": len(images) / len(sample),
                "pipeline_x_realtime": realtime,
                "pipeline_x_realtime_per_core": realtime / (os.cpu_count() or 1),
                "pipeline_keyframes_per_s": len(frames) / pipeline_s,
                "job_keyframes_per_s": job_rate,
                "embedder_alone_keyframes_per_s": embed_rate,
                "decode_alone_keyframes_per_s": decode_rate,
                "store_alone_keyframes_per_s": store_rate,
                "upload_and_ack_s": upload_s,  # gRPC upload, probe, staging (fsync) and job record
                "job_s": job_s,
                "job_over_slowest_alone": job_rate / min(decode_rate, embed_rate),
                "job_over_slowest_stage": job_rate / min(decode_rate, embed_rate, store_rate),
                "machine_bound_keyframes_per_s": bound,
                "job_over_machine_bound": job_rate / bound,
                "pipeline_over_embedder_alone": (len(frames) / pipeline_s) / embed_rate,
                "node_process_cpu_s": time.process_time() - cpu0,  # upload and job; not Ray's actors
                "stages_s": stages.take(),
                "machine_busy_cores": {k: round(v, 2) for k, v in busy.items()},  # every process
                "load_average": list(os.getloadavg()),
                "live_cameras_sustained": int(realtime),
            }
    return results


def machine_bound(keyframes: int, alone_s: dict[str, float], busy_cores: dict[str, float],
                  cores: int) -> float:
    """The fastest any pipeline could go on this machine, in keyframes/s: no faster than its slowest
    stage alone, and no faster than the machine does all three stages' work (each stage's busy
    core-seconds alone, every process counted: the S3 server's too) with every core busy."""
    work_core_s = sum(seconds * busy_cores[stage] for stage, seconds in alone_s.items())
    return min(min(keyframes / s for s in alone_s.values()), keyframes * cores / work_core_s)


def _store_alone(node: Any, video: Path, keyframes: list[Any], camera_id: str, start: datetime,
                 cut_dir: Path) -> float:
    """Seconds the job's object-store work takes alone: the file cut into segments and each stored
    (a hash, a HEAD and two PUTs) and every keyframe's thumbnail PUT, with the pipeline's
    concurrency (`SEGMENT_STORES`, `THUMBNAIL_UPLOADS`), on a camera of its own."""
    from concurrent.futures import ThreadPoolExecutor

    from services.ingest.pipeline import SEGMENT_STORES, THUMBNAIL_UPLOADS
    from services.ingest.segmenting import iter_segments
    from storage import keys
    from storage.media import probe
    from storage.recordings import Recordings

    recordings, info, ingest = Recordings(node.store), probe(video), node.settings.ingest
    start_ms = round(start.timestamp() * 1000)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(SEGMENT_STORES) as segments, ThreadPoolExecutor(THUMBNAIL_UPLOADS) as thumbnails:
        puts = [thumbnails.submit(node.store.put_bytes, keys.thumbnail_key(camera_id, start_ms + k.offset_ms),
                                  k.jpeg, "image/jpeg") for k in keyframes]
        cut = iter_segments(video, info, cut_dir, ingest.segment_seconds, ingest.media_timeout_s)
        puts += [segments.submit(recordings.store_segment, camera_id, start_ms + round(seg.offset_s * 1000),
                                 seg, info) for seg in cut]
        for put in puts:
            put.result()
    return time.perf_counter() - t0


def _ingest(address: str, token: str, video: Path, camera_id: str, start: datetime) -> tuple[float, float]:
    """A client in its own process (as a remote one: no GIL shared with the server) ingests
    `video`: seconds until the job id came back, and until the job ended by the server's
    clock (the same machine's), free of the watch's polling delay."""
    from services.api.client import VigilClient

    with VigilClient(address, token) as client:
        t0, wall0 = time.perf_counter(), time.time()
        job = client.ingest_file(video, camera_id, start)
        acknowledged_s = time.perf_counter() - t0
        status = client.wait_for_job(job)
    if status.state != "succeeded" or status.finished_ms is None:
        raise RuntimeError(status.error)
    return acknowledged_s, status.finished_ms / 1000 - wall0


def main() -> None:
    parser = _harness.parser(__doc__ or "")
    parser.add_argument("--model", default=None,
                        help="an open_clip architecture, run with random weights "
                             "(default: the bundled model)")
    parser.add_argument("--seconds", type=int, default=None,
                        help="length of each video (default 120; 30 with --quick)")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=list(SIZES),
                        help="the video sizes (default both)")
    parser.add_argument("--views", choices=VIEWS, default="test-pattern",
                        help="the footage: a test pattern, or a wide street of the synthetic world")
    parser.add_argument("--regions", nargs="+", default=[None],
                        help="ingest.regions for the node ('off', 'motion', 'grid', 'motion+grid'; "
                             "default: the setting's); several: one node after the other on the "
                             "same videos, and each one's job rate over the first's")
    args = parser.parse_args()
    seconds = args.seconds or (30 if args.quick else 120)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        videos = footage(args.views, Path(tmp), args.sizes, seconds)
        runs = {}
        for i, regions in enumerate(args.regions):  # each node in a process of its own: one Ray each
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as node:
                runs[str(regions)] = node.submit(run, videos, Path(tmp) / f"node-{i}", args.model,
                                                 regions).result()
    first = next(iter(runs.values()))
    result: dict[str, Any] = {"views": args.views, "seconds_per_video": seconds}
    if len(runs) == 1:
        result.update(first)
    else:
        result["by_regions"] = runs
        result["job_rate_over_first"] = {
            regions: {size: r[size]["job_keyframes_per_s"] / first[size]["job_keyframes_per_s"]
                      for size in args.sizes}
            for regions, r in runs.items()}
    _harness.write(args.out, "whole-pipeline ingest throughput", result, args.quick)


if __name__ == "__main__":
    main()
