from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.retrieval_quality import Span, score
from services.api.client import Hit

T0 = datetime(2026, 11, 21, tzinfo=UTC)


def _hit(camera: str, start_s: int, end_s: int, best_s: int | None = None) -> Hit:
    s, e = T0 + timedelta(seconds=start_s), T0 + timedelta(seconds=end_s)
    best = T0 + timedelta(seconds=start_s if best_s is None else best_s)
    return Hit(camera, s, e, best, 0.5, "seg", "thumb", 1, s, e)


def test_recall_and_average_precision_follow_the_ranks() -> None:
    relevant = (Span("a", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)),
                Span("b", T0, T0 + timedelta(seconds=5)))
    hits = [_hit("a", 30, 40), _hit("a", 12, 14), _hit("a", 15, 16), _hit("b", 0, 2)]
    s = score(hits, relevant)
    assert (s["R@1"], s["R@5"], s["R@10"]) == (0.0, 1.0, 1.0)
    # relevant at ranks 2 and 4 (rank 3 repeats span "a"): AP = (1/2 + 2/4) / 2
    assert s["mAP@10"] == 0.5


def test_a_long_clip_counts_only_if_its_best_frame_shows_the_event() -> None:
    relevant = (Span("a", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)),)
    assert score([_hit("a", 0, 60, best_s=40)], relevant)["R@1"] == 0.0
    assert score([_hit("a", 0, 60, best_s=14)], relevant)["R@1"] == 1.0


def test_nothing_relevant_scores_zero() -> None:
    s = score([_hit("c", 0, 5)], (Span("a", T0, T0 + timedelta(seconds=5)),))
    assert s == {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "mAP@10": 0.0}


def test_a_rank1_interval_contains_the_draw_and_narrows_with_more_queries() -> None:
    from benchmarks._wide_views import wilson_interval

    lo, hi = wilson_interval(60, 115)
    assert lo < 60 / 115 < hi and (round(lo, 2), round(hi, 2)) == (0.43, 0.61)
    wide, narrow = wilson_interval(6, 10), wilson_interval(600, 1000)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 0) == [0.0, 1.0]
