"""What does storing footage cost, and how fast do segments move?

    python -m benchmarks.storage [--quick] --out FILE.json

On a real SeaweedFS (embedded) with real ffmpeg: stored bytes ÷ source bytes
for segments (goal ≤ 1.01), segmenting speed as × real time (stream copy),
upload and download MB/s, and the time to export a range from 3 cameras
(goal: 10 minutes from 3 cameras; quick mode exports 1 minute).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks import _harness
from storage.export import Exporter
from storage.keys import SEGMENTS_PREFIX
from storage.media import probe, segment
from storage.recordings import Recordings
from storage.s3 import S3ObjectStore
from storage.seaweed import EmbeddedSeaweed

CAMERAS = 3
START_MS = 1_795_000_000_000


def run(seconds: int, tmp: Path) -> dict[str, object]:
    sources = [_harness.city_camera_footage(tmp / f"cam-{i}.mp4", "1280x720", seconds, fps=10, seed=i)
               for i in range(CAMERAS)]
    source_bytes = sum(p.stat().st_size for p in sources)
    with EmbeddedSeaweed(tmp / "s3", bucket="bench") as endpoint:
        store = S3ObjectStore(endpoint)
        recordings = Recordings(store)
        seg_s = up_s = 0.0
        stored_bytes = 0
        for i, src in enumerate(sources):
            info = probe(src)
            t0 = time.perf_counter()
            segs = segment(src, tmp / f"segs-{i}", 10.0, 600)
            seg_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            for s in segs:
                stored = recordings.store_segment(f"cam-{i}", START_MS + round(s.offset_s * 1000), s, info)
                stored_bytes += stored.manifest.bytes
            up_s += time.perf_counter() - t0
        keys = [o.key for o in store.list(SEGMENTS_PREFIX) if o.key.endswith(".mp4")]
        t0 = time.perf_counter()
        down_bytes = sum(len(store.get_bytes(k)) for k in keys)
        down_s = time.perf_counter() - t0
        exporter = Exporter(store, tmp / "work", 600)
        t0 = time.perf_counter()
        export_id = exporter.new_id()
        for i in range(CAMERAS):
            exporter.export(export_id, f"cam-{i}", START_MS, START_MS + seconds * 1000, "bench")
        export_s = time.perf_counter() - t0
    mb = 1024 * 1024
    return {
        "cameras": CAMERAS, "seconds_per_camera": seconds, "resolution": "1280x720",
        "source_bytes": source_bytes, "stored_segment_bytes": stored_bytes,
        "stored_over_source": stored_bytes / source_bytes,
        "segmenting_x_realtime": CAMERAS * seconds / seg_s,
        "upload_MBps": stored_bytes / mb / up_s, "download_MBps": down_bytes / mb / down_s,
        "export_s": export_s, "export_range_s": seconds,
    }


def main() -> None:
    args = _harness.parser(__doc__ or "").parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-storage-") as tmp:
        result = run(60 if args.quick else 600, Path(tmp))
    _harness.write(args.out, "storage cost and segment throughput", result, args.quick)


if __name__ == "__main__":
    main()
