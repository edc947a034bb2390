"""Unit tests start nothing: no Ray cluster, no S3 server. Pure logic runs on
`services.cluster.local.LocalCluster` and `tests.memory_store.MemoryStore`."""

from __future__ import annotations

from typing import NoReturn

import pytest
import ray

from storage.seaweed import EmbeddedSeaweed


def _refused(*args: object, **kwargs: object) -> NoReturn:
    raise RuntimeError("unit tests start no Ray cluster and no server: use LocalCluster and MemoryStore, "
                       "or move the test to tests/integration")


@pytest.fixture(autouse=True)
def no_ray_no_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "init", _refused)
    monkeypatch.setattr(EmbeddedSeaweed, "start", _refused)
