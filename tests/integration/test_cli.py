"""The commands an operator types: `vigil serve`, `vigil ingest`, `vigil search`, on the
embedded SeaweedFS, including a kill -9 of the server and a restart on the same data."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.served import Served, cli_env, run_cli


def _weed_running(data_dir: Path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any("weed" in line and str(data_dir) in line for line in out.splitlines())


@pytest.mark.timeout(600)
def test_serve_ingest_search_survive_kill_and_restart(tmp_path: Path, video: Path,
                                                      random_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, random_model_dir)
    served = Served(env, tmp_path / "serve-1.log")
    try:  # re-run on glibc malloc, so that freed record pages go back to the OS (services.node.heap)
        assert b"PYTHONMALLOC=malloc" in Path(f"/proc/{served.proc.pid}/environ").read_bytes().split(b"\0")
        out = run_cli(env, "ingest", str(video), "--camera", "cam-cho-3",
                   "--start", "2026-11-20T20:00:00+07:00", "--address", served.address)
        assert "succeeded: 5 segments (0 already stored), 10 keyframes, 10 new vectors" in out
        before = run_cli(env, "search", "người vác xe đạp", "--top-k", "5", "--frames",
                      "--address", served.address)
        lines = before.strip().splitlines()
        assert len(lines) == 5 and all("  cam-cho-3  2026-11-20 13:00:" in ln for ln in lines)  # UTC
        clips = run_cli(env, "search", "người vác xe đạp", "--address", served.address)
        assert "cam-cho-3  2026-11-20 13:00:00–13:00:20" in clips  # all 10 keyframes: one clip
        assert "registered cam-cho-3 (group cho-ben-thanh, 30 days)" in run_cli(
            env, "camera", "register", "cam-cho-3", "--group", "cho-ben-thanh", "--address", served.address)
        assert "cam-cho-3: not recording, 0 segments" in run_cli(
            env, "camera", "status", "cam-cho-3", "--address", served.address)
        status = run_cli(env, "status", "--address", served.address)
        assert "segments     5" in status and "vectors      10" in status and "1 node(s)" in status
        assert "cameras      1" in status
    finally:
        served.proc.send_signal(signal.SIGKILL)
        served.proc.wait(30)

    # same data folder: stale SeaweedFS cleaned up, bucket reloaded
    restarted = Served(env, tmp_path / "serve-2.log")
    try:
        after = run_cli(env, "search", "người vác xe đạp", "--top-k", "5", "--frames",
                     "--address", restarted.address)
        assert after == before
    finally:
        restarted.proc.send_signal(signal.SIGTERM)
        restarted.proc.wait(60)
    assert not _weed_running(data), "the embedded S3 server outlived vigil serve"


@pytest.mark.timeout(600)
def test_an_acknowledged_upload_survives_kill_9_mid_ingest(tmp_path: Path, video: Path,
                                                           random_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, random_model_dir)
    served = Served(env, tmp_path / "serve-1.log")
    try:
        out = run_cli(env, "ingest", str(video), "--camera", "cam-kill", "--no-wait",
                   "--start", "2026-11-20T20:00:00Z", "--address", served.address)
        job_id = out.split()[-1]
    finally:
        served.proc.send_signal(signal.SIGKILL)  # right after the acknowledgement
        served.proc.wait(30)
    restarted = Served(env, tmp_path / "serve-2.log")
    try:
        deadline = time.monotonic() + 240
        while "succeeded" not in (status := run_cli(env, "job", job_id, "--address", restarted.address)):
            assert time.monotonic() < deadline and "failed" not in status, status
            time.sleep(1)
        assert "segments=5" in status
        frames = run_cli(env, "search", "xe đạp", "--frames", "--top-k", "50", "--camera", "cam-kill",
                      "--address", restarted.address)
        assert len(frames.strip().splitlines()) == 10  # every keyframe once: none lost, none twice
    finally:
        restarted.proc.send_signal(signal.SIGTERM)
        restarted.proc.wait(60)
