"""Model switching over the API: the requested model, checked, and the status message."""

from __future__ import annotations

import re
from pathlib import Path

from indexing.embedder import ModelSpec
from indexing.index_versions import IndexVersion
from services.errors import InvalidArgumentError
from services.index.model_switch import ModelStatus
from vigil.v1 import admin_pb2

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch only
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # a tag, never a file: no pickles from paths
MAX_PATH = 1000


def model_spec_arg(m: admin_pb2.ModelSpec) -> ModelSpec:
    """A model folder (absolute path on the server), or an open_clip name with a pretrained tag."""
    if m.path:
        if m.name or m.pretrained:
            raise InvalidArgumentError("give a model path, or a name (and pretrained tag), not both")
        if len(m.path) > MAX_PATH or "\x00" in m.path or not Path(m.path).is_absolute():
            raise InvalidArgumentError("model path must be an absolute folder path on the server")
        return ModelSpec(path=Path(m.path))
    if not _NAME.fullmatch(m.name):
        raise InvalidArgumentError("give a model path or name (letters, digits, '.', '_', '-')")
    if m.pretrained and not _TAG.fullmatch(m.pretrained):
        raise InvalidArgumentError("pretrained must be an open_clip tag (letters, digits, '.', '_', '-')")
    return ModelSpec(name=m.name, pretrained=m.pretrained or None)


def model_status_message(s: ModelStatus) -> admin_pb2.ModelStatus:
    p, active = s.progress, s.active
    return admin_pb2.ModelStatus(
        active_model_id=active.model_id if active else "", active_model=_spec_message(active),
        previous_model_id=(active.previous or "") if active else "", serving_model_id=s.serving_model_id,
        state=p.state.value, target_model_id=p.target_model_id, frames_total=p.frames_total,
        frames_indexed=p.frames_indexed, frames_skipped=p.frames_skipped, error=p.error)


def _spec_message(v: IndexVersion | None) -> admin_pb2.ModelSpec:
    if v is None:
        return admin_pb2.ModelSpec()
    return admin_pb2.ModelSpec(name=v.name, pretrained=v.pretrained or "", path=v.path or "")
