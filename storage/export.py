"""Evidence export: one MP4 of a camera's footage over a time range, with a manifest.

The export is a stream copy (never re-encoded): it starts at the last keyframe
at or before `start` and ends at the last frame before `end`, so it may begin
up to one GOP early; the manifest records the exact span delivered. Each
source segment's SHA-256 is verified before use; the export's own SHA-256,
who asked and when are written beside it under `exports/`. A `stop` check ends
an export early (`AbandonedError`) once its caller has gone. Exports expire
under `storage.retention` (the manifest's `created` time dates them).
"""

from __future__ import annotations

import builtins
import json
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage import keys
from storage.errors import AbandonedError, MediaError, StorageError
from storage.ffmpeg_commands import QUIET
from storage.manifests import SegmentManifest, sha256_file
from storage.media import probe
from storage.media_tools import ffmpeg_exe
from storage.object_store import ObjectStore
from storage.recordings import Recordings


class IntegrityError(StorageError):
    """A stored segment no longer matches the SHA-256 in its manifest."""


class NoFootageError(StorageError):
    """There is no stored footage in the requested range."""


@dataclass(frozen=True)
class ExportManifest:
    export_id: str
    camera_id: str
    requested_start_ms: int
    requested_end_ms: int
    start_ms: int  # what the file actually covers
    end_ms: int
    video_key: str
    sha256: str
    bytes: int
    requested_by: str
    created: str
    sources: tuple[dict[str, object], ...]  # segment key, sha256, start_ms, end_ms

    @classmethod
    def from_json(cls, data: builtins.bytes) -> ExportManifest:  # `bytes` is a field here
        raw = json.loads(data)
        return cls(**{**raw, "sources": tuple(raw["sources"])})

    @property
    def manifest_key(self) -> str:
        return export_manifest_key(self.video_key)


def export_manifest_key(video_key: str) -> str:
    return video_key.removesuffix(".mp4") + ".json"


class Exporter:
    def __init__(self, store: ObjectStore, work_dir: Path, timeout_s: float) -> None:
        self._store = store
        self._recordings = Recordings(store)
        self._work_dir = work_dir
        self._timeout_s = timeout_s

    def export(self, export_id: str, camera_id: str, start_ms: int, end_ms: int, requested_by: str,
               stop: Callable[[], bool] = lambda: False) -> ExportManifest:
        segments = list(self._recordings.segments(camera_id, start_ms, end_ms, stop))
        if not segments:
            raise NoFootageError(f"camera {camera_id!r} has no footage in the requested range")
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._work_dir, prefix="export-") as tmp:
            files = [self._fetch_verified(m, Path(tmp) / f"{i:06d}.mp4", stop)
                     for i, m in enumerate(segments)]
            out = Path(tmp) / "export.mp4"
            first, last = segments[0], segments[-1]
            inpoint = max(0, start_ms - first.start_ms) / 1000
            outpoint = (min(end_ms, last.end_ms) - last.start_ms) / 1000
            self._concat(files, inpoint, outpoint, Path(tmp) / "list.txt", out)
            info = probe(out, "export")
            span_start = max(first.start_ms, start_ms - round(inpoint * 1000)) if inpoint else first.start_ms
            key = keys.export_key(export_id, camera_id)
            manifest = ExportManifest(
                export_id=export_id, camera_id=camera_id, requested_start_ms=start_ms,
                requested_end_ms=end_ms, start_ms=span_start,
                end_ms=span_start + round(info.duration_s * 1000), video_key=key,
                sha256=sha256_file(out), bytes=out.stat().st_size, requested_by=requested_by,
                created=datetime.now(UTC).isoformat(),
                sources=tuple({"segment_key": m.segment_key, "sha256": m.sha256,
                               "start_ms": m.start_ms, "end_ms": m.end_ms} for m in segments))
            self._store.put_file(key, out, "video/mp4")
        self._store.put_bytes(manifest.manifest_key, json.dumps(asdict(manifest), indent=2).encode(),
                              "application/json")
        return manifest

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def _fetch_verified(self, m: SegmentManifest, path: Path, stop: Callable[[], bool]) -> Path:
        if stop():
            raise AbandonedError(f"the export of camera {m.camera_id!r} was abandoned by its caller")
        self._store.get_file(m.segment_key, path)
        if sha256_file(path) != m.sha256:
            raise IntegrityError(f"segment {m.segment_key} fails its SHA-256 check; not exported")
        return path

    def _concat(self, files: list[Path], inpoint: float, outpoint: float, listing: Path,
                out: Path) -> None:
        lines = []
        for i, f in enumerate(files):
            lines.append(f"file '{f.name}'")
            if i == 0 and inpoint > 0:
                lines.append(f"inpoint {inpoint:.3f}")
            if i == len(files) - 1:
                lines.append(f"outpoint {outpoint:.3f}")
        listing.write_text("\n".join(lines) + "\n")
        cmd = [ffmpeg_exe(), *QUIET, "-y", "-f", "concat",
               "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(out)]
        proc = subprocess.run(cmd, capture_output=True, timeout=self._timeout_s, check=False)
        if proc.returncode != 0:
            raise MediaError(f"export failed: {proc.stderr.decode(errors='replace')[-200:]}")
