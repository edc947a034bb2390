"""One ffmpeg process pulling a live stream into keyframe-aligned fragmented-MP4 segments.

ffmpeg handles the protocols (RTSP, HLS, MPEG-TS over UDP, HTTP); Vigil only
cuts by stream copy, exactly as `storage.media.segment` does for files, and
learns of each completed segment from the segment list (one CSV line is
appended when a segment file is closed).

Every run checks the stream URL with the fetch policy (`storage.url_policy`,
camera streams) and hands it to ffmpeg through `storage.ffmpeg_input`: on
stdin, so a camera password is never on a command line, with a protocol
whitelist, and HTTP(S)/RTSPS through the policy-checking proxy. ffmpeg's
error log (which may quote the URL) is a 0600 file, masked when read.

Wall clock. The stream's own timestamps are kept, so frame timing stays exact
(`-use_wallclock_as_timestamps` would replace them with network arrival times,
jittered and out of order for B-frames). They are anchored to the wall clock
by causality: footage up to stream time T that has arrived by wall time W was
captured no later than W, so `W - T` bounds the wall time of stream time 0
from above. ffmpeg reports T (`-progress`) every PROGRESS_PERIOD_S and at every closed
segment; the anchor is the smallest `W - T` seen until the first segment is
placed, then it is frozen, so the segments of one process sit exactly as far
apart as their timestamps. A segment is placed by its end (the list's end
time is the next keyframe's, exact; the first start reads 0 even when ffmpeg
dropped leading non-keyframes) and starts its probed duration earlier. Each
process has its own anchor: after an outage a new process starts a new
segment at the new wall time, and the outage stays a gap in the recording.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from storage.cameras import mask_url
from storage.ffmpeg_commands import segment_command
from storage.ffmpeg_input import GuardedInput
from storage.url_policy import CheckedUrl, Purpose, UrlPolicy, check_url

STALL_TIMEOUT_S = 2.0  # no data for this long ends the process: an outage becomes a gap
PROGRESS_PERIOD_S = 0.1  # also how late a closed segment may be noticed: its listing is read then
STOP_GRACE_S = 10.0
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]*[^\s'\".,:;]")  # without trailing punctuation
_UDP_SCHEMES = ("udp", "rtp")
# an ffmpeg log line from a protocol or format: "[udp @ 0x55d1…] bind failed: …"
_COMPONENT_LINE = re.compile(r"^\[([A-Za-z0-9_]+) @ 0x[0-9a-fA-F]+\] (.+)$")
# ffmpeg's closing lines, which restate the cause less precisely: its input and output labels
# ("[in#0 @ 0x…] Error opening input: …", ffmpeg 6+), "Error opening input files: …", and
# "udp://…: Input/output error" (ffmpeg 4-5 name the input by its URL)
_RESTATEMENT = re.compile(r"^(\[\w+[#:][^\]]*\]|Error opening (input|output) files?\b|Conversion failed"
                          r"|[a-zA-Z][a-zA-Z0-9+.-]*://\S*: )")


@dataclass(frozen=True)
class LiveSegment:
    path: Path
    end_ms: int  # wall clock at the end of its last frame; the start is this minus its duration
    listed_ms: int = 0  # wall clock when ffmpeg's listing of it was read (it was closed by then)


def masked(message: str) -> str:
    """`message` with credentials in any URL it quotes replaced by '***'."""
    return _URL.sub(lambda m: mask_url(m.group(0)), message)


def listens(url: str) -> bool:
    """Whether the recorder listens for the stream (UDP, RTP: the camera sends) rather than
    connects to it: a listener waiting for a silent camera costs nothing, but footage sent while
    no ffmpeg listens is lost."""
    return url.split(":", 1)[0].lower() in _UDP_SCHEMES


def stream_input(checked: CheckedUrl) -> tuple[CheckedUrl, dict[str, str]]:
    """The URL ffmpeg opens and its options: each protocol stalls out within STALL_TIMEOUT_S."""
    micros = str(round(STALL_TIMEOUT_S * 1_000_000))
    url = checked.url
    if checked.scheme in _UDP_SCHEMES:  # the UDP reader ignores -rw_timeout; it takes `timeout` in the URL
        url = url if "timeout=" in url else f"{url}{'&' if '?' in url else '?'}timeout={micros}"
        return replace(checked, url=url), {}
    if checked.scheme in ("rtsp", "rtsps"):
        return checked, {"rtsp_transport": "tcp", "timeout": micros}
    return checked, {"rw_timeout": micros}


def recorder_command(input_args: Sequence[str], out_dir: Path, run: str,
                     segment_seconds: float) -> list[str]:
    """Stream copy of the first video stream into `{run}_NNNNNN.mp4`, listed in `{run}.csv`
    (`storage.ffmpeg_commands`, as files are cut), reporting progress on stdout.

    `input_args` are a `GuardedInput`'s: the stream URL itself is never on the command line."""
    return segment_command(input_args, segment_seconds, out_dir / f"{run}.csv", out_dir / f"{run}_%06d.mp4",
                           ("-progress", "pipe:1", "-stats_period", f"{PROGRESS_PERIOD_S}"))


def telling_error(log_lines: Sequence[str]) -> str:
    """The line of ffmpeg's error log that names the cause: the last one that is not a closing
    restatement, a protocol's or format's without its pointer ("udp: bind failed: Address already
    in use" where the log ends "Error opening input files: Inappropriate ioctl for device"); the
    last line when every line is a restatement."""
    for line in reversed(log_lines):
        text = line.strip()
        if not text or _RESTATEMENT.match(text):
            continue
        match = _COMPONENT_LINE.match(text)
        return f"{match.group(1)}: {match.group(2)}" if match else text
    return log_lines[-1].strip() if log_lines else ""


class WallAnchor:
    """The wall-clock time of stream time 0: min(W - T) over observations, frozen at first use."""

    def __init__(self) -> None:
        self._best_s: float | None = None
        self._frozen = False

    def observe(self, stream_s: float, wall_s: float) -> None:
        if not self._frozen and (self._best_s is None or wall_s - stream_s < self._best_s):
            self._best_s = wall_s - stream_s

    def wall_ms(self, stream_s: float) -> int:
        if self._best_s is None:
            raise RuntimeError("no stream time observed yet")
        self._frozen = True
        return round((self._best_s + stream_s) * 1000)


class StreamRun:
    """One ffmpeg process; iterate `segments()` until the stream ends, stalls or is interrupted."""

    def __init__(self, url: str, policy: UrlPolicy, out_dir: Path, run: str,
                 segment_seconds: float) -> None:
        """Check `url` (again: its host may resolve elsewhere by now) and start ffmpeg on it;
        `UrlRefusedError` if the policy refuses it."""
        self._out_dir, self._run = out_dir, run
        self._listing = out_dir / f"{run}.csv"
        self._log = out_dir / f"{run}.log"  # ffmpeg's errors may quote the URL: private, masked on read
        self._listed = 0
        self._anchor = WallAnchor()
        checked, options = stream_input(check_url(url, Purpose.CAMERA, policy))
        self._guard = GuardedInput(checked, policy, options).__enter__()
        try:
            with open(os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as log:
                self._proc = subprocess.Popen(
                    recorder_command(self._guard.input.args, out_dir, run, segment_seconds),
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                    env=self._guard.input.env)
        except BaseException:
            self._guard.close()
            raise
        self._send_script(self._guard.input.script.decode("ascii"))

    def _send_script(self, script: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(script)
            self._proc.stdin.close()
        except OSError:  # ffmpeg is already gone; finish() reports its error
            pass

    def segments(self) -> Iterator[LiveSegment]:
        """Each segment as soon as ffmpeg has closed its file, in order."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                self._anchor.observe(int(value) / 1_000_000, time.time())
            elif key == "progress":
                yield from self._completed()
        self._proc.wait()
        yield from self._completed()

    def interrupt(self) -> None:
        """Ask ffmpeg to finish (it closes the segment in progress and lists it); kill it after
        STOP_GRACE_S if it does not."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            killer = threading.Timer(STOP_GRACE_S, self._kill)
            killer.daemon = True
            killer.start()

    def finish(self) -> str:
        """Wait for the process to end; its last error line (or the policy's refusal of a
        connection it tried), credentials masked."""
        self._proc.wait()
        self._guard.close()
        lines = self._log.read_text(errors="replace").strip().splitlines()
        self._log.unlink(missing_ok=True)
        self._listing.unlink(missing_ok=True)
        if refusals := self._guard.refusals:
            return masked(refusals[-1][:300])
        return masked(telling_error(lines)[:300])

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()

    def _completed(self) -> Iterator[LiveSegment]:
        if not self._listing.is_file():
            return
        text = self._listing.read_text()
        complete = text[:text.rfind("\n") + 1].splitlines()  # a line is final once its newline is written
        for name, _start, end in csv.reader(complete[self._listed:]):
            self._listed += 1
            now = time.time()
            self._anchor.observe(float(end), now)
            yield LiveSegment(self._out_dir / name, self._anchor.wall_ms(float(end)), round(now * 1000))
