"""Shared fixtures. Integration fixtures start real servers once per session:
SeaweedFS (S3) on loopback, a Ray cluster, and Vigil's gRPC server on port 0."""

from __future__ import annotations

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
        ingest={"segment_seconds": 4.0,  # random weights see every frame alike: dedup off
                "dedup_cosine": "off",
                "regions": "off"},  # one vector per keyframe (test_dedup_ingest runs with regions)
        server={"port": 0, "metrics_port": 0},
        search={"min_score": -1.0},  # random weights: no calibrated threshold
        # The scoping matrix calls hundreds of RPCs a second as one '*' admin from 127.0.0.1; on a
        # fast machine that outruns the production limits. The limiters have their own tests
        # (tests/unit/test_interceptor_limits.py), so the shared server's are set out of reach.
        auth={"rate_per_s": 100_000.0, "burst": 100_000,
              "peer_rate_per_s": 100_000.0, "peer_burst": 100_000},
        fetch={"ingest_allow": ["127.0.0.3/32"],  # IngestUri tests serve from 127.0.0.3 only
               "camera_allow": ["127.0.0.1/32"]},  # live tests stream from 127.0.0.1
    )


@pytest.fixture(scope="session")
def node(settings: object) -> Iterator[object]:
    from services.node.app import Vigil

    with Vigil(settings) as vigil:  # type: ignore[arg-type]
        yield vigil


@pytest.fixture(scope="session")
def server(node: object) -> Iterator[object]:
    from services.api.server import BackgroundServer

    with BackgroundServer(node) as running:  # type: ignore[arg-type]
        yield running


@pytest.fixture(scope="session")
def admin_token(node: object) -> str:
    from services.security.auth import ALL_GROUPS, Role

    return node.tokens.create("test-admin", Role.ADMIN, [ALL_GROUPS])  # type: ignore[attr-defined]


@pytest.fixture()
def client(server: object, admin_token: str) -> Iterator[object]:
    from services.api.client import VigilClient

    with VigilClient(server.address, admin_token) as c:  # type: ignore[attr-defined]
        yield c


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/unit → unit, tests/integration → integration."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for kind in ("unit", "integration"):
            if kind in parts:
                item.add_marker(getattr(pytest.mark, kind))
