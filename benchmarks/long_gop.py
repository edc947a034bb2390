"""What does indexing frames between the keyframes of a long GOP cost in decoding?

    python -m benchmarks.long_gop [--quick] --out FILE.json

A city camera's 2 s GOP is indexed keyframe by keyframe: only keyframes are decoded, each on
its own. A longer GOP (x264's default is 250 frames: 10 s at 25 fps; "smart" CCTV codecs stretch
theirs) gets frames between its keyframes at most `ingest.max_frame_gap_s` apart
(`indexing.keyframes.FramePlan`), which means decoding through the GOP from its keyframe. For
synthetic 1080p footage (25 fps, sensor noise) with 2 s and 10 s GOPs, this measures
`iter_keyframes` (decode, convert to the embedder's and the thumbnail's sizes, JPEG) with
keyframes only and with the 4 s (default) and 2 s gaps: frames indexed, seconds (p50 of the
runs after one warm-up), and × real time on this process's core (one decoding thread per job,
as ingest runs it).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness


def main() -> None:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args()
    from indexing.keyframes import FramePlan, iter_keyframes
    from storage.media import probe

    seconds, runs = (20, 2) if args.quick else (120, 3)
    results: dict[str, Any] = {"seconds_per_video": seconds, "size": "1920x1080", "fps": 25, "runs": runs}
    with tempfile.TemporaryDirectory() as tmp:
        for gop_s in (2.0, 10.0):
            video = _harness.city_camera_footage(Path(tmp) / f"gop{gop_s:g}.mp4", "1920x1080", seconds, 25,
                                                 gop_s=gop_s)
            info = probe(video)
            row: dict[str, Any] = {"keyframes": len(info.keyframes_s)}
            for name, gap in (("keyframes only", 0.0), ("max gap 4 s (default)", 4.0), ("max gap 2 s", 2.0)):
                plan = FramePlan.of(info.keyframes_s, info.duration_s, 1.0, gap)
                took = []
                for _ in range(runs + 1):
                    began = time.perf_counter()
                    frames = sum(1 for _ in iter_keyframes(video, info.start_s, 320, plan=plan))
                    took.append(time.perf_counter() - began)
                s = float(np.median(took[1:]))
                row[name] = {"frames_indexed": frames, "seconds_p50": round(s, 3),
                             "x_realtime": round(info.duration_s / s, 1)}
            results[f"gop {gop_s:g} s"] = row
    _harness.write(args.out, "decoding cost of frames between keyframes in long GOPs", results, args.quick)


if __name__ == "__main__":
    main()
