from __future__ import annotations

import numpy as np
import pytest

from benchmarks.alert_rules import alerts_of
from benchmarks.alerts import Visit, score


def _z(seconds: list[float], scores: list[float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"cam": (np.array(seconds), np.array(scores))}


def test_any_frame_alerts_once_per_fold_window() -> None:
    z = _z([0, 2, 4, 30, 32], [3.0, 3.0, 0.0, 3.0, 3.0])
    assert alerts_of(z, 2.0, 1, 0.0, 20.0) == [("cam", 0.0), ("cam", 30.0)]


def test_two_frames_rule_waits_for_a_second_frame_close_enough() -> None:
    z = _z([0, 10, 12, 30], [3.0, 3.0, 3.0, 3.0])  # 0 and 30 stand alone; 10 and 12 are 2 s apart
    assert alerts_of(z, 2.0, 2, 4.5, 20.0) == [("cam", 12.0)]


def test_a_frame_with_a_region_over_the_threshold_counts_once() -> None:
    z = _z([0, 0, 0], [3.0, 2.5, 0.1])  # the frame and two of its regions
    assert alerts_of(z, 2.0, 2, 4.5, 20.0) == []


def test_score_counts_alerts_in_relevant_visits_and_on_other_bicycles() -> None:
    visits = [Visit("cam", 10, 21, True, "carried"), Visit("cam", 50, 61, False, "pushed")]
    s = score("photo", [("cam", 12.0), ("cam", 55.0), ("cam", 90.0)], visits)
    assert (s["recall"], s["alerts"], s["false_alerts_on_other_bicycles"], s["false_alerts_elsewhere"]) == \
        (1.0, 3, 1, 1)
    assert s["precision"] == pytest.approx(1 / 3)
    assert [where for _, _, where in s["false_alerts"]] == ["other bicycle", "elsewhere"]
