"""What a SwitchModel request may name: a server folder by absolute path, or an open_clip name and tag."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.api.model_admin import model_spec_arg
from services.errors import InvalidArgumentError
from vigil.v1 import admin_pb2


def test_a_folder_or_a_name_with_a_tag_is_accepted() -> None:
    assert model_spec_arg(admin_pb2.ModelSpec(path="/models/clip-b32")).path == Path("/models/clip-b32")
    spec = model_spec_arg(admin_pb2.ModelSpec(name="ViT-B-32", pretrained="laion2b_s34b_b79k"))
    assert (spec.name, spec.pretrained, spec.path) == ("ViT-B-32", "laion2b_s34b_b79k", None)


@pytest.mark.parametrize("spec", [
    admin_pb2.ModelSpec(),
    admin_pb2.ModelSpec(path="models/relative"),
    admin_pb2.ModelSpec(path="/models/x", name="ViT-B-32"),
    admin_pb2.ModelSpec(name="ViT-B-32", pretrained="/tmp/evil.pt"),  # a checkpoint file: torch.load
    admin_pb2.ModelSpec(name="../../etc"),
])
def test_anything_else_is_refused(spec: admin_pb2.ModelSpec) -> None:
    with pytest.raises(InvalidArgumentError):
        model_spec_arg(spec)
