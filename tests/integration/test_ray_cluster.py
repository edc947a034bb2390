"""Scale-out: `ray.address` joins an existing cluster and the embedders spread over its nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.security.ray_auth import write_local_token


@pytest.mark.timeout(300)
def test_embedders_are_placed_on_both_nodes_of_a_two_node_cluster(random_model_dir: Path,
                                                                  tmp_path: Path) -> None:
    token = write_local_token(tmp_path)  # the cluster's token, as every node of it gets it
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    out = subprocess.run([sys.executable, "-m", "tests.ray_two_nodes", str(random_model_dir)], env=env,
                         capture_output=True, text=True, timeout=280, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["nodes_in_cluster"] == 2
    assert len(set(result["actor_nodes"])) == 2  # one embedder per node
    assert result["vectors"] == [12, 128]
    assert result["frames_per_actor_bulk"] == [8, 4]  # batches of 4, round-robin
    assert result["frames_per_actor_one_batch_calls"] == [6, 6]  # not every call to the first actor
