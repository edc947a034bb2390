"""Shared fixtures. Integration fixtures start real servers once per session:
SeaweedFS (S3) on loopback, a Ray cluster, and Vigil's gRPC server on port 0."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

TINY_CFG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 128, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 2},
}


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small open_clip model with seeded random weights, in open_clip's local-dir format."""
    import torch

    from indexing.clip_model import new_clip, save_clip

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("random-model")
    save_clip(new_clip(TINY_CFG, {"size": 64, "resize_mode": "squash"}), out)
    return out


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.media import make_video

    return make_video(tmp_path_factory.mktemp("media") / "scenes.mp4")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real SeaweedFS S3 server on 127.0.0.1 for the whole session."""
    from storage.seaweed import EmbeddedSeaweed

    server = EmbeddedSeaweed(tmp_path_factory.mktemp("seaweed"), bucket="vigil-test")
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: object,
             random_model_dir: Path) -> object:
    from services.settings import Settings

    ep = s3_endpoint
    return Settings(
        data_dir=tmp_path_factory.mktemp("vigil-data"),
        storage={"endpoint": ep.endpoint, "access_key": ep.access_key,  # type: ignore[attr-defined]
                 "secret_key": ep.secret_key, "bucket": ep.bucket},  # type: ignore[attr-defined]
        model={"path": random_model_dir},
        ray={"num_cpus": 2, "embed_batch": 8},
        ingest={"segment_seconds": 4.0},
        server={"port": 0},
        search={"min_score": -1.0},  # random weights: no calibrated threshold
    )


class RunningServer:
    """A gRPC server running on its own event loop in a background thread."""

    def __init__(self, node: object) -> None:
        self.node = node
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server, self.port = self._call(self._create())
        self._call(self.server.start())

    async def _create(self) -> tuple[object, int]:
        from services.api.server import create_server

        return await create_server(self.node, "127.0.0.1:0")

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)  # type: ignore[arg-type]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._call(self.server.stop(1))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def node(settings: object) -> Iterator[object]:
    from services.app import Vigil

    vigil = Vigil(settings)  # type: ignore[arg-type]
    vigil.start()
    yield vigil
    vigil.stop()


@pytest.fixture(scope="session")
def server(node: object) -> Iterator[RunningServer]:
    running = RunningServer(node)
    yield running
    running.stop()


@pytest.fixture()
def client(server: RunningServer) -> Iterator[object]:
    from services.api.client import VigilClient

    with VigilClient(server.address) as c:
        yield c


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/unit → unit, tests/integration → integration."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for kind in ("unit", "integration"):
            if kind in parts:
                item.add_marker(getattr(pytest.mark, kind))
