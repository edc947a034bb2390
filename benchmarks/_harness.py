"""Shared benchmark harness: warm-up, latency distributions, JSON results with git SHA and machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes, for `make bench` and CI")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    return p


def latencies_ms(fn: Callable[[], object], runs: int, warmup: int = 5) -> dict[str, float]:
    """Call `fn` warmup+runs times; p50/p95/p99/mean of the timed runs, in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    a = np.array(samples)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "runs": runs}


def city_camera_footage(path: Path, size: str, seconds: int, fps: int, seed: int = 0,
                        gop_s: float = 2.0) -> Path:
    """Synthetic H.264 like a city camera's: 2 s GOP (or `gop_s`), sensor noise, ≈ 3-4 Mbit/s."""
    from storage.media_tools import ffmpeg_exe

    src = f"testsrc2=size={size}:rate={fps},noise=alls=6:allf=t+u:all_seed={seed}"
    gop = str(round(gop_s * fps))
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", src, "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", gop, "-keyint_min", gop,
                    "-sc_threshold", "0", "-maxrate", "4M", "-bufsize", "8M", "-crf", "28",
                    "-pix_fmt", "yuv420p", str(path)],
                   check=True, timeout=3600)
    return path


def wide_street_footage(path: Path, size: str, seconds: int, seed: int = 7) -> Path:
    """A wide street of the synthetic world (the wide incident's first camera: night, small
    subjects in crowds) as H.264 at `size`, `seconds` long, 2 s GOP, at the world's 10 frames/s."""
    from indexing.world.video import render_camera
    from indexing.world.wide import wide_incident

    width, height = (int(v) for v in size.split("x"))
    scenario = wide_incident(seed, duration_s=float(seconds))
    return render_camera(scenario, scenario.cameras[0].camera_id, path, width, height)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "processor": platform.processor()}


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write(out: Path, question: str, results: dict[str, Any], quick: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"question": question, "quick": quick, "git_sha": git_sha(), "machine": machine(),
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False))


def anon_rss_bytes() -> int:
    """This process's anonymous resident memory (heap, not file-backed pages such as memmaps),
    after returning freed heap to the OS; 0 where /proc is missing."""
    from services.node import heap

    heap.trim()
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith("RssAnon:")), "RssAnon: 0 kB")
    return int(line.split()[1]) * 1024


def machine_busy_s() -> float:
    """CPU seconds every process on the machine has used so far (all cores, /proc/stat: user,
    nice, system, irq, softirq, steal); 0 where /proc is missing. The difference over an interval,
    divided by its wall time, is how many cores were busy."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def udp_listen_ports() -> Iterator[int]:
    """UDP ports for the cameras' streams, each free when chosen and never one twice in a run, drawn
    below the host's ephemeral range: a sender's source port is an ephemeral one, and one taken before
    its camera's recorder listens would keep that recorder out ("udp: bind failed")."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = list(range(10_000, low))
    random.shuffle(ports)  # another run beside this one draws other ports
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        yield port
