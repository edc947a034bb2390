"""Render a scenario as one H.264 file per camera, encoded by ffmpeg like a real camera."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexing.world.degrade import apply_grain, grain_layer
from indexing.world.layouts import paint_background
from indexing.world.render import draw_frame
from indexing.world.script import Scenario
from indexing.world.timeline import TimelineEvent, placements_at, scene_of, timeline
from storage.media_tools import ffmpeg_exe

logger = logging.getLogger(__name__)
GOP_S = 2  # a keyframe every 2 s, as typical camera firmware does
GRAIN_BANK = 6  # noise layers cycled through (fresh noise per frame costs as much as drawing)


@dataclass(frozen=True)
class RenderedFootage:
    videos: dict[str, Path]  # camera_id -> .mp4
    events: tuple[TimelineEvent, ...]
    width: int
    height: int
    fps: int
    duration_s: float


def encoder_command(path: Path, width: int, height: int, fps: int) -> list[str]:
    return [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-an", "-c:v", "libx264",
            "-preset", "veryfast", "-crf", "26", "-maxrate", "2M", "-bufsize", "4M", "-g", str(GOP_S * fps),
            "-keyint_min", str(GOP_S * fps), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path)]


def camera_frames(scenario: Scenario, camera_id: str, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield every frame of one camera (H×W×3 uint8), deterministic for the scenario."""
    cam = scenario.camera(camera_id)
    scene = scene_of(scenario, camera_id)
    background = paint_background(cam.layout, cam.lighting, width, height, cam.seed)
    rng = np.random.default_rng(cam.seed)
    bank = [grain_layer(cam.lighting, width, height, rng) for _ in range(GRAIN_BANK)]
    for i in range(round(scenario.duration_s * scenario.fps)):
        t = i / scenario.fps
        frame = draw_frame(background, scene, placements_at(scenario, camera_id, t, width / height))
        yield apply_grain(frame, bank[(i * 5) % GRAIN_BANK])


def render_camera(scenario: Scenario, camera_id: str, path: Path, width: int, height: int) -> Path:
    proc = subprocess.Popen(encoder_command(path, width, height, scenario.fps),
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for frame in camera_frames(scenario, camera_id, width, height):
            proc.stdin.write(frame.tobytes())
    finally:
        proc.stdin.close()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait(timeout=120)
    if code != 0:
        raise RuntimeError(f"ffmpeg failed encoding {camera_id} to {path} (exit {code}): {stderr}")
    return path


def render_scenario(scenario: Scenario, out_dir: Path, width: int = 1280, height: int = 720,
                    workers: int = 2) -> RenderedFootage:
    """Render every camera to `out_dir/{camera_id}.mp4` (`workers` processes) and return the timeline."""
    if width % 2 or height % 2:
        raise ValueError(f"frame size {width}x{height} must be even for yuv420p")
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = [cam.camera_id for cam in scenario.cameras]
    paths = [out_dir / f"{cam_id}.mp4" for cam_id in ids]
    sizes = [width] * len(ids), [height] * len(ids)
    if workers <= 1:  # in-process: usable where child processes are not (daemons, Ray tasks)
        list(map(render_camera, [scenario] * len(ids), ids, paths, *sizes))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(ids))) as pool:
            list(pool.map(render_camera, [scenario] * len(ids), ids, paths, *sizes))
    logger.info("rendered %d cameras of %s to %s", len(ids), scenario.name, out_dir)
    return RenderedFootage(videos=dict(zip(ids, paths, strict=True)), events=timeline(scenario), width=width,
                           height=height, fps=scenario.fps, duration_s=scenario.duration_s)


def rendered_once(scenario: Scenario, out_dir: Path, width: int = 1280, height: int = 720,
                  workers: int = 2) -> dict[str, Path]:
    """The scenario's videos in `out_dir`, rendered unless a complete rendering of this very
    scenario, size and world (the drawing code in `indexing.world`) is there already."""
    stamp, wanted = out_dir / "complete", _fingerprint(scenario, width, height)
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == wanted:
        logger.info("reusing the rendered footage of %s in %s", scenario.name, out_dir)
        return {cam.camera_id: out_dir / f"{cam.camera_id}.mp4" for cam in scenario.cameras}
    stamp.unlink(missing_ok=True)
    videos = render_scenario(scenario, out_dir, width, height, workers).videos
    stamp.write_text(wanted + "\n", encoding="utf-8")
    return videos


def _fingerprint(scenario: Scenario, width: int, height: int) -> str:
    digest = hashlib.sha256(f"{scenario!r} {width}x{height}".encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()
