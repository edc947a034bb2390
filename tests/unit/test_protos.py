"""The committed generated gRPC code must match the .proto files (run `make protos`)."""

from __future__ import annotations

from pathlib import Path

from services.api.codegen import PROTO_ROOT, generate


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "protoc generated nothing"
    for path in fresh:
        committed = PROTO_ROOT / path.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} is missing: run `make protos`"
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run `make protos`"
