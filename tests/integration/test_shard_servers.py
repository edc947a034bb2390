"""A partitioned index on a 4-node Ray cluster: shard servers per node loaded from the bucket,
a router; a killed actor and nodes removed mid-query never give a wrong answer, with no
replica left the answer names the days not searched, and a server that hangs is left out
(tests/ray_shard_servers.py does it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.security.ray_auth import write_local_token


@pytest.mark.timeout(600)
def test_shard_servers_survive_a_killed_actor_and_removed_nodes(s3_endpoint: object, tmp_path: Path) -> None:
    token = write_local_token(tmp_path)
    ep = s3_endpoint
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "VIGIL_TEST_S3_ENDPOINT": ep.endpoint, "VIGIL_TEST_S3_ACCESS_KEY": ep.access_key,  # type: ignore[attr-defined]
           "VIGIL_TEST_S3_SECRET_KEY": ep.secret_key, "VIGIL_TEST_S3_BUCKET": ep.bucket}  # type: ignore[attr-defined]
    done = subprocess.run([sys.executable, "-m", "tests.ray_shard_servers"], env=env,
                          capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["nodes"] == 4 and sum(result["shards_per_server"]) == 2 * 8  # 8 days, 2 replicas
    for phase in ("all_up", "actor_killed", "after_refresh", "no_replica_left", "after_reassignment"):
        assert result[phase]["wrong"] == 0 and result[phase]["right"] > 0, (phase, result)
    assert result["node_removed_mid_query"]["wrong"] == 0 and result["node_removed_mid_query"]["right"] > 0
    assert result["unsearched_days_reported"] and result["owners_deterministic"]
    assert all(result["hung_refused"].values()), result["hung_refused"]  # no call waits on it for good
    assert result["hung_left_out"] and result["hung_beside"]["wrong"] == 0, result
