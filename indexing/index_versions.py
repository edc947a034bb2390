"""Which index version every front end serves: one small record in the bucket (`index/active.json`).

An index version is named by the model that produced its vectors
(`ModelSpec.model_id`, which hashes a local model's weights). The record also
says how to load that model, which version it replaced, and the model's calibrated values
(`indexing.calibration`, as its folder held them when the version became active; records
written before carry none). Writing the record is the switch: one PUT, atomic in S3; front
ends follow it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from indexing.calibration import Calibration
from indexing.embedder import ModelSpec
from storage import keys
from storage.errors import ObjectNotFoundError
from storage.object_store import ObjectStore


@dataclass(frozen=True)
class IndexVersion:
    model_id: str
    name: str
    pretrained: str | None = None
    path: str | None = None  # a local model folder: the same path on every front end
    previous: str | None = None  # the version this one replaced
    switched_ms: int = 0  # when it became active (0: the first version of the bucket)
    min_score: float | None = None  # the model's calibration (None: uncalibrated)
    dedup_cosine: float | None = None

    @classmethod
    def of(cls, spec: ModelSpec, previous: str | None = None, switched_ms: int = 0) -> IndexVersion:
        c = spec.calibration
        return cls(spec.model_id, spec.name, spec.pretrained, str(spec.path) if spec.path else None,
                   previous, switched_ms, c.min_score, c.dedup_cosine)

    @property
    def calibration(self) -> Calibration:
        return Calibration(self.min_score, self.dedup_cosine)

    def spec(self) -> ModelSpec:
        return ModelSpec(self.name, self.pretrained, Path(self.path) if self.path else None)


class ActiveVersion:
    """The record naming the active index version."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def get(self) -> IndexVersion | None:
        try:
            return IndexVersion(**json.loads(self._store.get_bytes(keys.ACTIVE_INDEX_KEY)))
        except ObjectNotFoundError:
            return None

    def put(self, version: IndexVersion) -> None:
        self._store.put_bytes(keys.ACTIVE_INDEX_KEY, json.dumps(asdict(version)).encode(), "application/json")
