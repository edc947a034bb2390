"""Where embedder actors run the model (`ray.embed_device`): on a GPU when the cluster has one
and the choice allows it, each actor asking Ray for a GPU or an equal share of the GPUs."""

from __future__ import annotations

import pytest

from indexing.errors import ModelUnavailableError
from services.cluster.embedders import Placement, placement
from services.settings import RaySettings


def test_auto_uses_a_gpu_only_when_the_cluster_has_one() -> None:
    assert placement("auto", 0.0, 2) == Placement("cpu", 0.0)
    assert placement("auto", 1.0, 1) == Placement("cuda", 1.0)


def test_cuda_gives_each_actor_a_whole_gpu_or_an_equal_share() -> None:
    assert placement("cuda", 4.0, 2) == Placement("cuda", 1.0)
    assert placement("cuda", 1.0, 2) == Placement("cuda", 0.5)
    assert placement("cuda", 1.0, 3).gpus_per_worker == 0.3333  # Ray takes 4 decimals; never more than 1 GPU


def test_cpu_is_kept_even_with_gpus() -> None:
    assert placement("cpu", 8.0, 2) == Placement("cpu", 0.0)


def test_cuda_without_a_gpu_is_refused_with_the_setting_named() -> None:
    with pytest.raises(ModelUnavailableError, match=r"ray\.embed_device"):
        placement("cuda", 0.0, 1)


def test_the_setting_defaults_to_auto_and_refuses_other_devices() -> None:
    assert RaySettings().embed_device == "auto"
    with pytest.raises(ValueError, match="embed_device"):
        RaySettings(embed_device="tpu")  # type: ignore[arg-type]
