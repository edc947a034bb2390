"""`vigil model switch` end to end: a real server (embedded SeaweedFS, Ray, gRPC) serving a
random-weights model switches to the bundled vigil-tiny; the footage is found with new scores,
and after a kill -9 the restarted server (settings still naming the old model) serves the new one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

VIGIL = [sys.executable, "-m", "services.cli"]
QUERY = ("search", "xe đạp", "--frames", "--top-k", "50", "--camera", "cam-m")


class Served:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen([*VIGIL, "serve"], env=env, stdout=subprocess.PIPE,
                                         stderr=err, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # ends when the server exits
            if m := re.search(r"serving on (\S+)", line):
                self.address = m.group(1)
                return
        raise AssertionError(f"vigil serve did not start: {log.read_text()[-3000:]}")

    def run(self, env: dict[str, str], *args: str) -> str:
        proc = subprocess.run([*VIGIL, *args, "--address", self.address], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(60)


def _scores(search_output: str) -> dict[str, float]:
    """frame time → score, from `vigil search --frames` lines."""
    return {m["t"]: float(m["score"]) for m in re.finditer(r"^\s*(?P<score>-?\d\.\d+)\s.*best (?P<t>\S+)",
                                                           search_output, re.M)}


def _field(status: str, name: str) -> str:
    return re.search(rf"^{name}\s+(\S+)", status, re.M)[1]  # type: ignore[index]


@pytest.mark.timeout(900)
def test_switching_the_model_and_restarting_serves_the_new_version(tmp_path: Path, video: Path,
                                                                   random_model_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(VIGIL_DATA_DIR=str(tmp_path / "data"), VIGIL_MODEL__PATH=str(random_model_dir),
               VIGIL_SERVER__PORT="0", VIGIL_RAY__NUM_CPUS="2", VIGIL_INGEST__SEGMENT_SECONDS="4",
               VIGIL_INGEST__DEDUP_COSINE="null", VIGIL_SEARCH__MIN_SCORE="-1",
               VIGIL_SERVER__METRICS_PORT="0", VIGIL_INDEX__COMPACT_MIN_BATCHES="1")
    served = Served(env, tmp_path / "serve-1.log")
    try:
        served.run(env, "ingest", str(video), "--camera", "cam-m", "--start", "2026-11-20T20:00:00Z")
        before = _scores(served.run(env, *QUERY))
        old_model = _field(served.run(env, "model", "status"), "active")
        assert len(before) == 10 and old_model.startswith(random_model_dir.name)

        switched = served.run(env, "model", "switch", "--name", "vigil-tiny")
        status = served.run(env, "model", "status")
        new_model = _field(status, "active")
        assert new_model.startswith("vigil-tiny-") and f"replaced {old_model}" in status
        assert _field(status, "serving") == new_model and "idle" in switched
        after = _scores(served.run(env, *QUERY))
        assert after.keys() == before.keys()  # every keyframe found again
        assert all(after[t] != before[t] for t in after)  # with the new model's vectors
    finally:
        served.stop(signal.SIGKILL)

    restarted = Served(env, tmp_path / "serve-2.log")  # settings still name the random model
    try:
        assert _field(restarted.run(env, "model", "status"), "serving") == new_model
        assert _scores(restarted.run(env, *QUERY)) == after
        assert f"the bucket's active index version is {new_model}" in restarted.log.read_text()
    finally:
        restarted.stop(signal.SIGTERM)
