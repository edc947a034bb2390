"""Generate the Python gRPC code from protos/vigil/v1/*.proto (run by `make protos`).

The output is committed beside the .proto files and imports as `vigil.v1`;
a test regenerates into a temporary folder and fails if the committed code is stale.
Typed stubs come with it: protoc's `*_pb2.pyi` for the messages, mypy-protobuf's
`*_pb2_grpc.pyi` for the service stubs and servicers (mypy --strict checks their callers).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[2] / "protos"


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((root / "vigil" / "v1").glob("*.proto"))


def generate(out_dir: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc (grpcio-tools) on every proto; returns the generated files."""
    from grpc_tools import protoc

    include = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(root)) for p in proto_files(root)]
    grpc_stubs = Path(sys.executable).parent / "protoc-gen-mypy_grpc"  # from mypy-protobuf (dev)
    args = ["protoc", f"-I{root}", f"-I{include}", f"--python_out={out_dir}",
            f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}",
            f"--plugin=protoc-gen-mypy_grpc={grpc_stubs}", f"--mypy_grpc_out={out_dir}", *files]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {files}")
    return sorted(p for p in (out_dir / "vigil" / "v1").glob("*_pb2*.py*"))


def main() -> None:
    generated = generate(PROTO_ROOT)
    print(f"generated {len(generated)} files under {PROTO_ROOT / 'vigil' / 'v1'}", file=sys.stderr)


if __name__ == "__main__":
    main()
