"""Which frames of a video are indexed (`indexing.keyframes.FramePlan`): keyframes thinned to one
per interval, frames between keyframes where a GOP is long, and how long each one stands."""

from __future__ import annotations

import pytest

from indexing.keyframes import FramePlan
from services.settings import ConfigError, IngestSettings, load_settings


def test_a_city_cameras_two_second_gop_is_indexed_keyframe_by_keyframe() -> None:
    plan = FramePlan.of([0.0, 2.0, 4.0, 6.0], 8.0, 1.0, 4.0)
    assert (plan.keyframes_s, plan.between_s) == ((0.0, 2.0, 4.0, 6.0), ())
    assert [plan.end_s(t) for t in plan.times_s] == [2.0, 4.0, 6.0, 8.0]


def test_an_all_intra_stream_keeps_one_keyframe_per_interval() -> None:
    plan = FramePlan.of([i / 25 for i in range(100)], 4.0, 1.0, 4.0)
    assert plan.keyframes_s == pytest.approx((0.0, 1.0, 2.0, 3.0)) and plan.between_s == ()
    assert len(FramePlan.of([i / 25 for i in range(100)], 4.0, 0.0, 4.0).keyframes_s) == 100  # 0: all


def test_a_long_gop_is_split_evenly_up_to_the_next_keyframe_and_the_end() -> None:
    plan = FramePlan.of([0.0, 10.0], 15.0, 1.0, 4.0)
    assert plan.between_s == pytest.approx((10 / 3, 20 / 3, 12.5))
    assert plan.times_s == pytest.approx((0.0, 10 / 3, 20 / 3, 10.0, 12.5))
    assert plan.end_s(3.36) == pytest.approx(20 / 3)  # a frame just after its planned time
    assert plan.end_s(12.52) == 15.0
    assert FramePlan.of([0.0, 10.0], 15.0, 1.0, 0.0).between_s == ()  # 0: keyframes only


def test_a_gap_setting_below_the_interval_is_refused_with_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IngestSettings(frame_interval_s=2, max_frame_gap_s=0).max_frame_gap_s == 0
    monkeypatch.setenv("VIGIL_INGEST__MAX_FRAME_GAP_S", "0.5")
    with pytest.raises(ConfigError, match=r"max_frame_gap_s.*frame_interval_s"):
        load_settings(None)
