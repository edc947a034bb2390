"""Test footage made with ffmpeg's lavfi sources: exact, seeded, no files shipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from storage.media_tools import ffmpeg_exe

# Visually distinct 4-second scenes; with a 2 s GOP and 4 s segments each scene is one segment.
SCENES = (
    "testsrc2=size=640x360:rate=10",
    "smptebars=size=640x360:rate=10",
    "mandelbrot=size=640x360:rate=10",
    "rgbtestsrc=size=640x360:rate=10",
    "color=c=darkgreen:size=640x360:rate=10,drawgrid=w=40:h=40:t=4:c=yellow",
)
SCENE_S = 4
FPS = 10


def make_video(path: Path, scenes: tuple[str, ...] = SCENES, gop_s: int = 2) -> Path:
    """H.264 MP4 of the scenes one after another, keyframes every `gop_s` seconds."""
    args = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error"]
    for scene in scenes:
        args += ["-f", "lavfi", "-t", str(SCENE_S), "-i", scene]
    joined = "".join(f"[{i}:v]" for i in range(len(scenes)))
    args += ["-filter_complex", f"{joined}concat=n={len(scenes)}:v=1:a=0[v]", "-map", "[v]",
             "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
             "-g", str(gop_s * FPS), "-keyint_min", str(gop_s * FPS), "-sc_threshold", "0",
             str(path)]
    subprocess.run(args, check=True, timeout=120)
    return path


def frame_png(video: Path, at_s: float, out: Path) -> bytes:
    """One decoded frame of `video` as PNG bytes (what an investigator might upload)."""
    subprocess.run([ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-ss", f"{at_s:.3f}",
                    "-i", str(video), "-frames:v", "1", str(out)], check=True, timeout=60)
    return out.read_bytes()
