"""The API works from another language: a Node client (@grpc/grpc-js + @grpc/proto-loader)
that reads only the .proto files uploads a video, follows the job and searches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def node_client() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are required in CI for the independent-client test")
        pytest.skip("node/npm not installed: the independent-client test needs them")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR,
                       check=True, timeout=300)
    return NODE_DIR / "client.mjs"


def test_a_node_client_ingests_and_searches(node_client: Path, server: object, admin_token: str,
                                            video: Path) -> None:
    out = subprocess.run(["node", str(node_client), server.address, admin_token,  # type: ignore[attr-defined]
                          str(video), "cam-node", str(int(START.timestamp()))],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    result = json.loads(out)
    assert result["job"] == {"state": "JOB_STATE_SUCCEEDED", "segments": 5, "vectors": 10}
    assert len(result["hits"]) == 3
    assert all(h["camera_id"] == "cam-node" for h in result["hits"])
    assert all(int(h["start"]) >= int(START.timestamp()) for h in result["hits"])
    assert result["bad_request"]["code"] == 3  # INVALID_ARGUMENT
    assert "empty" in result["bad_request"]["details"]
