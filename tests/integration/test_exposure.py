"""What a fresh `vigil serve` exposes on the host: every socket of the server, of its SeaweedFS
and of every Ray process it started is on loopback; Ray's token is private and required; and
`vigil doctor` on the same data folder finds nothing to fail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.security.listeners import PROC, Listener, node_processes, process_listeners, processes
from services.security.ray_auth import write_local_token
from tests.served import VIGIL, Served, cli_env

GCS_CALL = "/ray.rpc.NodeInfoGcsService/GetClusterId"  # what every Ray process asks the GCS first
JOIN_WITHOUT_AUTH = """
from ray.cluster_utils import Cluster
from services.cluster.ray_cluster import start_ray
from services.security.ray_auth import RayAuthError
from services.settings import RaySettings
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
try:
    start_ray(RaySettings(address=cluster.address))
except RayAuthError as exc:
    print("REFUSED", exc)
finally:
    cluster.shutdown()
"""


class Node:
    def __init__(self, served: Served, env: dict[str, str], data_dir: Path) -> None:
        self.served, self.env, self.data_dir = served, env, data_dir

    def pids(self) -> set[int]:
        """The server and every process it started, by parent links (not by doctor's heuristics)."""
        table = processes()
        found, grew = {self.served.proc.pid}, True
        while grew:
            more = {pid for pid, p in table.items() if p.ppid in found} - found
            found |= more
            grew = bool(more)
        return found

    def listeners(self) -> list[Listener]:
        return process_listeners(self.pids())


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory, random_model_dir: Path) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("exposed") / "data"  # a first start: vigil serve creates it
    env = cli_env(data_dir, random_model_dir)
    served = Served(env, tmp_path_factory.mktemp("exposed-logs") / "serve.log")
    try:
        served.run(env, "status")  # one audited request: the audit chain gets its anchor
        yield Node(served, env, data_dir)
    finally:
        served.stop(signal.SIGTERM)


def _names(listeners: list[Listener]) -> set[str]:
    return {x.process for x in listeners}


def test_every_socket_of_the_server_its_seaweedfs_and_its_ray_cluster_is_on_loopback(exposed: Node) -> None:
    pids = exposed.pids()
    session = re.compile(rf"/session_[0-9_-]+_{exposed.served.proc.pid}(/|$)")  # Ray's, named by its driver
    of_session = {p.pid for p in processes().values() if any(session.search(a) for a in p.argv)}
    assert of_session and of_session <= pids, "a Ray process of this server is not among its descendants"
    listeners = exposed.listeners()
    assert {"gcs_server", "raylet", "weed"} <= _names(listeners), listeners  # Ray's and S3's were seen
    assert any(x.process.startswith("ray::") for x in listeners), listeners  # and a worker's
    exposed = [str(x) for x in listeners if not x.loopback]
    assert not exposed, f"listening off loopback: {exposed}"


def test_doctor_finds_every_process_of_the_node(exposed: Node) -> None:
    serve, pids = node_processes(exposed.data_dir)
    assert serve == {exposed.served.proc.pid}
    assert exposed.pids() <= pids


def test_the_ray_token_is_private_and_on_no_command_line(exposed: Node) -> None:
    token_file = exposed.data_dir / "ray-auth-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text()
    for pid in exposed.pids():
        argv = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace")
        assert token not in argv, f"the Ray token is on the command line of pid {pid}"
    raylet = next(x.pid for x in exposed.listeners() if x.process == "raylet")
    environ = (PROC / str(raylet) / "environ").read_bytes().decode().split("\0")
    assert f"RAY_AUTH_TOKEN_PATH={token_file}" in environ and "RAY_AUTH_MODE=token" in environ
    assert not any(item.startswith("RAY_AUTH_TOKEN=") for item in environ)


def test_ray_refuses_a_caller_without_the_token(exposed: Node) -> None:
    gcs = next(x for x in exposed.listeners() if x.process == "gcs_server")
    token = (exposed.data_dir / "ray-auth-token").read_text()
    with grpc.insecure_channel(f"127.0.0.1:{gcs.port}") as channel:
        call = channel.unary_unary(GCS_CALL)
        for metadata in ((), (("authorization", "Bearer " + "0" * 64),)):
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert call(b"", metadata=(("authorization", f"Bearer {token}"),), timeout=30) is not None


def test_vigil_doctor_on_the_served_data_folder_finds_no_fail(exposed: Node) -> None:
    anchor = exposed.data_dir / "audit-anchor.json"
    deadline = time.monotonic() + 30
    while not anchor.exists() and time.monotonic() < deadline:  # shipped within a second
        time.sleep(0.2)
    proc = subprocess.run([*VIGIL, "doctor"], env=exposed.env, capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and not [line for line in lines if line.startswith("FAIL")], proc.stdout
    [listening] = [line for line in lines if line.split()[1:2] == ["listening"]]
    assert listening.startswith("OK") and "sockets on loopback only" in listening
    assert int(listening.split()[2]) >= len(exposed.listeners())  # it saw the running server's sockets
    assert any(line.startswith("OK    audit anchor") for line in lines), proc.stdout


@pytest.mark.timeout(300)
def test_joining_a_ray_cluster_without_token_auth_is_refused_saying_how_to_fix_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}  # a cluster with auth off
    env["RAY_AUTH_TOKEN_PATH"] = str(write_local_token(tmp_path))  # which Vigil holds a token for
    out = subprocess.run([sys.executable, "-c", JOIN_WITHOUT_AUTH], env=env, capture_output=True,
                         text=True, timeout=280).stdout
    assert "REFUSED" in out and "without token authentication" in out and "RAY_AUTH_MODE=token" in out, out
