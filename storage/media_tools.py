"""Locating the ffmpeg binary: the imageio-ffmpeg wheel's build, pinned with the wheel.

Every ffmpeg Vigil runs is the static build shipped in the pinned
`imageio-ffmpeg` wheel (0.8.1: ffmpeg 9.0.2), whatever else is installed, so
the protocol whitelists, TLS verification and concat behaviour that
`storage.ffmpeg_input` relies on are the ones tested. To run another build
(a distribution's, with patches of its own), set the `IMAGEIO_FFMPEG_EXE`
environment variable to its path: imageio-ffmpeg returns it instead of its
own, and so does this function. Vigil runs no ffprobe: files are probed with
PyAV (`storage.media.probe`), which links its own libav from the `av` wheel.
"""

from __future__ import annotations

import functools


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable: the wheel's build, or `IMAGEIO_FFMPEG_EXE` when set."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())
