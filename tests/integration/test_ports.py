"""A node's listening ports: a second `vigil serve` on a host says which port is taken and which
setting to change, before starting anything; gRPC never shares its port with another server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import VIGIL, cli_env


@pytest.fixture()
def taken() -> Iterator[int]:
    """A loopback port held by a listener that allows SO_REUSEPORT (as a gRPC server's did)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.integration
def test_the_grpc_server_does_not_share_a_port_another_server_listens_on(node: object, taken: int) -> None:
    """With gRPC's default SO_REUSEPORT a second node bound the same port and the kernel split the
    clients' connections between the two."""
    from services.api.server import create_server
    from services.node.ports import PortInUseError

    with pytest.raises(PortInUseError, match=rf"127\.0\.0\.1:{taken} for gRPC.*server\.port"):
        asyncio.run(create_server(node, f"127.0.0.1:{taken}"))  # type: ignore[arg-type]


@pytest.mark.integration
@pytest.mark.parametrize("variable", ["VIGIL_SERVER__PORT", "VIGIL_SERVER__METRICS_PORT",
                                      "VIGIL_CONSOLE__PORT"])
def test_vigil_serve_on_a_taken_port_names_it_and_starts_nothing(tmp_path: Path, random_model_dir: Path,
                                                                  taken: int, variable: str) -> None:
    env = {**cli_env(tmp_path / "data", random_model_dir), variable: str(taken)}
    proc = subprocess.run([*VIGIL, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"127.0.0.1:{taken}" in proc.stderr and variable in proc.stderr and "in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "s3").exists()  # no object store (nor Ray, tokens) was started
