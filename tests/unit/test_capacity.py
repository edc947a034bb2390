"""`vigil capacity`: the sizing an operator reads, from constants that are the measured ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services import cli
from services.cluster import capacity
from services.cluster.capacity import Deployment, plan

ROOT = Path(__file__).resolve().parents[2]


def test_the_constants_are_those_the_scale_benchmark_measured() -> None:
    measured = json.loads((ROOT / capacity.MEASURED_FROM).read_text())["results"]
    for constant, name in [(capacity.RAM_BYTES_PER_VECTOR, "ram_bytes_per_vector_1_node_heap"),
                           (capacity.DISK_BYTES_PER_VECTOR, "disk_bytes_per_vector"),
                           (capacity.BUCKET_BYTES_PER_VECTOR, "bucket_bytes_per_vector")]:
        assert abs(constant / measured[name] - 1) <= 0.01, (name, constant, measured[name])


def test_a_city_needs_nodes_for_its_ram_and_at_least_its_replicas() -> None:
    city = plan(Deployment(cameras=20_000, days=30, interval_s=5, replicas=2, node_ram_gib=64))
    assert city.keyframes == 20_000 * 30 * 86_400 // 5 == city.vectors
    assert city.ram_bytes == pytest.approx(city.vectors * capacity.RAM_BYTES_PER_VECTOR * 2, rel=1e-6)
    assert city.nodes == max(city.nodes_for_ram, city.nodes_for_disk) > 2
    assert city.ram_bytes / city.nodes <= 32 * 1024 ** 3  # half of each node's RAM
    small = plan(Deployment(cameras=10, days=7, interval_s=10, replicas=2))
    assert small.nodes == 2  # the replicas, though the RAM fits one node
    regions = plan(Deployment(cameras=10, days=7, interval_s=10, vectors_per_keyframe=6, replicas=2))
    assert regions.vectors == 6 * small.vectors and regions.bucket_video_bytes == 0


def test_bad_figures_are_refused_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="interval_s must be above 0"):
        Deployment(cameras=10, days=1, interval_s=0)
    assert cli.main(["capacity", "--cameras", "100", "--days", "7", "--interval", "-2"]) == 2
    assert "interval_s must be above 0, got -2" in capsys.readouterr().err
    assert cli.main(["capacity", "--cameras", "1000", "--days", "30", "--interval", "5",
                     "--video-kbps", "1000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1,000 cameras × 30 days, a keyframe every 5 s: 518,400,000 keyframes")
    assert "nodes: " in out and "video 301.7 GiB" not in out and "GiB at 1000 kbit/s per camera" in out
