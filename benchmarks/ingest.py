"""How fast does footage go through the whole ingest pipeline, and what limits it?

    python -m benchmarks.ingest [--quick] --out FILE.json

For 720p and 1080p H.264 (2 s GOP, city-camera bitrate): the whole pipeline
over gRPC (upload → ffmpeg segmenting → S3 → keyframe decode → Ray embedders →
index) as × real time, and per core; the keyframe-decode-alone and
embedder-alone rates on the same frames; the ratio of pipeline to
embedder-alone keyframe rates (goal ≥ 0.8); and how many live cameras of that
kind one node sustains (real-time factor, with one keyframe per 2 s).
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import _harness

SIZES = {"720p": "1280x720", "1080p": "1920x1080"}


def run(seconds: int, tmp: Path) -> dict[str, Any]:
    from indexing.keyframes import iter_keyframes
    from services.api.client import VigilClient
    from services.api.server import BackgroundServer
    from services.app import Vigil
    from services.auth import ALL_GROUPS, Role
    from services.settings import load_settings
    from storage.media import probe

    videos = {name: _harness.city_camera_footage(tmp / f"{name}.mp4", size, seconds, fps=25)
              for name, size in SIZES.items()}
    results: dict[str, Any] = {"cores": os.cpu_count(), "seconds_per_video": seconds}
    with Vigil(load_settings(data_dir=tmp / "data")) as node, BackgroundServer(node) as server, \
            VigilClient(server.address, node.tokens.create("bench", Role.ADMIN, [ALL_GROUPS])) as client:
        node.pool.embed([next(iter_keyframes(videos["720p"], 0.0, 320)).rgb])  # warm-up
        for i, (name, video) in enumerate(videos.items()):
            info = probe(video)
            t0 = time.perf_counter()
            frames = [k.rgb for k in iter_keyframes(video, info.start_s, 320)]
            decode_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            node.pool.embed(frames)
            embed_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            status = client.wait_for_job(client.ingest_file(video, f"cam-bench-{i}",
                                                            datetime(2026, 11, 23, i, tzinfo=UTC)))
            pipeline_s = time.perf_counter() - t0
            if status.state != "succeeded":
                raise RuntimeError(status.error)
            realtime = info.duration_s / pipeline_s
            results[name] = {
                "keyframes": len(frames),
                "pipeline_x_realtime": realtime,
                "pipeline_x_realtime_per_core": realtime / (os.cpu_count() or 1),
                "pipeline_keyframes_per_s": len(frames) / pipeline_s,
                "embedder_alone_keyframes_per_s": len(frames) / embed_s,
                "decode_alone_keyframes_per_s": len(frames) / decode_s,
                "pipeline_over_embedder_alone": (len(frames) / pipeline_s) / (len(frames) / embed_s),
                "live_cameras_sustained": int(realtime),
            }
    return results


def main() -> None:
    args = _harness.parser(__doc__ or "").parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        result = run(30 if args.quick else 120, Path(tmp))
    _harness.write(args.out, "whole-pipeline ingest throughput", result, args.quick)


if __name__ == "__main__":
    main()
