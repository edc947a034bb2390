"""How fast does footage go through the whole ingest pipeline, and what limits it?

    python -m benchmarks.ingest [--quick] --out FILE.json

For 720p and 1080p H.264 (2 s GOP, city-camera bitrate): the whole pipeline
over gRPC from a client in another process (upload → ffmpeg segmenting → S3 →
keyframe decode → Ray embedders → index) as × real time, and per core; the
keyframe-decode-alone and embedder-alone rates on the same frames; the ratio
of pipeline to embedder-alone keyframe rates (goal ≥ 0.8); and how many live
cameras of that kind one node sustains (real-time factor, with one keyframe
per 2 s).

The embedder pool is the node's (`VIGIL_RAY__EMBEDDERS`, `VIGIL_RAY__EMBED_BATCH`,
recorded in the output): on 2 cores, two one-thread embedders fed batches of
16 keep both cores busy where one two-thread embedder loses time whenever the
other work takes a core.

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
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import _harness

SIZES = {"720p": "1280x720", "1080p": "1920x1080"}
DAY = datetime(2026, 11, 23, tzinfo=UTC)
EMBED_RUNS = 3  # embedder-alone time: the median of this many runs (the machine may be shared)


def _seconds(fn: Any, *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def run(seconds: int, tmp: Path, model: str | None) -> dict[str, Any]:
    from indexing.keyframes import iter_keyframes
    from services.api.server import BackgroundServer
    from services.node.app import Vigil
    from services.security.auth import ALL_GROUPS, Role
    from services.settings import load_settings
    from storage.media import probe

    videos = {name: _harness.city_camera_footage(tmp / f"{name}.mp4", size, seconds, fps=25)
              for name, size in SIZES.items()}
    results: dict[str, Any] = {"cores": os.cpu_count(), "seconds_per_video": seconds,
                               "model": model or "vigil-tiny (bundled)"}
    overrides = {"model": {"name": model}} if model else {}
    with Vigil(load_settings(data_dir=tmp / "data", **overrides)) as node, BackgroundServer(node) as server, \
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as remote:
        token = node.tokens.create("bench", Role.ADMIN, [ALL_GROUPS])
        results.update(embedders=node.settings.ray.embedders, embed_batch=node.settings.ray.embed_batch)
        node.pool.embed([next(iter_keyframes(videos["720p"], 0.0, 320)).rgb])  # warm-up
        warm_up = _harness.city_camera_footage(tmp / "warm-up.mp4", "640x360", 6, fps=25)
        # starts the day's writer
        remote.submit(_ingest, server.address, token, warm_up, "cam-warm-up", DAY).result()
        for i, (name, video) in enumerate(videos.items()):
            info = probe(video)
            t0 = time.perf_counter()
            frames = [k.rgb for k in iter_keyframes(video, info.start_s, 320)]
            decode_s = time.perf_counter() - t0
            embed_s = statistics.median(_seconds(node.pool.embed, frames) for _ in range(EMBED_RUNS))
            upload_s, pipeline_s = remote.submit(_ingest, server.address, token, video, f"cam-bench-{i}",
                                                 DAY + timedelta(hours=i + 1)).result()
            realtime = info.duration_s / pipeline_s
            results[name] = {
                "keyframes": len(frames),
                "pipeline_x_realtime": realtime,
                "pipeline_x_realtime_per_core": realtime / (os.cpu_count() or 1),
                "pipeline_keyframes_per_s": len(frames) / pipeline_s,
                "embedder_alone_keyframes_per_s": len(frames) / embed_s,
                "decode_alone_keyframes_per_s": len(frames) / decode_s,
                "upload_and_ack_s": upload_s,  # gRPC upload, probe, staging (fsync) and job record
                "job_s": pipeline_s - upload_s,
                "pipeline_over_embedder_alone": (len(frames) / pipeline_s) / (len(frames) / embed_s),
                "live_cameras_sustained": int(realtime),
            }
    return results


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        result = run(30 if args.quick else 120, Path(tmp), args.model)
    _harness.write(args.out, "whole-pipeline ingest throughput", result, args.quick)


if __name__ == "__main__":
    main()
