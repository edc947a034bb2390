"""The ingest benchmark's bound on any pipeline where the stages share the machine's cores."""

from __future__ import annotations

import pytest

from benchmarks.ingest import machine_bound


def test_stages_sharing_two_cores_bound_the_pipeline_below_its_slowest_stage() -> None:
    alone = {"decode alone": 1.5, "embed alone": 1.2, "store alone": 2.3}  # seconds for 300 keyframes
    busy = {"decode alone": 1.0, "embed alone": 1.0, "store alone": 2.0}  # cores busy meanwhile
    # 7.3 core-seconds of work on 2 cores: 3.65 s, slower than storing alone (2.3 s)
    assert machine_bound(300, alone, busy, cores=2) == pytest.approx(300 / 3.65)


def test_a_slow_stage_on_one_core_is_the_bound_when_the_cores_have_room() -> None:
    alone = {"decode alone": 3.0, "embed alone": 0.3, "store alone": 0.3}
    busy = {"decode alone": 1.0, "embed alone": 1.0, "store alone": 1.0}
    assert machine_bound(300, alone, busy, cores=2) == pytest.approx(100.0)
