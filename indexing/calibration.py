"""Values calibrated for one model's vectors: they travel with the model, not with global settings.

A local model folder may hold `vigil_calibration.json` (Vigil's bundled model does):

    {"min_score": 0.11, "dedup_cosine": 0.999}

- `min_score`: search drops hits scoring (cosine) below it and reports "no good match" when
  nothing passes. A model without a calibration has **no threshold**: every hit is returned,
  ranked. Cosine scales differ from model to model (a score that is a good match for one is
  noise for another), so any number guessed for an unknown model would silently drop good hits
  or keep bad ones; ranking without a cut is the honest answer until someone calibrates it.
- `dedup_cosine`: ingest stores a static camera's consecutive keyframes whose vectors stay at
  least this similar once, as one span (`indexing.dedup`); a model with an appearance tower is
  compared over CLIP's part of its vectors (`ClipEmbedder.same_scene`). A model without a calibration has
  dedup **off**: every keyframe is kept (merging needs a threshold known to separate "same
  scene" from "something moved" for that model; keeping everything loses nothing).

Settings override a model's values (`search.min_score`, `ingest.dedup_cosine`; see
`Calibration.overridden`). Models named by architecture and pretrained tag have no folder and
so no calibration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

CALIBRATION_FILE = "vigil_calibration.json"
Off = Literal["off"]  # a setting that turns a calibrated behaviour off


class CalibrationError(ValueError):
    """A model's calibration file is unreadable or holds a value out of range."""


@dataclass(frozen=True)
class Calibration:
    min_score: float | None = None  # None: no score threshold
    dedup_cosine: float | None = None  # None: no dedup

    def __post_init__(self) -> None:
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise CalibrationError(f"min_score {self.min_score} is outside [-1, 1]")
        if self.dedup_cosine is not None and not 0.0 < self.dedup_cosine <= 1.0:
            raise CalibrationError(f"dedup_cosine {self.dedup_cosine} is outside (0, 1]")

    @classmethod
    def from_json(cls, data: bytes | str, source: str = CALIBRATION_FILE) -> Calibration:
        """Parse a calibration file's text; `CalibrationError` naming `source` if it is not one."""
        try:
            raw: Any = json.loads(data)
        except ValueError as exc:
            raise CalibrationError(f"{source} is not JSON: {exc}") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - known:
            raise CalibrationError(f"{source} must be an object with only {sorted(known)}")
        if any(v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
               for v in raw.values()):
            raise CalibrationError(f"{source}: every value must be a number or null")
        try:
            return cls(**{k: None if v is None else float(v) for k, v in raw.items()})
        except CalibrationError as exc:
            raise CalibrationError(f"{source}: {exc}") from None

    @classmethod
    def of_folder(cls, folder: Path) -> Calibration:
        """The calibration a model folder ships; an uncalibrated one (`Calibration()`) if none."""
        path = folder / CALIBRATION_FILE
        if not path.is_file():
            return cls()
        return cls.from_json(path.read_bytes(), str(path))

    def overridden(self, min_score: float | None, dedup_cosine: float | Off | None) -> Calibration:
        """These values with the settings' overrides applied: None keeps the model's value, a
        number replaces it, "off" turns dedup off."""
        changes: dict[str, float | None] = {}
        if min_score is not None:
            changes["min_score"] = min_score
        if dedup_cosine is not None:
            changes["dedup_cosine"] = None if dedup_cosine == "off" else dedup_cosine
        return replace(self, **changes)
