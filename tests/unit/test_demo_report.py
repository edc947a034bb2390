"""The demo's contact sheet: a region hit shows its box on the thumbnail; a whole-frame hit none."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.api.client import Hit
from services.demo.report import LABEL_W, THUMB_H, THUMB_W, QueryResult, contact_sheet


def _hit(box: tuple[float, float, float, float] | None) -> Hit:
    t = datetime(2026, 11, 20, 14, 40, tzinfo=UTC)
    return Hit("cam-pho-w1", t, t, t, 0.5, "seg", "thumb", 1, t, t, box)


@pytest.mark.unit
def test_contact_sheet_draws_a_region_hits_box(tmp_path: Path) -> None:
    grey = io.BytesIO()
    Image.new("RGB", (320, 180), (90, 90, 90)).save(grey, format="JPEG")
    hits = [_hit((0.5, 0.5, 0.75, 1.0)), _hit(None)]
    contact_sheet([QueryResult("photo", hits, [grey.getvalue()] * 2, [True, False])], tmp_path / "s.png")
    sheet = np.asarray(Image.open(tmp_path / "s.png").convert("RGB")).astype(int)
    yellow = (sheet[..., 0] > 200) & (sheet[..., 1] > 200) & (sheet[..., 2] < 80)
    first = yellow[10:10 + THUMB_H, LABEL_W:LABEL_W + THUMB_W]
    ys, xs = np.nonzero(first)
    assert xs.min() == pytest.approx(THUMB_W / 2, abs=2) and ys.min() == pytest.approx(THUMB_H / 2, abs=2)
    second = LABEL_W + THUMB_W + 10
    assert not yellow[10:10 + THUMB_H, second:second + THUMB_W].any()
