"""`vigil serve` as a child process, and CLI commands against it (tests of what an operator types)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

VIGIL = [sys.executable, "-m", "services.cli"]


def cli_env(data_dir: Path, model_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without VIGIL_* variables, plus a test node's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DATA_DIR=str(data_dir), VIGIL_MODEL__PATH=str(model_dir),
               VIGIL_SERVER__PORT="0", VIGIL_RAY__NUM_CPUS="2", VIGIL_INGEST__SEGMENT_SECONDS="4",
               VIGIL_INGEST__DEDUP_COSINE="off",  # random weights: dedup off
               VIGIL_INGEST__REGIONS="off",  # one vector per keyframe, as the session's node
               VIGIL_SEARCH__MIN_SCORE="-1", VIGIL_SERVER__METRICS_PORT="0",
               VIGIL_CONSOLE__PORT="0", **extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([*VIGIL, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


class Served:
    """`vigil serve` started with `env`; `address` once it says it is serving."""

    def __init__(self, env: dict[str, str], log: Path, start_timeout_s: float = 180) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen([*VIGIL, "serve"], env=env, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + start_timeout_s
        for line in self.proc.stdout:  # ends when the server exits
            if m := re.search(r"serving on (\S+)", line):
                self.address = m.group(1)
                return
            if time.monotonic() > deadline:
                break
        self.proc.kill()
        raise AssertionError(f"vigil serve did not start: {self.log.read_text()[-3000:]}")

    def run(self, env: dict[str, str], *args: str) -> str:
        """A CLI command against this server."""
        return run_cli(env, *args, "--address", self.address)

    def stop(self, sig: int, timeout_s: float = 60) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout_s)
