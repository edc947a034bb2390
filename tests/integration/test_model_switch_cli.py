"""`vigil model switch` end to end: a real server (embedded SeaweedFS, Ray, gRPC) serving a
random-weights model switches to the bundled vigil-tiny; the footage is found with new scores,
and after a kill -9 the restarted server (settings still naming the old model) serves the new one."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.served import Served, cli_env

QUERY = ("search", "xe đạp", "--frames", "--top-k", "50", "--camera", "cam-m")


def _scores(search_output: str) -> dict[str, float]:
    """frame time → score, from `vigil search --frames` lines."""
    return {m["t"]: float(m["score"]) for m in re.finditer(r"^\s*(?P<score>-?\d\.\d+)\s.*best (?P<t>\S+)",
                                                           search_output, re.M)}


def _field(status: str, name: str) -> str:
    return re.search(rf"^{name}\s+(\S+)", status, re.M)[1]  # type: ignore[index]


@pytest.mark.timeout(900)
def test_switching_the_model_and_restarting_serves_the_new_version(tmp_path: Path, video: Path,
                                                                   random_model_dir: Path) -> None:
    env = cli_env(tmp_path / "data", random_model_dir, VIGIL_INDEX__COMPACT_MIN_BATCHES="1")
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
