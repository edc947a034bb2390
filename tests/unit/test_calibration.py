"""Values calibrated for a model travel with its folder; settings override them, one by one."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexing.calibration import CALIBRATION_FILE, Calibration, CalibrationError
from indexing.index_versions import IndexVersion
from indexing.models.configs import VIGIL_TINY_DIR
from services.settings import Settings

BUNDLED = Calibration(min_score=0.11, dedup_cosine=0.999)


def test_the_bundled_model_ships_its_calibration() -> None:
    assert Calibration.of_folder(VIGIL_TINY_DIR) == BUNDLED


def test_a_folder_without_calibration_has_no_threshold_and_no_dedup(tmp_path: Path) -> None:
    assert Calibration.of_folder(tmp_path) == Calibration(min_score=None, dedup_cosine=None)


@pytest.mark.parametrize("text", ['{"min_score": 2}', '{"dedup_cosine": 0}', '{"min_score": "0.2"}',
                                  '{"threshold": 0.2}', "[0.2]", "not json"])
def test_a_bad_calibration_file_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / CALIBRATION_FILE).write_text(text)
    with pytest.raises(CalibrationError, match=CALIBRATION_FILE):
        Calibration.of_folder(tmp_path)


def test_settings_override_the_model_only_where_they_are_set() -> None:
    assert Settings().calibrated(BUNDLED) == BUNDLED
    assert Settings(search={"min_score": -1.0}).calibrated(BUNDLED) == Calibration(-1.0, 0.999)
    assert Settings(ingest={"dedup_cosine": 0.99}).calibrated(Calibration()) == Calibration(None, 0.99)
    assert Settings(ingest={"dedup_cosine": "off"}).calibrated(BUNDLED) == Calibration(0.11, None)


def test_the_index_version_record_describes_the_models_calibration() -> None:
    from indexing.embedder import ModelSpec

    version = IndexVersion.of(ModelSpec(path=VIGIL_TINY_DIR))
    assert version.calibration == BUNDLED
    assert IndexVersion("m", "name").calibration == Calibration()  # a record written before
