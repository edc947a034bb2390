"""`vigil serve` with a partitioned index (`ray.shard_servers`), end to end: the shard servers hold
every frame, the front end none. What an operator notices: searches, searches by a hit and trails
answer as on one node, and the node counts its vectors from the servers; a file ingested twice is
indexed once; the front end writes no vector file; a model switch re-embeds into the new version
and its shard servers serve it; after a kill -9 the restarted node's shard servers load
everything from the bucket again."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.served import Served, cli_env

CAMERAS = {"cam-p1": "2026-11-20T20:00:00Z", "cam-p2": "2026-11-20T20:01:00Z"}
QUERY = ("search", "street", "--frames", "--top-k", "50", "--min-score", "-1")


def _hits(search_output: str) -> dict[tuple[str, str], float]:
    """(camera, frame time) → score, from `vigil search --frames` lines."""
    return {(m["camera"], m["t"]): float(m["score"]) for m in re.finditer(
        r"^\s*(?P<score>-?\d\.\d+)\s+(?P<camera>\S+)\s.*best (?P<t>\S+)", search_output, re.M)}


def _vector_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.rglob("*.f16"))


@pytest.mark.timeout(900)
def test_a_partitioned_node_searches_through_its_shard_servers_and_holds_no_vectors(
        tmp_path: Path, video: Path, random_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, random_model_dir, VIGIL_RAY__SHARD_SERVERS="true")
    served = Served(env, tmp_path / "serve-1.log")
    try:
        for camera, start in CAMERAS.items():
            served.run(env, "ingest", str(video), "--camera", camera, "--start", start)
        found = _hits(served.run(env, *QUERY))
        assert {c for c, _ in found} == set(CAMERAS) and len(found) == 2 * 10  # every keyframe
        assert _vector_files(data) == []  # the vectors are the shard servers', in RAM
        assert re.search(r"^vectors\s+20$", served.run(env, "status"), re.M)  # counted by the servers
        again = served.run(env, "ingest", str(video), "--camera", "cam-p1", "--start", CAMERAS["cam-p1"])
        assert re.search(r", 0 new vectors$", again, re.M), again  # the servers knew every keyframe
        assert _hits(served.run(env, *QUERY)) == found

        # by appearance: the same footage on the other camera comes first
        seed = re.search(r"hit (\S+)", served.run(env, "search", "street", "--frames",
                                                   "--camera", "cam-p1", "--min-score", "-1"))[1]  # type: ignore[index]
        similar = served.run(env, "search", "--similar", seed, "--frames", "--min-score", "-1")
        assert re.search(r"^\s*\d\.\d+\s+cam-p2\s", similar, re.M), similar
        trail = served.run(env, "follow", seed, "--min-score", "0.99")
        assert re.search(r"trail: \d+ visits", trail) and "cam-p2" in trail, trail

        served.run(env, "model", "switch", "--name", "vigil-tiny")  # re-embedded past the writers
        switched = _hits(served.run(env, *QUERY))
        assert switched.keys() == found.keys() and all(switched[k] != found[k] for k in found)
    finally:
        served.stop(signal.SIGKILL)

    restarted = Served(env, tmp_path / "serve-2.log")
    try:
        assert _hits(restarted.run(env, *QUERY)) == switched
        assert _vector_files(data) == []
    finally:
        restarted.stop(signal.SIGTERM)
