"""Locating the ffmpeg binary: the system's when installed, else imageio-ffmpeg's static build."""

from __future__ import annotations

import functools
import shutil


@functools.cache
def ffmpeg_exe() -> str:
    """Path of an ffmpeg executable; no root needed (falls back to the imageio-ffmpeg wheel)."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
